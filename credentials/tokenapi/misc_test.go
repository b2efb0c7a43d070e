package tokenapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/credentials"
)

func TestUsage(t *testing.T) {
	var asked string
	e := newEnv(t, nil, func(c *Config) {
		c.Usage = func(sid string) UsageReport {
			asked = sid
			return UsageReport{AccountSID: "ACforged", RelayBytes: 30, BytesClientToPeer: 10, BytesPeerToClient: 20, AllocationsActive: 2}
		}
	})
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	tests := []struct {
		name, user, pass, method string
		status                   int
	}{
		{"auth token", e.account.SID, e.account.AuthToken, "GET", 200},
		{"api key", key.SID, key.Secret, "GET", 200},
		{"bad password", e.account.SID, "x", "GET", 401},
		{"POST", e.account.SID, e.account.AuthToken, "POST", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.do(tc.method, "/v1/usage", tc.user, tc.pass, "", nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				return
			}
			var got UsageReport
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			want := UsageReport{AccountSID: e.account.SID, RelayBytes: 30, BytesClientToPeer: 10, BytesPeerToClient: 20, AllocationsActive: 2}
			if got != want || asked != e.account.SID {
				t.Errorf("report %+v (asked for %s); want %+v", got, asked, want)
			}
		})
	}
	// No Usage callback: zeros for the caller's account.
	z := newEnv(t, nil, nil)
	res, body := z.do("GET", "/v1/usage", z.account.SID, z.account.AuthToken, "", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"relay_bytes":0`) || !strings.Contains(string(body), z.account.SID) {
		t.Errorf("nil Usage: %d %s", res.StatusCode, body)
	}
}

func TestStoreFailureIsGeneric500(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	token := e.accessToken(t, key, "alice", time.Hour)
	e.fake.setFail(errStoreDown)
	tests := []struct {
		name string
		call func() (int, []byte)
	}{
		{"tokens", func() (int, []byte) {
			r, b := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", nil)
			return r.StatusCode, b
		}},
		{"ice servers", func() (int, []byte) { r, b := e.iceCall("GET", token, "", "", nil); return r.StatusCode, b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.call()
			if status != 500 {
				t.Fatalf("status %d: %s", status, body)
			}
			if strings.Contains(string(body), "db.internal") || !strings.Contains(string(body), `"code":20500`) {
				t.Errorf("500 body leaks details or lacks the envelope: %s", body)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "db.internal") {
		t.Error("the store error is not in the log")
	}
	// A failing store is not the client's fault: no failures counted.
	if wait, blocked := e.api.limiter.Blocked("127.0.0.1:1"); blocked {
		t.Errorf("store failures counted as auth failures (blocked for %v)", wait)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.TrackedAccounts = 1 })
	other := newEnv(t, e.store, nil)
	for range 2 {
		e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", nil)
	}
	e.do("POST", other.tokensPath(), other.account.SID, other.account.AuthToken, "", nil)
	e.do("GET", "/2010-04-01/Accounts/"+e.account.SID+"/Keys/SK"+strings.Repeat("a", 32)+".json", e.account.SID, e.account.AuthToken, "", nil)
	e.do("GET", "/random/path/1", "", "", "", nil)
	e.do("GET", "/random/path/2", "", "", "", nil)

	m := e.api.metrics
	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"nts issued", m.tokensIssued.WithLabelValues(kindNTS), 3},
		{"tracked account", m.accountTokens.WithLabelValues(e.account.SID), 2},
		{"untracked account", m.accountTokens.WithLabelValues("other"), 1},
		{"tokens 201", m.requests.WithLabelValues(routeTokens, "201"), 3},
		{"key route is a pattern", m.requests.WithLabelValues(routeKey+".json", "404"), 1},
		{"unmatched paths share a label", m.requests.WithLabelValues(routeUnmatched, "404"), 2},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s: %v; want %v", c.name, got, c.want)
		}
	}
	// Everything is registered, and no label holds a raw path.
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if strings.Contains(l.GetValue(), "/random") || strings.Contains(l.GetValue(), "/AC") {
					t.Errorf("%s has an unbounded label %s=%q", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, n := range []string{"turnkey_tokens_issued_total", "turnkey_http_requests_total", "turnkey_http_request_duration_seconds", "turnkey_api_account_tokens_issued_total"} {
		if !names[n] {
			t.Errorf("%s not registered", n)
		}
	}
	// The same lint as `promtool check metrics`.
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %+v", err, problems)
	}
	if count := testutil.CollectAndCount(m.duration); count == 0 {
		t.Error("no duration observations")
	}
}

func TestBearerReasonLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{credentials.ReasonExpired, "bearer_expired"},
		{credentials.ReasonLifetimeTooLong, "bearer_lifetime_too_long"},
		{"Free text from somewhere", "bearer_other"},
		{strings.Repeat("a", 40), "bearer_other"},
	}
	for _, tc := range tests {
		if got := bearerReason(tc.in); got != tc.want {
			t.Errorf("bearerReason(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewValidation(t *testing.T) {
	st := newFakeStore(time.Now)
	base := func() Config {
		return Config{Store: st, Keyring: testKeyring(), Listeners: func() []Listener { return nil }}
	}
	tests := []struct {
		name   string
		adjust func(*Config)
		ok     bool
	}{
		{"minimal", func(*Config) {}, true},
		{"no store", func(c *Config) { c.Store = nil }, false},
		{"no keyring", func(c *Config) { c.Keyring = nil }, false},
		{"empty keyring", func(c *Config) { c.Keyring = &credentials.KeyringHolder{} }, false},
		{"no listeners", func(c *Config) { c.Listeners = nil }, false},
		{"bad public host", func(c *Config) { c.PublicHost = "a b" }, false},
		{"bad region host", func(c *Config) { c.Regions = map[string]string{"x": "http://x"} }, false},
		{"empty region name", func(c *Config) { c.Regions = map[string]string{"": "x.example"} }, false},
		{"bad cors origin", func(c *Config) { c.CORSOrigins = []string{"app.example.com"} }, false},
		{"negative limit", func(c *Config) { c.AuthFailuresPerMinute = -1 }, false},
		{"sub-second MaxTTL", func(c *Config) { c.MaxTTL = time.Millisecond }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.adjust(&c)
			_, err := New(c)
			if (err == nil) != tc.ok {
				t.Errorf("New: %v; want ok=%v", err, tc.ok)
			}
		})
	}
	// A second API on one registry is refused, not a panic.
	reg := prometheus.NewRegistry()
	c := base()
	c.Metrics = reg
	if _, err := New(c); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c); err == nil {
		t.Error("second registration succeeded")
	}
}

func TestServerTimeouts(t *testing.T) {
	e := newEnv(t, nil, nil)
	s := e.api.Server(":0")
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 10*time.Second || s.WriteTimeout != 10*time.Second ||
		s.IdleTimeout != 60*time.Second || s.MaxHeaderBytes != 16<<10 || s.Handler == nil || s.Addr != ":0" {
		t.Errorf("server %+v", s)
	}
}

func TestResolvers(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	acct, secret, err := e.api.KeyResolver().ResolveKey(t.Context(), key.SID)
	if err != nil || acct != e.account.SID || secret != key.Secret {
		t.Errorf("ResolveKey: %s %v", acct, err)
	}
	if _, _, err := e.api.KeyResolver().ResolveKey(t.Context(), "SK"+strings.Repeat("0", 32)); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	tok, id, err := e.api.AccountResolver().ResolveAccount(t.Context(), e.account.SID)
	if err != nil || tok != e.account.AuthToken || id != e.account.AuthTokenID {
		t.Errorf("ResolveAccount: %s %v", id, err)
	}
	if _, _, err := e.api.AccountResolver().ResolveAccount(t.Context(), "AC"+strings.Repeat("0", 32)); !errors.Is(err, credentials.ErrUnknownAccount) {
		t.Errorf("unknown account: %v", err)
	}
	// With the store failing, a lookup is a plain error, not "unknown".
	uncached, _ := e.store.CreateKey(t.Context(), e.account.SID, "k2")
	e.fake.setFail(errStoreDown)
	if _, _, err := e.api.KeyResolver().ResolveKey(t.Context(), uncached.SID); err == nil || errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("store failure: %v; want a plain error", err)
	}
}
