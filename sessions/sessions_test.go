package sessions

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/turnkey-dev/turnkey/relay"
)

// fakeRegistry records what the handlers ask of the relay.
type fakeRegistry struct {
	live     map[string]relay.Allocation
	filters  []relay.AllocationFilter
	closedBy []string
}

func (f *fakeRegistry) Allocations(flt relay.AllocationFilter, cursor string, limit int) (relay.AllocationPage, error) {
	f.filters = append(f.filters, flt)
	var p relay.AllocationPage
	for _, a := range f.live {
		if flt.AccountSIDs == nil || slices.Contains(flt.AccountSIDs, a.AccountSID) {
			p.Allocations = append(p.Allocations, a)
		}
	}
	p.Total = len(p.Allocations)
	return p, nil
}

func (f *fakeRegistry) Allocation(id string) (relay.Allocation, bool) {
	a, ok := f.live[id]
	return a, ok
}

func (f *fakeRegistry) CloseAllocation(id, reason string) bool {
	if _, ok := f.live[id]; !ok {
		return false
	}
	delete(f.live, id)
	f.closedBy = append(f.closedBy, reason)
	return true
}

func (f *fakeRegistry) CloseAllocations(flt relay.AllocationFilter, reason string) int {
	f.filters = append(f.filters, flt)
	return 7
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// TestScopeBoundsWhatACallerSeesAndCloses: a tenant's filters never reach
// past its accounts; an unknown or foreign ID is 404; a bulk close needs a
// filter or all=true; bad paging is 400.
func TestScopeBoundsWhatACallerSeesAndCloses(t *testing.T) {
	tenant := Scope{Accounts: []string{"ACmine"}, Reason: relay.CloseTenant, Error: writeErr}
	operator := Scope{Reason: relay.CloseOperator, Error: writeErr}
	for _, tc := range []struct {
		name        string
		scope       Scope
		method, url string
		code        int
		filter      *relay.AllocationFilter // what reached the registry
		body        string
	}{
		{"tenant lists its own", tenant, "GET", "/v1/allocations", 200,
			&relay.AllocationFilter{AccountSIDs: []string{"ACmine"}}, `"total":1`},
		{"tenant asks for another account", tenant, "GET", "/v1/allocations?account_sid=ACother", 200,
			&relay.AllocationFilter{AccountSIDs: []string{}}, `"total":0`},
		{"operator filters by account", operator, "GET", "/v1/allocations?account_sid=ACother&identity=i&username=u&credential_sid=SKx", 200,
			&relay.AllocationFilter{AccountSIDs: []string{"ACother"}, Identity: "i", Username: "u", CredentialSID: "SKx"}, `"total":1`},
		{"operator lists all", operator, "GET", "/v1/allocations", 200, &relay.AllocationFilter{}, `"total":2`},
		{"page size 0", operator, "GET", "/v1/allocations?page_size=0", 400, nil, "page_size"},
		{"page size too large", operator, "GET", "/v1/allocations?page_size=1001", 400, nil, "page_size"},
		{"tenant closes another's", tenant, "DELETE", "/v1/allocations/ALother", 404, nil, "no live allocation"},
		{"unknown ID", operator, "DELETE", "/v1/allocations/ALnone", 404, nil, "no live allocation"},
		{"tenant closes its own", tenant, "DELETE", "/v1/allocations/ALmine", 204, nil, ""},
		{"bulk without a filter", operator, "DELETE", "/v1/allocations", 400, nil, "all=true"},
		{"tenant bulk all", tenant, "DELETE", "/v1/allocations?all=true", 200,
			&relay.AllocationFilter{AccountSIDs: []string{"ACmine"}}, `"closed":7`},
		{"operator bulk all", operator, "DELETE", "/v1/allocations?all=true", 200, &relay.AllocationFilter{}, `"closed":7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := &fakeRegistry{live: map[string]relay.Allocation{
				"ALmine": {ID: "ALmine", AccountSID: "ACmine"}, "ALother": {ID: "ALother", AccountSID: "ACother"}}}
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, tc.url, nil)
			switch {
			case tc.method == "GET":
				List(rec, r, reg, tc.scope)
			case strings.HasPrefix(tc.url, "/v1/allocations/"):
				Close(rec, r, reg, tc.scope, strings.TrimPrefix(tc.url, "/v1/allocations/"))
			default:
				CloseMatching(rec, r, reg, tc.scope)
			}
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("%d %s, want %d containing %q", rec.Code, rec.Body, tc.code, tc.body)
			}
			if tc.filter != nil {
				if len(reg.filters) != 1 {
					t.Fatalf("registry asked %d times", len(reg.filters))
				}
				got, _ := json.Marshal(reg.filters[0])
				want, _ := json.Marshal(*tc.filter)
				if string(got) != string(want) {
					t.Errorf("filter %s, want %s", got, want)
				}
			}
			if tc.code == 204 && (len(reg.closedBy) != 1 || reg.closedBy[0] != tc.scope.Reason) {
				t.Errorf("closed with %v, want %s", reg.closedBy, tc.scope.Reason)
			}
		})
	}
}
