package tokenapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// principal is who authenticated a request with Basic credentials.
type principal struct {
	AccountSID string
	// CredID goes into issued TURN usernames: the API key SID, or the
	// account's current auth-token ID, so revoking either revokes them.
	CredID string
	// Main: the auth token or a Main key, which may manage keys and accounts.
	Main bool
	// Caller is the account whose credentials were sent; Account the one
	// the request acts on: the same, or a subaccount of Caller when a
	// parent's auth token acts for it (then AccountSID names it too).
	Caller, Account store.Account
}

// viaParent reports whether a parent's credentials act for a subaccount.
func (p principal) viaParent() bool { return p.Caller.SID != p.Account.SID }

// errBadCredentials covers every kind of wrong Basic credential; the client
// is never told which part was wrong.
var errBadCredentials = errors.New("bad credentials")

// dummySecret is compared against when the user is unknown, so an unknown
// SID costs the same comparison as a wrong secret.
const dummySecret = "00000000000000000000000000000000"

// checkBasic verifies Basic credentials against the store. Failures are
// errBadCredentials; anything else is a store error.
func (a *API) checkBasic(ctx context.Context, user, pass string) (principal, error) {
	var cred storedCred
	lookupErr := store.ErrNotFound
	if credentials.ValidSID(user, "AC") || credentials.ValidSID(user, "SK") {
		cred, lookupErr = lookupCred(ctx, a.cfg.Store, user)
	}
	if lookupErr != nil {
		subtle.ConstantTimeCompare([]byte(pass), []byte(dummySecret))
		if errors.Is(lookupErr, store.ErrNotFound) {
			return principal{}, errBadCredentials
		}
		return principal{}, fmt.Errorf("looking up %s: %w", user, lookupErr)
	}
	if !secretMatches(pass, cred.Secret) {
		return principal{}, errBadCredentials
	}
	return principal{AccountSID: cred.AccountSID, CredID: cred.CredID, Main: cred.Main, Caller: cred.Account, Account: cred.Account}, nil
}

// secretMatches compares in constant time; an empty secret matches nothing.
func secretMatches(pass, secret string) bool {
	return secret != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) == 1
}

// authBasic authenticates r for the account in its path (accountSID; "" for
// routes that act on the caller's own account). It writes the refusal and
// returns false when the request must stop: 429 for a source over its
// failure budget, 401 for missing or bad credentials and (as Twilio) for
// valid credentials of another account, 401/20005 when the caller's account
// or the one acted on is suspended or closed, 500 for a store failure.
//
// As Twilio, a parent's auth token (not its API keys) may act on its
// subaccounts' resources.
func (a *API) authBasic(w http.ResponseWriter, r *http.Request, accountSID string) (principal, bool) {
	p, ok := a.authAccount(w, r, accountSID)
	if ok && p.viaParent() && !a.inGoodStanding(w, p.Account) {
		return principal{}, false
	}
	return p, ok
}

// authAccount is authBasic without the standing check of the account acted
// on, for the Account resource: a parent must be able to reactivate a
// suspended subaccount.
func (a *API) authAccount(w http.ResponseWriter, r *http.Request, accountSID string) (principal, bool) {
	if a.refuseRateLimited(w, r) {
		return principal{}, false
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		a.metrics.authFailure("basic_missing")
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
		return principal{}, false
	}
	p, err := a.checkBasic(r.Context(), user, pass)
	switch {
	case errors.Is(err, errBadCredentials):
		a.limiter.Fail(a.clientAddr(r))
		a.metrics.authFailure("basic")
		a.log.Info("tokenapi: basic authentication failed", "user", loggableSID(user), "remote", a.clientAddr(r))
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
		return principal{}, false
	case err != nil:
		a.log.Error("tokenapi: authenticating", "err", err)
		internalError(w)
		return principal{}, false
	}
	if !a.inGoodStanding(w, p.Caller) {
		a.metrics.authFailure("account_inactive")
		return principal{}, false
	}
	if accountSID != "" && p.AccountSID != accountSID {
		sub, ok, err := a.subaccountOf(r.Context(), p, accountSID)
		if err != nil {
			a.log.Error("tokenapi: authenticating", "err", err)
			internalError(w)
			return principal{}, false
		}
		if !ok {
			a.refuseOtherAccount(w, accountSID)
			return principal{}, false
		}
		p.AccountSID, p.Account = sub.SID, sub
	}
	return p, true
}

// subaccountOf returns the account sid when p is its parent's auth token:
// Twilio lets a parent's auth token act for its subaccounts, but not the
// parent's API keys.
func (a *API) subaccountOf(ctx context.Context, p principal, sid string) (store.Account, bool, error) {
	if !credentials.ValidSID(sid, "AC") || p.CredID != p.Caller.AuthTokenID {
		return store.Account{}, false, nil
	}
	sub, err := a.cfg.Store.GetAccount(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, false, nil
	}
	if err != nil {
		return store.Account{}, false, fmt.Errorf("reading account %s: %w", sid, err)
	}
	return sub, sub.ParentSID == p.Caller.SID, nil
}

// inGoodStanding answers 401/20005, Twilio's "Account not active", for a
// suspended or closed account (a subaccount of a suspended parent
// included) and reports false; it reports true for an active one.
func (a *API) inGoodStanding(w http.ResponseWriter, acct store.Account) bool {
	standing := acct.Standing()
	if standing == store.StatusActive {
		return true
	}
	msg := "Account not active: " + acct.SID + " is " + standing
	if acct.Status == store.StatusActive {
		msg += " (its parent " + acct.ParentSID + " is " + acct.ParentStatus + ")"
	}
	writeError(w, http.StatusUnauthorized, codeAccountNotActive, msg)
	return false
}

// authMain is authBasic for resources that manage credentials (Keys,
// Accounts): Twilio lets only the auth token and Main keys use them, so a
// leaked Standard key cannot mint keys that outlive its deletion.
func (a *API) authMain(w http.ResponseWriter, r *http.Request, accountSID string) (principal, bool) {
	p, ok := a.authBasic(w, r, accountSID)
	if !ok {
		return p, false
	}
	if !p.Main {
		a.refuseStandardKey(w, p)
		return principal{}, false
	}
	return p, true
}

// refuseRateLimited answers 429 when the source is over its failure budget.
func (a *API) refuseRateLimited(w http.ResponseWriter, r *http.Request) bool {
	wait, blocked := a.limiter.Blocked(a.clientAddr(r))
	if !blocked {
		return false
	}
	a.metrics.authFailure("rate_limited")
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, codeTooManyFailures,
		"Too many failed authentications from this address; retry after "+strconv.Itoa(secs)+" seconds")
	return true
}

// loggableSID returns user for the log only if it has the shape of a SID:
// people paste secrets into the wrong field, and those must not be logged.
func loggableSID(user string) string {
	if credentials.ValidSID(user, "AC") || credentials.ValidSID(user, "SK") {
		return user
	}
	return "(not a SID)"
}

// refuseOtherAccount answers valid credentials used for an account they are
// not valid for. Twilio answers 401, not 404: a 404 would tell which SIDs
// exist.
func (a *API) refuseOtherAccount(w http.ResponseWriter, accountSID string) {
	a.metrics.authFailure("wrong_account")
	w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate: these credentials are not valid for account "+loggableSID(accountSID))
}
