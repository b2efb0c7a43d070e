package tokenapi

import (
	"net/http"
	"net/url"
	"strconv"
)

// Twilio's list paging limits.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
	// maxPage bounds Page so start = Page*PageSize cannot overflow.
	maxPage = 1 << 20
)

// pageMeta is Twilio's 2010-04-01 list envelope; each list embeds it after
// its items field, which encoding/json puts first as Twilio does. It is the
// shape twilio-go's List*Response and twilio-node's Page decode.
// next_page_uri and previous_page_uri are null when there is no such page;
// both libraries follow next_page_uri verbatim, relative to their base URL.
// Pages run forwards only, so previous_page_uri stays null, which both
// libraries accept.
type pageMeta struct {
	End             int     `json:"end"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	PreviousPageURI *string `json:"previous_page_uri"`
	Start           int     `json:"start"`
	URI             string  `json:"uri"`
}

// pageRequest is a list request's PageSize, Page and PageToken.
type pageRequest struct {
	size, page int
	token      string
}

// readPage reads PageSize, Page and PageToken, decoding the token with
// decode (the zero cursor when there is none). ok false means the error is
// written.
func readPage[C any](w http.ResponseWriter, r *http.Request, decode func(string) (C, bool)) (pr pageRequest, cur C, ok bool) {
	if pr.size, ok = pageParam(r, "PageSize", defaultPageSize, 1, maxPageSize); !ok {
		badParameter(w, "Invalid PageSize: must be a whole number from 1 to 1000")
		return pr, cur, false
	}
	if pr.page, ok = pageParam(r, "Page", 0, 0, maxPage); !ok {
		badParameter(w, "Invalid Page: must be a whole number from 0")
		return pr, cur, false
	}
	if pr.token = r.Form.Get("PageToken"); pr.token != "" {
		if cur, ok = decode(pr.token); !ok {
			badParameter(w, "Invalid PageToken: use the next_page_uri of the previous page")
			return pr, cur, false
		}
	} else if pr.page > 0 {
		badParameter(w, "Invalid Page: a page after the first needs its PageToken; follow next_page_uri")
		return pr, cur, false
	}
	return pr, cur, true
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

// uri is the address of page page of the list at base (a path, or for
// the v1 API an absolute URL), with the list's filters and token.
func (pr pageRequest) uri(base string, filters url.Values, page int, token string) string {
	q := url.Values{"PageSize": {strconv.Itoa(pr.size)}, "Page": {strconv.Itoa(page)}}
	for k, v := range filters {
		q[k] = v
	}
	if token != "" {
		q.Set("PageToken", token)
	}
	return base + "?" + q.Encode()
}

// meta is the envelope of this page of the list at base, holding n items;
// next is the following page's token, "" when this page is the last.
func (pr pageRequest) meta(base string, filters url.Values, n int, next string) pageMeta {
	start := pr.page * pr.size
	m := pageMeta{
		Start:        start,
		End:          start + max(n-1, 0),
		FirstPageURI: pr.uri(base, filters, 0, ""),
		Page:         pr.page,
		PageSize:     pr.size,
		URI:          pr.uri(base, filters, pr.page, pr.token),
	}
	if next != "" {
		u := pr.uri(base, filters, pr.page+1, next)
		m.NextPageURI = &u
	}
	return m
}

// trimPage cuts the one row past the page that a list reads to learn
// whether there is a next page.
func trimPage[T any](items []T, size int) (page []T, more bool) {
	if len(items) > size {
		return items[:size], true
	}
	return items, false
}

// mapItems converts a page of store records to their resources; never nil,
// so an empty page is [] rather than null.
func mapItems[T, R any](items []T, f func(T) R) []R {
	out := make([]R, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}
