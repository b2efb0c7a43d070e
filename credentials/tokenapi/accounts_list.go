package tokenapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// accountList is Twilio's list envelope for accounts.
type accountList struct {
	Accounts []accountResource `json:"accounts"`
	pageMeta
}

// handleAccounts serves /2010-04-01/Accounts.json: GET lists the caller and
// its subaccounts, POST creates a subaccount of the caller.
func (a *API) handleAccounts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	p, ok := a.authMain(w, r, "")
	if !ok || !a.parseForm(w, r) {
		return
	}
	if r.Method == http.MethodGet {
		a.listAccounts(w, r, p)
		return
	}
	if p.Caller.ParentSID != "" {
		writeError(w, http.StatusForbidden, codeForbidden, "Subaccounts cannot create subaccounts")
		return
	}
	name, ok := friendlyName(w, r)
	if !ok {
		return
	}
	if _, given := r.Form["FriendlyName"]; !given || name == "" {
		// Twilio's default name.
		name = "SubAccount Created at " + a.now().UTC().Format("2006-01-02 03:04 pm")
	}
	acct, err := a.cfg.Store.CreateSubaccount(r.Context(), p.Caller.SID, name)
	if err != nil {
		a.storeFailed(w, r, "creating subaccount", err)
		return
	}
	a.log.Info("tokenapi: subaccount created", "account", acct.SID, "parent", p.Caller.SID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, accountJSON(acct))
}

// encodeAccountCursor makes the PageToken for the page after c.
func encodeAccountCursor(c store.AccountCursor) string { return encodePageToken(c.DateCreated, c.SID) }

// decodeAccountCursor parses an account list's PageToken.
func decodeAccountCursor(tok string) (store.AccountCursor, bool) {
	at, sid, ok := decodePageToken(tok, "AC")
	return store.AccountCursor{DateCreated: at, SID: sid}, ok
}

// listAccounts pages the caller's account and subaccounts (a subaccount
// sees only itself) by (DateCreated, SID), filtered by FriendlyName and
// Status (the account's own status).
func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, p principal) {
	pr, cur, ok := readPage(w, r, decodeAccountCursor)
	if !ok {
		return
	}
	f := store.AccountFilter{Owner: p.Caller.SID, FriendlyName: r.Form.Get("FriendlyName"), Status: r.Form.Get("Status")}
	if f.Status != "" && !store.ValidStatus(f.Status) {
		badParameter(w, "Invalid Status: must be active, suspended or closed")
		return
	}
	accts, err := a.cfg.Store.ListAccountsPage(r.Context(), f, cur, pr.size+1)
	if errors.Is(err, store.ErrInvalid) {
		badParameter(w, "Invalid FriendlyName: at most 64 characters of text")
		return
	}
	if err != nil {
		a.storeFailed(w, r, "listing accounts", err)
		return
	}
	accts, more := trimPage(accts, pr.size)
	var next string
	if more {
		last := accts[len(accts)-1]
		next = encodeAccountCursor(store.AccountCursor{DateCreated: last.DateCreated, SID: last.SID})
	}
	filters := url.Values{}
	if f.FriendlyName != "" {
		filters.Set("FriendlyName", f.FriendlyName)
	}
	if f.Status != "" {
		filters.Set("Status", f.Status)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, accountList{
		Accounts: mapItems(accts, accountJSON),
		pageMeta: pr.meta("/2010-04-01/Accounts.json", filters, len(accts), next),
	})
}
