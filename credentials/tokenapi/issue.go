package tokenapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

// errNoListeners means no relay listener runs, so there is nothing to issue
// credentials for.
var errNoListeners = errors.New("no relay listener is running")

// errIdentityTooLong means the identity does not fit in a TURN username.
var errIdentityTooLong = errors.New("identity too long")

// issued is one TURN REST credential and the URIs it is good for.
type issued struct {
	Username, Password string
	Expires            time.Time
	URLs               []relayURL
}

// issue mints a credential valid for ttl for accountSID/credID (and
// identity), with the URIs of the listeners running now on hosts.
func (a *API) issue(hosts hostPair, accountSID, credID, identity string, now time.Time, ttl time.Duration) (issued, error) {
	urls := relayURLs(hosts, a.cfg.Listeners())
	if len(urls) == 0 {
		return issued{}, errNoListeners
	}
	secret := a.cfg.Keyring.Load().Primary()
	rest, err := credentials.IssuedRest(accountSID, credID, secret.ID(), identity)
	if err != nil {
		// Tell an oversized identity (the client's doing) from malformed
		// SIDs (ours) without copying the credentials package's limit.
		if identity != "" {
			if _, plainErr := credentials.IssuedRest(accountSID, credID, secret.ID(), ""); plainErr == nil {
				return issued{}, errIdentityTooLong
			}
		}
		return issued{}, fmt.Errorf("building TURN username: %w", err)
	}
	expires := now.Add(ttl)
	user, pass := secret.Mint(expires, rest)
	if len(user) > credentials.MaxUsernameLen {
		return issued{}, errIdentityTooLong
	}
	return issued{Username: user, Password: pass, Expires: expires, URLs: urls}, nil
}

// issueFailed answers an issue error: 400 for an oversized identity, 503
// when no listener runs, 500 otherwise (details in the log only).
func (a *API) issueFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errIdentityTooLong):
		badParameter(w, "The token's identity is too long to fit in a TURN username")
	case errors.Is(err, errNoListeners):
		a.log.Warn("tokenapi: refusing to issue credentials", "err", err)
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "No relay is running")
	default:
		a.log.Error("tokenapi: issuing credentials", "err", err)
		internalError(w)
	}
}

// regionHost resolves the region parameter to the relay hosts, answering
// 400 for an unknown region or unusable Host header.
func (a *API) regionHost(w http.ResponseWriter, r *http.Request, param string) (hostPair, bool) {
	region := r.Form.Get(param)
	hosts, err := a.hosts.hostFor(r, region)
	switch {
	case errors.Is(err, errUnknownRegion):
		badParameter(w, fmt.Sprintf("Invalid %s: unknown region %q", param, region))
		return hostPair{}, false
	case err != nil:
		badParameter(w, "Cannot tell the relay host: "+err.Error())
		return hostPair{}, false
	}
	return hosts, true
}
