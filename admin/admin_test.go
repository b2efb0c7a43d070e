package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, rec.Header(), string(body)
}

// TestHandlerRoutes: each endpoint answers as documented for each
// configuration; pprof exists only when enabled.
func TestHandlerRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "turnkey_test_events_total", Help: "Test events."})
	c.Add(3)
	reg.MustRegister(c)
	ok := Check{Name: "store", Fn: func(context.Context) error { return nil }}
	failing := Check{Name: "draining", Fn: func(context.Context) error { return errors.New("draining") }}

	cases := []struct {
		name     string
		cfg      Config
		path     string
		wantCode int
		wantBody string // substring
	}{
		{"metrics", Config{Gatherer: reg}, "/metrics", 200, "turnkey_test_events_total 3"},
		{"healthz", Config{Gatherer: reg, Ready: []Check{failing}}, "/healthz", 200, "ok"},
		{"readyz with no checks", Config{Gatherer: reg}, "/readyz", 200, `"ready":true`},
		{"readyz all pass", Config{Gatherer: reg, Ready: []Check{ok}}, "/readyz", 200, `"ready":true`},
		{"readyz one fails", Config{Gatherer: reg, Ready: []Check{ok, failing}}, "/readyz", 503, `"draining":"draining"`},
		{"pprof off", Config{Gatherer: reg}, "/debug/pprof/", 404, ""},
		{"pprof cmdline off", Config{Gatherer: reg}, "/debug/pprof/cmdline", 404, ""},
		{"pprof on", Config{Gatherer: reg, Pprof: true}, "/debug/pprof/", 200, "goroutine"},
		{"pprof cmdline never served (it shows secret flags)", Config{Gatherer: reg, Pprof: true}, "/debug/pprof/cmdline", 404, ""},
		{"unknown path", Config{Gatherer: reg, Pprof: true}, "/nope", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, Handler(tc.cfg), tc.path)
			if code != tc.wantCode {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, code, tc.wantCode, body)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s: body %q lacks %q", tc.path, body, tc.wantBody)
			}
		})
	}
}

// TestReadyzReportsEveryFailedCheck: the 503 body names each failing check,
// not just the first, so an operator sees all that is wrong at once.
func TestReadyzReportsEveryFailedCheck(t *testing.T) {
	h := Handler(Config{Gatherer: prometheus.NewRegistry(), Ready: []Check{
		{Name: "store", Fn: func(context.Context) error { return errors.New("connection refused") }},
		{Name: "relay", Fn: func(context.Context) error { return nil }},
		{Name: "draining", Fn: func(context.Context) error { return errors.New("draining") }},
	}})
	code, hdr, body := get(t, h, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("code %d", code)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got struct {
		Ready  bool              `json:"ready"`
		Failed map[string]string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	want := map[string]string{"store": "connection refused", "draining": "draining"}
	if got.Ready || len(got.Failed) != len(want) || got.Failed["store"] != want["store"] || got.Failed["draining"] != want["draining"] {
		t.Errorf("readyz = %+v, want failed %v", got, want)
	}
}

// TestReadyzChecksGetADeadline: a check that blocks is cut off by the
// handler's context rather than hanging the probe.
func TestReadyzChecksGetADeadline(t *testing.T) {
	h := Handler(Config{Gatherer: prometheus.NewRegistry(), Ready: []Check{
		{Name: "store", Fn: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			<-ctx.Done()
			return ctx.Err()
		}},
	}})
	code, _, body := get(t, h, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "deadline exceeded") {
		t.Errorf("blocking check: %d %s", code, body)
	}
}

// TestServerTimeouts: the admin server bounds slow clients but leaves
// pprof's CPU profile (up to 60 s) room to stream.
func TestServerTimeouts(t *testing.T) {
	s := Server("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("unbounded server: %+v", s)
	}
	if s.WriteTimeout.Seconds() <= 60 {
		t.Errorf("WriteTimeout %v cuts a 60 s CPU profile short", s.WriteTimeout)
	}
}
