package tokenapi

import "net/http"

// handleUsage serves GET /v1/usage: the relay usage of the account whose
// Basic credentials were sent.
func (a *API) handleUsage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	p, ok := a.authBasic(w, r, "")
	if !ok {
		return
	}
	report := UsageReport{AccountSID: p.AccountSID}
	if a.cfg.Usage != nil {
		report = a.cfg.Usage(p.AccountSID)
		// The caller's account, whatever the callback filled in.
		report.AccountSID = p.AccountSID
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, report)
}
