package tokenapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// accountResource is Twilio's Account resource. Twilio returns the auth
// token to whoever may manage the account (the auth token itself or a Main
// key), so helper libraries can hand a new subaccount's token on.
type accountResource struct {
	AuthToken       string            `json:"auth_token"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	FriendlyName    string            `json:"friendly_name"`
	OwnerAccountSID string            `json:"owner_account_sid"`
	SID             string            `json:"sid"`
	Status          string            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	Type            string            `json:"type"`
	URI             string            `json:"uri"`
}

// accountJSON renders acct. Status is its standing: a subaccount of a
// suspended parent reads suspended, as Twilio suspends it with the parent.
func accountJSON(acct store.Account) accountResource {
	base := "/2010-04-01/Accounts/" + acct.SID
	return accountResource{
		AuthToken:       acct.AuthToken,
		DateCreated:     rfc2822(acct.DateCreated),
		DateUpdated:     rfc2822(acct.DateUpdated),
		FriendlyName:    acct.FriendlyName,
		OwnerAccountSID: acct.OwnerSID(),
		SID:             acct.SID,
		Status:          acct.Standing(),
		SubresourceURIs: map[string]string{
			"keys":          base + "/Keys.json",
			"tokens":        base + "/Tokens.json",
			"usage_records": base + "/Usage/Records.json",
		},
		Type: "Full",
		URI:  base + ".json",
	}
}

// handleAccount serves /2010-04-01/Accounts/{Sid}.json: GET fetches (the
// call helper libraries use to check credentials), POST updates
// FriendlyName and Status.
func (a *API) handleAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	sid := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if !credentials.ValidSID(sid, "AC") {
		notFound(w, r)
		return
	}
	p, ok := a.authAccount(w, r, sid)
	if !ok {
		return
	}
	if !p.Main {
		a.refuseStandardKey(w, p)
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	acct := p.Account
	if r.Method == http.MethodPost {
		if acct, ok = a.updateAccount(w, r, p); !ok {
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, accountJSON(acct))
}

// updateAccount applies a POST's FriendlyName and Status. As Twilio, only
// a parent's credentials change a subaccount's status, and a top-level
// account's status is not changed through the API (operators use `turnkey
// accounts suspend|reactivate|close`).
func (a *API) updateAccount(w http.ResponseWriter, r *http.Request, p principal) (store.Account, bool) {
	var u store.AccountUpdate
	if _, given := r.Form["FriendlyName"]; given {
		name, ok := friendlyName(w, r)
		if !ok {
			return store.Account{}, false
		}
		u.FriendlyName = &name
	}
	if status := r.Form.Get("Status"); status != "" {
		switch {
		case !store.ValidStatus(status):
			badParameter(w, "Invalid Status: must be active, suspended or closed")
			return store.Account{}, false
		case p.Account.ParentSID == "":
			writeError(w, http.StatusForbidden, codeForbidden,
				"The status of a top-level account cannot be changed through the API; its operator uses `turnkey accounts`")
			return store.Account{}, false
		case !p.viaParent():
			writeError(w, http.StatusForbidden, codeForbidden,
				"A subaccount's status can be changed only with its parent account's credentials")
			return store.Account{}, false
		}
		u.Status = status
	}
	if u.FriendlyName == nil && u.Status == "" {
		// Twilio treats an update without parameters as a fetch.
		return p.Account, true
	}
	acct, err := a.cfg.Store.UpdateAccount(r.Context(), p.Account.SID, u)
	switch {
	case errors.Is(err, store.ErrAccountClosed):
		writeError(w, http.StatusBadRequest, codeAccountClosed, "Unable to update Status for subaccount, subaccount has been closed")
		return store.Account{}, false
	case errors.Is(err, store.ErrAccountInactive):
		writeError(w, http.StatusBadRequest, codeParentSuspended, "Unable to update Status for subaccount, parent account is suspended")
		return store.Account{}, false
	case errors.Is(err, store.ErrInvalid):
		badParameter(w, "Invalid parameter: "+strings.TrimPrefix(err.Error(), "store: invalid input: "))
		return store.Account{}, false
	case err != nil:
		a.storeFailed(w, r, "updating account", err)
		return store.Account{}, false
	}
	if u.Status != "" {
		a.log.Info("tokenapi: account status changed", "account", acct.SID, "status", acct.Status, "by", p.Caller.SID)
		if acct.Status != store.StatusActive && a.cfg.OnRevoke != nil {
			// The local relay refuses at once; others follow the feed.
			a.cfg.OnRevoke(acct.SID)
		}
	}
	return acct, true
}

// refuseStandardKey answers a Standard key on a resource that needs the
// auth token or a Main key.
func (a *API) refuseStandardKey(w http.ResponseWriter, p principal) {
	a.metrics.authFailure("standard_key")
	w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	writeError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate: this resource requires the auth token or a Main API key; "+p.CredID+" is a Standard key")
}
