package tokenapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// Golden inputs from shared/reference/twilio-wire-format.md (twilio-node
// 6.2.0 at 1700000000), to check tokens minted by the real library.
const (
	goldenAccount     = "AC00000000000000000000000000000000"
	goldenKey         = "SK11111111111111111111111111111111"
	goldenSecret      = "golden_api_key_secret_0123456789"
	goldenAuthToken   = "golden_auth_token_0123456789abcd"
	goldenTokenID     = "TK33333333333333333333333333333333"
	goldenAccessToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTSzExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZSIsInZpZGVvIjp7InJvb20iOiJyb29tMSJ9fSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDAsImlzcyI6IlNLMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTEiLCJzdWIiOiJBQzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIn0.XnUrlIVUrSfo4fw8iu1IwiYzLfUzO3Wk_yvHuKN2jG0"
	goldenCapability  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InNjb3BlOmNsaWVudDppbmNvbWluZz9jbGllbnROYW1lPXRvbW15IHNjb3BlOmNsaWVudDpvdXRnb2luZz9hcHBTaWQ9QVAyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMiZjbGllbnROYW1lPXRvbW15JmFwcFBhcmFtcz1mb28lM0RiYXIlMjUyMGJheiUyNm4lM0QxIHNjb3BlOnN0cmVhbTpzdWJzY3JpYmU_cGF0aD0vMjAxMC0wNC0wMS9FdmVudHMmYXBwUGFyYW1zPWZvbyUzRGJhciIsImlzcyI6IkFDMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMH0.zcN35rIclxqpwQPAFTskef3XTMCbewE_GsLA2IJy3P0"
)

// putGolden stores the golden account and key in the fake store.
func (f *fakeStore) putGolden() {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := time.Unix(1700000000, 0).UTC()
	f.accounts[goldenAccount] = store.Account{SID: goldenAccount, AuthToken: goldenAuthToken, AuthTokenID: goldenTokenID, DateCreated: t, DateUpdated: t}
	f.keys[goldenKey] = store.Key{SID: goldenKey, AccountSID: goldenAccount, Secret: goldenSecret, DateCreated: t, DateUpdated: t}
}

// iceCall sends a request to /v1/ice-servers with the given bearer token.
func (e *env) iceCall(method, token, query, body string, hdr map[string]string) (*http.Response, []byte) {
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return e.do(method, "/v1/ice-servers"+query, "", "", body, h)
}

func (e *env) accessToken(t *testing.T, key store.Key, identity string, ttl time.Duration) string {
	t.Helper()
	tok, err := credentials.AccessToken{
		AccountSID: key.AccountSID, KeySID: key.SID, Secret: key.Secret, TTL: ttl,
		Grants: credentials.Grants{Identity: identity, Video: &credentials.VideoGrant{}},
	}.Sign(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestICEServers(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "web")
	now := e.clock.Now()
	capTok, err := credentials.CapabilityToken{
		AccountSID: e.account.SID, AuthToken: e.account.AuthToken, TTL: 2 * time.Hour,
		Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "tommy"}},
	}.Sign(now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		token    string
		query    string
		body     string
		ttl      int64
		credID   string
		identity string
	}{
		{"access token caps ttl", "GET", e.accessToken(t, key, "alice", time.Hour), "", "", 3600, key.SID, "alice"},
		{"requested ttl shorter", "GET", e.accessToken(t, key, "alice", time.Hour), "?ttl=600", "", 600, key.SID, "alice"},
		{"requested ttl in form", "POST", e.accessToken(t, key, "bob", time.Hour), "", "ttl=120", 120, key.SID, "bob"},
		{"long token capped at request", "GET", e.accessToken(t, key, "alice", 24*time.Hour), "?ttl=7200", "", 7200, key.SID, "alice"},
		{"nearly expired token gets the floor", "GET", e.accessToken(t, key, "alice", 10*time.Second), "", "", 60, key.SID, "alice"},
		{"capability token", "GET", capTok, "", "", 7200, e.account.AuthTokenID, "tommy"},
		{"identity with dots and unicode", "GET", e.accessToken(t, key, "a.b:c/é", time.Hour), "", "", 3600, key.SID, "a.b:c/é"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.iceCall(tc.method, tc.token, tc.query, tc.body, nil)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			var cfg rtcConfiguration
			if err := json.Unmarshal(body, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.TTL != tc.ttl || cfg.IceTransportPolicy != "all" {
				t.Errorf("ttl %d policy %q; want %d all", cfg.TTL, cfg.IceTransportPolicy, tc.ttl)
			}
			if len(cfg.IceServers) != 2 {
				t.Fatalf("ice servers %+v", cfg.IceServers)
			}
			stun, turn := cfg.IceServers[0], cfg.IceServers[1]
			if strings.Join(stun.URLs, " ") != "stun:relay.example.com:3478" || stun.Username != "" {
				t.Errorf("stun entry %+v", stun)
			}
			wantTURN := "turn:relay.example.com:3478?transport=udp turn:relay.example.com:3478?transport=tcp turn:relay.example.com:443?transport=tcp turns:relay.example.com:5349?transport=tcp turns:relay.example.com:443?transport=tcp"
			if strings.Join(turn.URLs, " ") != wantTURN {
				t.Errorf("turn urls %v", turn.URLs)
			}
			checkTURNUser(t, turn.Username, turn.Credential, e.account.SID, tc.credID, now.Add(time.Duration(tc.ttl)*time.Second))
			u, _ := credentials.ParseTURNUsername(turn.Username)
			if u.Identity != tc.identity {
				t.Errorf("identity %q; want %q", u.Identity, tc.identity)
			}
			// urls must be arrays on the wire (W3C RTCIceServer).
			var raw struct {
				IceServers []map[string]json.RawMessage `json:"iceServers"`
			}
			_ = json.Unmarshal(body, &raw)
			if !strings.HasPrefix(string(raw.IceServers[0]["urls"]), "[") {
				t.Errorf("urls is not an array: %s", raw.IceServers[0]["urls"])
			}
		})
	}
	e.assertNoSecrets(key.Secret, e.account.AuthToken)
}

func TestICEServersGoldenTokens(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.fake.putGolden()
	e.clock.mu.Lock()
	e.clock.now = time.Unix(1700000100, 0)
	e.clock.mu.Unlock()
	tests := []struct {
		name, token, credID, identity string
	}{
		{"access token from twilio-node", goldenAccessToken, goldenKey, "alice"},
		{"capability token from twilio-node", goldenCapability, goldenTokenID, "tommy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.iceCall("GET", tc.token, "", "", nil)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			var cfg rtcConfiguration
			_ = json.Unmarshal(body, &cfg)
			if cfg.TTL != 3500 {
				t.Errorf("ttl %d; want the token's remaining 3500", cfg.TTL)
			}
			turn := cfg.IceServers[1]
			checkTURNUser(t, turn.Username, turn.Credential, goldenAccount, tc.credID, time.Unix(1700003600, 0))
			if u, _ := credentials.ParseTURNUsername(turn.Username); u.Identity != tc.identity {
				t.Errorf("identity %q; want %q", u.Identity, tc.identity)
			}
		})
	}
}

func TestICEServersRefusals(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "web")
	deleted, _ := e.store.CreateKey(t.Context(), e.account.SID, "gone")
	deletedTok := e.accessToken(t, deleted, "alice", time.Hour)
	if err := e.store.DeleteKey(t.Context(), e.account.SID, deleted.SID); err != nil {
		t.Fatal(err)
	}
	good := e.accessToken(t, key, "alice", time.Hour)
	expired, _ := credentials.AccessToken{AccountSID: e.account.SID, KeySID: key.SID, Secret: key.Secret, TTL: time.Minute,
		Grants: credentials.Grants{Identity: "alice"}}.Sign(e.clock.Now().Add(-2 * time.Hour))
	forged := good[:len(good)-4] + "AAAA"
	tests := []struct {
		name      string
		method    string
		token     string
		auth      string // raw Authorization header instead of token
		query     string
		status    int
		challenge string
		reason    string
	}{
		{name: "no token", method: "GET", status: 401, challenge: `Bearer realm="turnkey"`},
		{name: "basic instead of bearer", method: "GET", auth: "Basic QUM6eA==", status: 401, challenge: `Bearer realm="turnkey"`},
		{name: "garbage", method: "GET", token: "not-a-jwt", status: 401, challenge: `Bearer realm="turnkey", error="invalid_token"`, reason: "malformed"},
		{name: "expired", method: "GET", token: expired, status: 401, challenge: `Bearer realm="turnkey", error="invalid_token"`, reason: "expired"},
		{name: "bad signature", method: "GET", token: forged, status: 401, challenge: `Bearer realm="turnkey", error="invalid_token"`, reason: "bad_signature"},
		{name: "deleted key", method: "GET", token: deletedTok, status: 401, challenge: `Bearer realm="turnkey", error="invalid_token"`, reason: "unknown_key"},
		{name: "identity too long", method: "GET", token: e.accessToken(t, key, strings.Repeat("x", 400), time.Hour), status: 400},
		{name: "bad ttl", method: "GET", token: good, query: "?ttl=0", status: 400},
		{name: "unknown region", method: "GET", token: good, query: "?region=mars", status: 400},
		{name: "PUT", method: "PUT", token: good, status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			res, body := e.iceCall(tc.method, tc.token, tc.query, "", hdr)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", res.StatusCode, tc.status, body)
			}
			var te twilioError
			if err := json.Unmarshal(body, &te); err != nil || te.Status != tc.status {
				t.Fatalf("envelope %s", body)
			}
			if tc.status == 401 {
				if te.Code != 20003 {
					t.Errorf("code %d; want 20003", te.Code)
				}
				if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate %q; want %q", got, tc.challenge)
				}
				if tc.reason != "" && !strings.Contains(te.Message, tc.reason) {
					t.Errorf("message %q does not give the reason %s", te.Message, tc.reason)
				}
			}
			if tc.status == 405 && res.Header.Get("Allow") != "GET, POST, OPTIONS" {
				t.Errorf("Allow %q", res.Header.Get("Allow"))
			}
		})
	}
	logs := e.logs.String()
	for _, tok := range []string{good, expired, forged, deletedTok} {
		// The signature part alone is enough to identify a token.
		if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(logs, sig) {
			t.Errorf("a bearer token reached the log")
		}
	}
	e.assertNoSecrets(key.Secret, deleted.Secret, e.account.AuthToken)
}

func TestICEServersCORS(t *testing.T) {
	tests := []struct {
		name      string
		origins   []string
		origin    string
		wantAllow bool
	}{
		{"listed origin", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"listed origin, other case", []string{"https://App.example.com/"}, "https://app.example.com", true},
		{"unlisted origin", []string{"https://app.example.com"}, "https://evil.example.com", false},
		{"wildcard", []string{"*"}, "https://anything.example", true},
		{"cors off", nil, "https://app.example.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.CORSOrigins = tc.origins })
			key, _ := e.store.CreateKey(t.Context(), e.account.SID, "web")
			hdr := map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}

			res, _ := e.iceCall("OPTIONS", "", "", "", hdr)
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("preflight status %d", res.StatusCode)
			}
			h := res.Header
			if tc.wantAllow {
				if h.Get("Access-Control-Allow-Origin") != tc.origin || h.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" ||
					h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" || h.Get("Access-Control-Max-Age") != "600" ||
					!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
					t.Errorf("preflight headers %v", h)
				}
			} else if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight for a refused origin has CORS headers %v", h)
			}

			res, body := e.iceCall("GET", e.accessToken(t, key, "alice", time.Hour), "", "", map[string]string{"Origin": tc.origin})
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.wantAllow {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			// Errors carry CORS headers too, so the page can read them.
			res, _ = e.iceCall("GET", "", "", "", map[string]string{"Origin": tc.origin})
			if got := res.Header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.wantAllow {
				t.Errorf("401 Access-Control-Allow-Origin %q", got)
			}
		})
	}
	// The Twilio routes never answer CORS: account credentials stay out of browsers.
	e := newEnv(t, nil, func(c *Config) { c.CORSOrigins = []string{"*"} })
	res, _ := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", map[string]string{"Origin": "https://x.example"})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("Tokens.json answered with CORS headers")
	}
}
