package sessions

import (
	"net/http"
)

// Close serves DELETE /v1/allocations/{id}: 204 once the allocation is
// closed, 404 when there is none the scope may see (another account's
// allocation is not found, as an unknown one).
func Close(w http.ResponseWriter, r *http.Request, reg Registry, scope Scope, id string) {
	a, ok := reg.Allocation(id)
	if !ok || !scope.visible(a.AccountSID) || !reg.CloseAllocation(id, scope.Reason) {
		scope.Error(w, http.StatusNotFound, "no live allocation "+quoteID(id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Closed is the body of a bulk close.
type Closed struct {
	Closed int `json:"closed"`
}

// CloseMatching serves DELETE /v1/allocations with the list's filters and
// answers how many it closed. Without a filter it refuses (400) unless
// all=true asks for every allocation in scope.
func CloseMatching(w http.ResponseWriter, r *http.Request, reg Registry, scope Scope) {
	q := r.URL.Query()
	filtered := false
	for _, k := range filterKeys {
		filtered = filtered || q.Get(k) != ""
	}
	if !filtered && q.Get("all") != "true" {
		scope.Error(w, http.StatusBadRequest, "a bulk close needs a filter (account_sid, identity, username, credential_sid) or all=true")
		return
	}
	n := reg.CloseAllocations(filter(q, scope), scope.Reason)
	writeJSON(w, http.StatusOK, Closed{Closed: n})
}

// quoteID bounds a client-supplied ID for an error message.
func quoteID(id string) string {
	if len(id) > 40 {
		id = id[:40] + "…"
	}
	return "\"" + id + "\""
}
