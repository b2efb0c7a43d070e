package tokenapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzAccountAndUsageQueries sends arbitrary queries to the Accounts list
// and the Usage Records resources: every answer is a 200 or a Twilio error
// envelope below 500, never a panic.
func FuzzAccountAndUsageQueries(f *testing.F) {
	for _, q := range []string{
		"", "PageSize=1", "PageSize=1001", "Page=1", "PageToken=PA", "PageToken=PAbzE",
		"Status=suspended", "Status=x", "FriendlyName=%00", "Category=turnmegabytes-", "Category=turnmegabytes-eu",
		"StartDate=-99999days", "StartDate=+5days&EndDate=-5days", "StartDate=0000-01-01", "EndDate=9999-12-31",
		"IncludeSubaccounts=0", "StartDate=2031-02-29",
	} {
		for _, sub := range []string{"", "Daily.json", "Monthly.json", "Yearly.json", "LastMonth.json"} {
			f.Add(q, sub)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := newFakeStore(func() time.Time { return now })
	acct, err := st.CreateAccount(context.Background(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.CreateSubaccount(context.Background(), acct.SID, "sub"); err != nil {
		f.Fatal(err)
	}
	api, err := New(Config{
		Store: st, Keyring: testKeyring(), Listeners: func() []Listener { return allListeners },
		Regions: map[string]string{"eu": "eu.relay.example.com"}, Metrics: prometheus.NewRegistry(),
		Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, sub string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		query = values.Encode()
		paths := []string{"/2010-04-01/Accounts.json?" + query}
		base := "/2010-04-01/Accounts/" + acct.SID + "/Usage/Records"
		if sub == "." || sub == ".." {
			// ServeMux redirects dot segments before any handler runs.
			return
		}
		if sub == "" {
			paths = append(paths, base+".json?"+query)
		} else if u, err := url.Parse(base + "/" + url.PathEscape(sub) + "?" + query); err == nil {
			paths = append(paths, u.String())
		}
		for _, p := range paths {
			req := httptest.NewRequest("GET", p, nil)
			req.SetBasicAuth(acct.SID, acct.AuthToken)
			rec := httptest.NewRecorder()
			api.Handler().ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			if rec.Code >= 500 {
				t.Fatalf("GET %s: %d %s", p, rec.Code, body)
			}
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("GET %s: %d, not JSON: %q", p, rec.Code, body)
			}
		}
	})
}
