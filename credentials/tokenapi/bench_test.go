package tokenapi

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// The benchmarks drive the API's handler in process (no sockets), on the
// real SQLite store, so they measure what a request costs turnkey itself:
// authentication (one store read of the credential per request), minting
// and the JSON answer.
//
//	go test -run '^$' -bench . -benchmem ./credentials/tokenapi/

// benchAPI is an API on a fresh SQLite store with one account and one key.
type benchAPI struct {
	api     *API
	account store.Account
	key     store.Key
}

func newBenchAPI(b *testing.B) *benchAPI {
	b.Helper()
	seal := make([]byte, store.SealKeySize)
	_, _ = rand.Read(seal)
	ctx := context.Background()
	st, err := store.Open(ctx, "", b.TempDir(), seal)
	if err != nil {
		b.Fatalf("store.Open: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	api, err := New(Config{
		Store:     st,
		Keyring:   testKeyring(),
		Listeners: func() []Listener { return allListeners },
		// The production defaults: a limiter on, the log at warn.
		AuthFailuresPerMinute: 20,
		Logger:                slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	acct, err := st.CreateAccount(ctx, "bench")
	if err != nil {
		b.Fatalf("CreateAccount: %v", err)
	}
	key, err := st.CreateKey(ctx, acct.SID, "bench")
	if err != nil {
		b.Fatalf("CreateKey: %v", err)
	}
	return &benchAPI{api: api, account: acct, key: key}
}

// serve runs one request through the handler and checks its status.
func (e *benchAPI) serve(b *testing.B, newReq func() *http.Request, want int) {
	rec := httptest.NewRecorder()
	e.api.Handler().ServeHTTP(rec, newReq())
	if rec.Code != want {
		b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body.String())
	}
}

// run benchmarks one request kind serially and in parallel. Every request
// reads its credential from the store.
func (e *benchAPI) run(b *testing.B, newReq func() *http.Request, want int) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.serve(b, newReq, want)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		// 25 goroutines per P: 50 on the 2-core bench box, as many as
		// wrk's connections in bench/tokens.sh.
		b.SetParallelism(25)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.serve(b, newReq, want)
			}
		})
	})
}

// BenchmarkTokensJSON: POST Tokens.json with the account's Basic
// credentials, as twilio-go sends it.
func BenchmarkTokensJSON(b *testing.B) {
	e := newBenchAPI(b)
	path := "/2010-04-01/Accounts/" + e.account.SID + "/Tokens.json"
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("Ttl=3600"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(e.account.SID, e.account.AuthToken)
		return r
	}
	e.run(b, newReq, http.StatusCreated)
}

// BenchmarkICEServers: GET /v1/ice-servers with an Access Token signed by
// the API key, as a browser sends it.
func BenchmarkICEServers(b *testing.B) {
	e := newBenchAPI(b)
	tok, err := credentials.AccessToken{AccountSID: e.account.SID, KeySID: e.key.SID, Secret: e.key.Secret,
		TTL: time.Hour, Grants: credentials.Grants{Identity: "alice"}}.Sign(time.Now())
	if err != nil {
		b.Fatalf("Sign: %v", err)
	}
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1/ice-servers", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	e.run(b, newReq, http.StatusOK)
}
