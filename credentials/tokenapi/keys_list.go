package tokenapi

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
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
// follow next_page_uri relative to their base URL.
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

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, accountSID string) {
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
	keys, err := a.cfg.Store.ListKeys(r.Context(), accountSID)
	if err != nil {
		a.storeFailed(w, r, "listing keys", err)
		return
	}
	// A stable order keeps pages consistent between requests.
	slices.SortFunc(keys, func(x, y store.Key) int {
		return cmp.Or(x.DateCreated.Compare(y.DateCreated), cmp.Compare(x.SID, y.SID))
	})
	start := page * size
	lo, hi := min(start, len(keys)), min(start+size, len(keys))
	items := make([]keyResource, 0, hi-lo)
	for _, k := range keys[lo:hi] {
		items = append(items, keyJSON(k))
	}
	pageURI := func(p int) string {
		q := url.Values{"PageSize": {strconv.Itoa(size)}, "Page": {strconv.Itoa(p)}}
		return "/2010-04-01/Accounts/" + accountSID + "/Keys.json?" + q.Encode()
	}
	res := keyList{
		Keys:         items,
		Start:        start,
		End:          start + max(len(items)-1, 0),
		FirstPageURI: pageURI(0),
		Page:         page,
		PageSize:     size,
		URI:          pageURI(page),
	}
	if hi < len(keys) {
		next := pageURI(page + 1)
		res.NextPageURI = &next
	}
	if page > 0 {
		prev := pageURI(page - 1)
		res.PreviousPageURI = &prev
	}
	writeJSON(w, http.StatusOK, res)
}
