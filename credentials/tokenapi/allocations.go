package tokenapi

import (
	"net/http"

	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

// handleAllocations serves GET /v1/allocations (the live allocations of the
// caller's accounts) and DELETE /v1/allocations (close them by filter).
func (a *API) handleAllocations(w http.ResponseWriter, r *http.Request) {
	scope, ok := a.allocationScope(w, r)
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet:
		sessions.List(w, r, a.cfg.Allocations, scope)
	case http.MethodDelete:
		sessions.CloseMatching(w, r, a.cfg.Allocations, scope)
	default:
		methodNotAllowed(w, r, "GET, DELETE")
	}
}

// handleAllocation serves DELETE /v1/allocations/{Id}: another account's
// allocation is not found, as an unknown one is.
func (a *API) handleAllocation(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		methodNotAllowed(w, r, "DELETE")
		return
	}
	scope, ok := a.allocationScope(w, r)
	if !ok {
		return
	}
	sessions.Close(w, r, a.cfg.Allocations, scope, r.PathValue("Id"))
}

// allocationScope authenticates the caller with Basic credentials (the
// auth token or a Main key: closing sessions manages the account, as Keys
// do) and returns the accounts it may see. 404 on a node without a relay.
func (a *API) allocationScope(w http.ResponseWriter, r *http.Request) (sessions.Scope, bool) {
	if a.cfg.Allocations == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "this node runs no relay: it has no live allocations")
		return sessions.Scope{}, false
	}
	p, ok := a.authMain(w, r, "")
	if !ok {
		return sessions.Scope{}, false
	}
	return sessions.Scope{Accounts: a.visibleAccounts(p), Reason: relay.CloseTenant,
		Error: func(w http.ResponseWriter, status int, msg string) {
			code := codeInvalidParameter
			if status == http.StatusNotFound {
				code = codeNotFound
			}
			writeError(w, status, code, msg)
		}}, true
}

// visibleAccounts are the accounts whose live allocations p may see and
// close: its own (subaccounts join here when they exist).
func (a *API) visibleAccounts(p principal) []string {
	return []string{p.AccountSID}
}
