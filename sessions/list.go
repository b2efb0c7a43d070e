package sessions

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/turnkey-dev/turnkey/relay"
)

// Paging defaults: a page of 50, at most relay.MaxAllocationPage.
const defaultPageSize = 50

// Page is the body of GET /v1/allocations.
type Page struct {
	Allocations []relay.Allocation `json:"allocations"`
	Meta        Meta               `json:"meta"`
}

// Meta describes a page: its size, how many allocations match in all, and
// where the next page is (null at the end).
type Meta struct {
	PageSize      int     `json:"page_size"`
	Total         int     `json:"total"`
	NextPageToken *string `json:"next_page_token"`
	NextPageURL   *string `json:"next_page_url"`
}

// filterKeys are the query parameters that select allocations.
var filterKeys = []string{"account_sid", "identity", "username", "credential_sid"}

// filter reads the filters of q within scope. An account_sid outside the
// scope selects nothing (a tenant learns nothing of other accounts).
func filter(q url.Values, scope Scope) relay.AllocationFilter {
	f := relay.AllocationFilter{Identity: q.Get("identity"), Username: q.Get("username"),
		CredentialSID: q.Get("credential_sid"), AccountSIDs: scope.Accounts}
	if acct := q.Get("account_sid"); acct != "" {
		f.AccountSIDs = []string{}
		if scope.visible(acct) {
			f.AccountSIDs = []string{acct}
		}
	}
	return f
}

// List serves GET /v1/allocations: filters account_sid, identity,
// username, credential_sid; paging page_size and page_token.
func List(w http.ResponseWriter, r *http.Request, reg Registry, scope Scope) {
	q := r.URL.Query()
	size := defaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > relay.MaxAllocationPage {
			scope.Error(w, http.StatusBadRequest, fmt.Sprintf("page_size %q: want 1 to %d", v, relay.MaxAllocationPage))
			return
		}
		size = n
	}
	page, err := reg.Allocations(filter(q, scope), q.Get("page_token"), size)
	if err != nil {
		scope.Error(w, http.StatusBadRequest, "page_token: not a token this listing handed out")
		return
	}
	out := Page{Allocations: page.Allocations, Meta: Meta{PageSize: size, Total: page.Total}}
	if out.Allocations == nil {
		out.Allocations = []relay.Allocation{}
	}
	if page.Next != "" {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("page_token", page.Next)
		next.Set("page_size", strconv.Itoa(size))
		u := r.URL.Path + "?" + next.Encode()
		out.Meta.NextPageToken, out.Meta.NextPageURL = &page.Next, &u
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
