package tokenapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// testSecret is the TURN REST secret every test API signs with.
var testSecret = []byte("test-turn-rest-secret")

// testKeyring holds testSecret alone.
func testKeyring() *credentials.KeyringHolder {
	k, err := credentials.NewKeyring([][]byte{testSecret})
	if err != nil {
		panic(err) // a constant secret
	}
	return credentials.NewKeyringHolder(k)
}

// allListeners is the full set a default deployment runs.
var allListeners = []Listener{
	{Scheme: "turn", Port: 3478, Transport: "udp"},
	{Scheme: "turn", Port: 3478, Transport: "tcp"},
	{Scheme: "turn", Port: 443, Transport: "tcp"},
	{Scheme: "turns", Port: 5349, Transport: "tcp"},
	{Scheme: "turns", Port: 443, Transport: "tcp"},
}

// env is one API under test on a loopback httptest server.
type env struct {
	t        *testing.T
	api      *API
	srv      *httptest.Server
	store    store.Store
	fake     *fakeStore // nil with the SQLite store
	logs     *logbuf.Buffer
	reg      *prometheus.Registry
	account  store.Account
	revoked  chan string
	clock    *testClock
	listenMu sync.Mutex
	listen   []Listener
}

// testClock is a settable clock shared by the API and the fake store.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newEnv starts an API; adjust tweaks its Config before New. st nil means
// a fresh fakeStore.
func newEnv(t *testing.T, st store.Store, adjust func(*Config)) *env {
	t.Helper()
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	e := &env{t: t, logs: &logbuf.Buffer{}, reg: prometheus.NewRegistry(), revoked: make(chan string, 100), clock: clock, listen: allListeners}
	if st == nil {
		e.fake = newFakeStore(clock.Now)
		st = e.fake
	}
	e.store = st
	cfg := Config{
		Store:   st,
		Keyring: testKeyring(),
		Listeners: func() []Listener {
			e.listenMu.Lock()
			defer e.listenMu.Unlock()
			return e.listen
		},
		PublicHost:            "relay.example.com",
		AuthFailuresPerMinute: 20,
		MaxBodyBytes:          16 << 10,
		MaxTTL:                24 * time.Hour,
		OnRevoke:              func(id string) { e.revoked <- id },
		Metrics:               e.reg,
		TrackedAccounts:       10,
		Logger:                slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                   clock.Now,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.api = api
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	acct, err := st.CreateAccount(context.Background(), "test")
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	e.account = acct
	return e
}

func (e *env) setListeners(l []Listener) {
	e.listenMu.Lock()
	defer e.listenMu.Unlock()
	e.listen = l
}

// rewriter sends every request, whatever host twilio-go aimed it at, to the
// test server, so the real helper library runs unmodified.
type rewriter struct{ target *url.URL }

func (rw rewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rw.target.Scheme, rw.target.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

// twilioClient is a real twilio-go client aimed at the test server.
func (e *env) twilioClient(params twilio.ClientParams) *twilio.RestClient {
	c := twilio.NewRestClientWithParams(params)
	target, _ := url.Parse(e.srv.URL)
	c.RequestHandler.Client.(*client.Client).HTTPClient = &http.Client{Transport: rewriter{target: target}, Timeout: 10 * time.Second}
	return c
}

// accountClient authenticates with the account SID and auth token.
func (e *env) accountClient() *twilio.RestClient {
	return e.twilioClient(twilio.ClientParams{Username: e.account.SID, Password: e.account.AuthToken})
}

// do sends a raw request and returns the response with its body read.
func (e *env) do(method, path, user, pass string, body string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, b
}

func (e *env) tokensPath() string { return "/2010-04-01/Accounts/" + e.account.SID + "/Tokens.json" }
func (e *env) keysPath() string   { return "/2010-04-01/Accounts/" + e.account.SID + "/Keys.json" }

// assertNoSecrets fails if any secret appears in the captured log.
func (e *env) assertNoSecrets(secrets ...string) {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("log output contains a secret %.6s…:\n%s", s, logs)
		}
	}
}
