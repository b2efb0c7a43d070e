package tokenapi

import (
	"net/http"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// keyList is Twilio's list envelope for keys.
type keyList struct {
	Keys []keyResource `json:"keys"`
	pageMeta
}

// encodeKeyCursor makes the PageToken for the page after c.
func encodeKeyCursor(c store.KeyCursor) string { return encodePageToken(c.DateUpdated, c.SID) }

// decodeKeyCursor parses a key list's PageToken.
func decodeKeyCursor(tok string) (store.KeyCursor, bool) {
	at, sid, ok := decodePageToken(tok, "SK")
	return store.KeyCursor{DateUpdated: at, SID: sid}, ok
}

// keyPage reads PageSize, Page and PageToken and lists one page of keys
// ordered by DateUpdated (Twilio's documented order); next is the next
// page's token, "" for none. ok false means the error is written.
func (a *API) keyPage(w http.ResponseWriter, r *http.Request, accountSID string) (keys []store.Key, pr pageRequest, next string, ok bool) {
	pr, cur, ok := readPage(w, r, decodeKeyCursor)
	if !ok {
		return nil, pr, "", false
	}
	// One extra row tells whether there is a next page.
	keys, err := a.cfg.Store.ListKeysPage(r.Context(), accountSID, cur, pr.size+1)
	if err != nil {
		a.storeFailed(w, r, "listing keys", err)
		return nil, pr, "", false
	}
	keys, more := trimPage(keys, pr.size)
	if more {
		last := keys[len(keys)-1]
		next = encodeKeyCursor(store.KeyCursor{DateUpdated: last.DateUpdated, SID: last.SID})
	}
	return keys, pr, next, true
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, accountSID string) {
	keys, pr, next, ok := a.keyPage(w, r, accountSID)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, keyList{
		Keys:     mapItems(keys, keyJSON),
		pageMeta: pr.meta("/2010-04-01/Accounts/"+accountSID+"/Keys.json", nil, len(keys), next),
	})
}
