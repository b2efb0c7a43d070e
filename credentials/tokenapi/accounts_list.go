package tokenapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// accountList is Twilio's list envelope for accounts.
type accountList struct {
	Accounts        []accountResource `json:"accounts"`
	End             int               `json:"end"`
	FirstPageURI    string            `json:"first_page_uri"`
	NextPageURI     *string           `json:"next_page_uri"`
	Page            int               `json:"page"`
	PageSize        int               `json:"page_size"`
	PreviousPageURI *string           `json:"previous_page_uri"`
	Start           int               `json:"start"`
	URI             string            `json:"uri"`
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
	size, ok := pageParam(r, "PageSize", defaultPageSize, 1, maxPageSize)
	if !ok {
		badParameter(w, "Invalid PageSize: must be a whole number from 1 to 1000")
		return
	}
	page, ok := pageParam(r, "Page", 0, 0, maxPage)
	if !ok {
		badParameter(w, "Invalid Page: must be a whole number from 0")
		return
	}
	f := store.AccountFilter{Owner: p.Caller.SID, FriendlyName: r.Form.Get("FriendlyName"), Status: r.Form.Get("Status")}
	if f.Status != "" && !store.ValidStatus(f.Status) {
		badParameter(w, "Invalid Status: must be active, suspended or closed")
		return
	}
	var cur store.AccountCursor
	if tok := r.Form.Get("PageToken"); tok != "" {
		if cur, ok = decodeAccountCursor(tok); !ok {
			badParameter(w, "Invalid PageToken: use the next_page_uri of the previous page")
			return
		}
	} else if page > 0 {
		badParameter(w, "Invalid Page: a page after the first needs its PageToken; follow next_page_uri")
		return
	}
	accts, err := a.cfg.Store.ListAccountsPage(r.Context(), f, cur, size+1)
	if errors.Is(err, store.ErrInvalid) {
		badParameter(w, "Invalid FriendlyName: at most 64 characters of text")
		return
	}
	if err != nil {
		a.storeFailed(w, r, "listing accounts", err)
		return
	}
	more := len(accts) > size
	if more {
		accts = accts[:size]
	}
	items := make([]accountResource, 0, len(accts))
	for _, acct := range accts {
		items = append(items, accountJSON(acct))
	}
	pageURI := func(pg int, tok string) string {
		q := url.Values{"PageSize": {strconv.Itoa(size)}, "Page": {strconv.Itoa(pg)}}
		if f.FriendlyName != "" {
			q.Set("FriendlyName", f.FriendlyName)
		}
		if f.Status != "" {
			q.Set("Status", f.Status)
		}
		if tok != "" {
			q.Set("PageToken", tok)
		}
		return "/2010-04-01/Accounts.json?" + q.Encode()
	}
	start := page * size
	res := accountList{
		Accounts:     items,
		Start:        start,
		End:          start + max(len(items)-1, 0),
		FirstPageURI: pageURI(0, ""),
		Page:         page,
		PageSize:     size,
		URI:          pageURI(page, r.Form.Get("PageToken")),
	}
	if more {
		last := accts[len(accts)-1]
		next := pageURI(page+1, encodeAccountCursor(store.AccountCursor{DateCreated: last.DateCreated, SID: last.SID}))
		res.NextPageURI = &next
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, res)
}
