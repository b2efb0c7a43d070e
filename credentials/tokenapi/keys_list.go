package tokenapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// Twilio's list paging limits.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
	// maxPage bounds Page so start = Page*PageSize cannot overflow.
	maxPage = 1 << 20
)

// keyList is Twilio's list envelope for keys, the shape twilio-go's
// ListKeyResponse and twilio-node's Page decode. next_page_uri and
// previous_page_uri are null when there is no such page; both libraries
// follow next_page_uri verbatim, relative to their base URL.
type keyList struct {
	Keys            []keyResource `json:"keys"`
	End             int           `json:"end"`
	FirstPageURI    string        `json:"first_page_uri"`
	NextPageURI     *string       `json:"next_page_uri"`
	Page            int           `json:"page"`
	PageSize        int           `json:"page_size"`
	PreviousPageURI *string       `json:"previous_page_uri"`
	Start           int           `json:"start"`
	URI             string        `json:"uri"`
}

// pageParam reads a non-negative integer parameter in [lo, hi].
func pageParam(r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.Form.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// encodeKeyCursor makes the PageToken for the page after c.
func encodeKeyCursor(c store.KeyCursor) string { return encodePageToken(c.DateUpdated, c.SID) }

// decodeKeyCursor parses a key list's PageToken.
func decodeKeyCursor(tok string) (store.KeyCursor, bool) {
	at, sid, ok := decodePageToken(tok, "SK")
	return store.KeyCursor{DateUpdated: at, SID: sid}, ok
}

// keyPage reads PageSize, Page and PageToken and lists one page of keys
// ordered by DateUpdated (Twilio's documented order). ok false means the
// error is written.
func (a *API) keyPage(w http.ResponseWriter, r *http.Request, accountSID string) (keys []store.Key, size, page int, more, ok bool) {
	size, ok = pageParam(r, "PageSize", defaultPageSize, 1, maxPageSize)
	if !ok {
		badParameter(w, "Invalid PageSize: must be a whole number from 1 to 1000")
		return nil, 0, 0, false, false
	}
	page, ok = pageParam(r, "Page", 0, 0, maxPage)
	if !ok {
		badParameter(w, "Invalid Page: must be a whole number from 0")
		return nil, 0, 0, false, false
	}
	var cur store.KeyCursor
	if tok := r.Form.Get("PageToken"); tok != "" {
		if cur, ok = decodeKeyCursor(tok); !ok {
			badParameter(w, "Invalid PageToken: use the next_page_uri of the previous page")
			return nil, 0, 0, false, false
		}
	} else if page > 0 {
		badParameter(w, "Invalid Page: a page after the first needs its PageToken; follow next_page_uri")
		return nil, 0, 0, false, false
	}
	// One extra row tells whether there is a next page.
	keys, err := a.cfg.Store.ListKeysPage(r.Context(), accountSID, cur, size+1)
	if err != nil {
		a.storeFailed(w, r, "listing keys", err)
		return nil, 0, 0, false, false
	}
	if more = len(keys) > size; more {
		keys = keys[:size]
	}
	return keys, size, page, more, true
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, accountSID string) {
	keys, size, page, more, ok := a.keyPage(w, r, accountSID)
	if !ok {
		return
	}
	items := make([]keyResource, 0, len(keys))
	for _, k := range keys {
		items = append(items, keyJSON(k))
	}
	base := "/2010-04-01/Accounts/" + accountSID + "/Keys.json?"
	pageURI := func(p int, tok string) string {
		q := url.Values{"PageSize": {strconv.Itoa(size)}, "Page": {strconv.Itoa(p)}}
		if tok != "" {
			q.Set("PageToken", tok)
		}
		return base + q.Encode()
	}
	start := page * size
	res := keyList{
		Keys:         items,
		Start:        start,
		End:          start + max(len(items)-1, 0),
		FirstPageURI: pageURI(0, ""),
		Page:         page,
		PageSize:     size,
		URI:          pageURI(page, r.Form.Get("PageToken")),
	}
	if more {
		last := keys[len(keys)-1]
		next := pageURI(page+1, encodeKeyCursor(store.KeyCursor{DateUpdated: last.DateUpdated, SID: last.SID}))
		res.NextPageURI = &next
	}
	// A keyset runs forwards only; previous_page_uri stays null, which both
	// libraries accept.
	writeJSON(w, http.StatusOK, res)
}
