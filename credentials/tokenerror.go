package credentials

import (
	"errors"
	"fmt"
)

// Reasons a token is refused. They are stable strings: the HTTP API returns
// them in 401 bodies and uses them as metric labels.
const (
	ReasonMalformed       = "malformed"
	ReasonBadAlg          = "bad_alg"
	ReasonMissingCty      = "missing_cty"
	ReasonBadSignature    = "bad_signature"
	ReasonUnknownKey      = "unknown_key"
	ReasonWrongAccount    = "wrong_account"
	ReasonExpired         = "expired"
	ReasonNotYetValid     = "not_yet_valid"
	ReasonLifetimeTooLong = "lifetime_too_long"
)

// ErrUnknownKey is what a KeyResolver returns for a key SID that does not
// exist (never created, or deleted: deleting a key revokes its tokens).
var ErrUnknownKey = errors.New("unknown API key")

// ErrUnknownAccount is what an AccountResolver returns for an account SID
// that does not exist.
var ErrUnknownAccount = errors.New("unknown account")

// TokenError says why a bearer token was refused. Its message is meant to be
// shown to the token's holder (in a 401 body), so it names claims and SIDs
// but never a secret or the token itself.
//
// Failures that are not the token's fault, such as a resolver that cannot
// reach the store, are returned as ordinary errors instead so callers can
// answer 5xx rather than 401.
type TokenError struct {
	Reason string // one of the Reason* constants
	Err    error
}

func (e *TokenError) Error() string {
	if e.Err == nil {
		return "token rejected: " + e.Reason
	}
	return fmt.Sprintf("token rejected (%s): %v", e.Reason, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// refuse builds a TokenError with a formatted explanation.
func refuse(reason, format string, args ...any) *TokenError {
	return &TokenError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// resolverError marks a resolver failure unrelated to the token, so it can
// travel through the JWT library's keyfunc and be told apart afterwards.
type resolverError struct{ err error }

func (e *resolverError) Error() string { return e.err.Error() }
func (e *resolverError) Unwrap() error { return e.err }
