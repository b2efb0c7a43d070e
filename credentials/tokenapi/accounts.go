package tokenapi

import (
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

func accountJSON(acct store.Account) accountResource {
	base := "/2010-04-01/Accounts/" + acct.SID
	owner := acct.SID
	return accountResource{
		AuthToken:       acct.AuthToken,
		DateCreated:     rfc2822(acct.DateCreated),
		DateUpdated:     rfc2822(acct.DateUpdated),
		FriendlyName:    acct.FriendlyName,
		OwnerAccountSID: owner,
		SID:             acct.SID,
		Status:          "active",
		SubresourceURIs: map[string]string{
			"keys":   base + "/Keys.json",
			"tokens": base + "/Tokens.json",
		},
		Type: "Full",
		URI:  base + ".json",
	}
}

// handleAccount serves /2010-04-01/Accounts/{Sid}.json: GET fetches (the
// call helper libraries use to check credentials).
func (a *API) handleAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	sid := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if !credentials.ValidSID(sid, "AC") {
		notFound(w, r)
		return
	}
	if _, ok := a.authMain(w, r, sid); !ok || !a.parseForm(w, r) {
		return
	}
	acct, err := a.cfg.Store.GetAccount(r.Context(), sid)
	if err != nil {
		a.storeFailed(w, r, "fetching account", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, accountJSON(acct))
}
