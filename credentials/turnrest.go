package credentials

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST API mandates HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reasons a TURN REST credential is refused; they double as metric labels.
var (
	ErrMalformedUsername = errors.New("malformed username")
	ErrExpired           = errors.New("credential expired")
	ErrTooFarAhead       = errors.New("credential expiry beyond the maximum TTL")
)

// MaxUsernameLen is the longest TURN username we issue or accept (RFC 8489
// allows fewer than 513 bytes).
const MaxUsernameLen = 512

// maxIdentityLen bounds the identity carried inside issued usernames so the
// whole username stays under MaxUsernameLen.
const maxIdentityLen = 256

// TURNUser is a parsed TURN REST username: "<expiry unix>:<rest>".
//
// Usernames turnkey issues carry a structured rest,
// "<AccountSID>.<CredID>.<SecretID>.<nonce>[.<base64url identity>]", so
// relays can count per account and identity, refuse credentials whose key
// was revoked, and pick the TURN secret that signed it by its ID (Keyring)
// instead of trying each. Usernames issued before the secret ID existed,
// "<AccountSID>.<CredID>.<nonce>[.<identity>]", parse with an empty
// SecretID; the two forms differ in their third part (SecretIDLen hex
// digits against an 11-character nonce).
// Usernames from other issuers (coturn-style "expiry:alice") are accepted as
// well; their whole rest is the identity. A bare "<expiry>" (what coturn's
// turnutils_uclient -W sends without -u, and coturn accepts) has an empty
// identity.
type TURNUser struct {
	Expiry     time.Time
	Rest       string
	AccountSID string // empty for usernames turnkey did not issue
	CredID     string // the SK key SID or TK auth-token ID that authorised it
	SecretID   string // the ID of the TURN secret that signed it; empty if not carried
	Nonce      string // what makes an issued username unique
	Identity   string
}

// TURNPassword is base64(HMAC-SHA1(secret, username)).
func TURNPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// MintTURN returns a username and password valid until expiry.
func MintTURN(secret []byte, expiry time.Time, rest string) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + rest
	return username, TURNPassword(secret, username)
}

// IssuedRest builds the structured rest of a turnkey-issued username signed
// by the secret with ID secretID. The random nonce makes every issued
// username unique.
func IssuedRest(accountSID, credID, secretID, identity string) (string, error) {
	if !validSID(accountSID, "AC") {
		return "", fmt.Errorf("credentials: account SID %q is malformed", accountSID)
	}
	if !validSID(credID, "SK") && !validSID(credID, "TK") {
		return "", fmt.Errorf("credentials: credential ID %q is malformed", credID)
	}
	if !validSecretID(secretID) {
		return "", fmt.Errorf("credentials: secret ID %q is malformed", secretID)
	}
	if len(identity) > maxIdentityLen {
		return "", fmt.Errorf("credentials: identity is %d bytes; at most %d fit in a TURN username", len(identity), maxIdentityLen)
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("credentials: nonce: %w", err)
	}
	rest := accountSID + "." + credID + "." + secretID + "." + base64.RawURLEncoding.EncodeToString(nonce[:])
	if identity != "" {
		rest += "." + base64.RawURLEncoding.EncodeToString([]byte(identity))
	}
	return rest, nil
}

// ParseTURNUsername splits a username into its parts. It checks the form
// only; CheckExpiry checks the time window.
func ParseTURNUsername(username string) (TURNUser, error) {
	if len(username) == 0 || len(username) > MaxUsernameLen {
		return TURNUser{}, ErrMalformedUsername
	}
	ts, rest, hasRest := strings.Cut(username, ":")
	if (hasRest && rest == "") || len(ts) == 0 || len(ts) > 12 {
		return TURNUser{}, ErrMalformedUsername
	}
	for i := range len(ts) {
		if ts[i] < '0' || ts[i] > '9' {
			return TURNUser{}, ErrMalformedUsername
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return TURNUser{}, ErrMalformedUsername
	}
	u := TURNUser{Expiry: time.Unix(secs, 0), Rest: rest, Identity: rest}
	parts := strings.Split(rest, ".")
	if len(parts) < 3 || len(parts) > 5 || !validSID(parts[0], "AC") ||
		(!validSID(parts[1], "SK") && !validSID(parts[1], "TK")) {
		return u, nil // not issued by turnkey: the whole rest is the identity
	}
	secretID, tail := "", parts[2:]
	if validSecretID(parts[2]) && len(parts) >= 4 {
		secretID, tail = parts[2], parts[3:]
	}
	if len(tail) <= 2 {
		if tail[0] == "" {
			return TURNUser{}, ErrMalformedUsername // issued usernames always carry a nonce
		}
		u.AccountSID, u.CredID, u.SecretID, u.Nonce, u.Identity = parts[0], parts[1], secretID, tail[0], ""
		if len(tail) == 2 {
			id, err := base64.RawURLEncoding.DecodeString(tail[1])
			if err != nil || len(id) == 0 {
				return TURNUser{}, ErrMalformedUsername
			}
			u.Identity = string(id)
		}
	}
	return u, nil
}

// CheckExpiry refuses credentials that have expired, or whose expiry lies
// further ahead than maxTTL (each with skew allowed for clock differences).
func (u TURNUser) CheckExpiry(now time.Time, maxTTL, skew time.Duration) error {
	switch {
	case u.Expiry.Add(skew).Before(now):
		return ErrExpired
	case u.Expiry.After(now.Add(maxTTL + skew)):
		return ErrTooFarAhead
	}
	return nil
}

// QuotaKey names who an allocation counts against: the account and identity
// for issued usernames, the bare user for others. An issued credential
// without an identity (Tokens.json, tokens minted with none) is its own
// identity, keyed by its nonce: otherwise every such credential of an
// account would share one per-identity quota, and the account's quota is
// the tenant's limit.
func (u TURNUser) QuotaKey() string {
	if u.AccountSID != "" {
		if u.Identity == "" {
			return u.AccountSID + "#" + u.Nonce
		}
		return u.AccountSID + "/" + u.Identity
	}
	return "/" + u.Rest
}

func validSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := 2; i < 34; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidSID reports whether s is prefix followed by 32 lowercase hex digits,
// the form of Twilio SIDs.
func ValidSID(s, prefix string) bool { return validSID(s, prefix) }

// validSecretID reports whether s has the form of a SecretID.
func validSecretID(s string) bool {
	if len(s) != SecretIDLen {
		return false
	}
	for i := range len(s) {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}
