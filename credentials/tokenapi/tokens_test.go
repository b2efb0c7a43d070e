package tokenapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials"
)

// checkTURNUser verifies a username/password pair the API issued.
func checkTURNUser(t *testing.T, username, password, accountSID, credID string, expires time.Time) {
	t.Helper()
	if got := credentials.TURNPassword(testSecret, username); got != password {
		t.Errorf("password %q is not HMAC(secret, username) %q", password, got)
	}
	u, err := credentials.ParseTURNUsername(username)
	if err != nil {
		t.Fatalf("ParseTURNUsername(%q): %v", username, err)
	}
	if u.AccountSID != accountSID || u.CredID != credID {
		t.Errorf("username %q: account %q cred %q; want %q %q", username, u.AccountSID, u.CredID, accountSID, credID)
	}
	if !u.Expiry.Equal(expires) {
		t.Errorf("username expiry %v; want %v", u.Expiry, expires)
	}
}

func TestCreateTokenTwilioGo(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, err := e.store.CreateKey(t.Context(), e.account.SID, "server")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	tests := []struct {
		name    string
		params  twilio.ClientParams
		ttl     *int
		credID  string
		wantTTL int
	}{
		{"auth token, default ttl", twilio.ClientParams{Username: e.account.SID, Password: e.account.AuthToken}, nil, e.account.AuthTokenID, 86400},
		{"auth token, ttl 3600", twilio.ClientParams{Username: e.account.SID, Password: e.account.AuthToken}, ptr(3600), e.account.AuthTokenID, 3600},
		{"api key, ttl 60", twilio.ClientParams{Username: key.SID, Password: key.Secret, AccountSid: e.account.SID}, ptr(60), key.SID, 60},
		{"api key, default ttl", twilio.ClientParams{Username: key.SID, Password: key.Secret, AccountSid: e.account.SID}, nil, key.SID, 86400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.twilioClient(tc.params)
			tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: tc.ttl})
			if err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			if *tok.AccountSid != e.account.SID || *tok.Ttl != strconv.Itoa(tc.wantTTL) {
				t.Errorf("account %q ttl %q; want %q %d", *tok.AccountSid, *tok.Ttl, e.account.SID, tc.wantTTL)
			}
			wantDate := now.UTC().Format(time.RFC1123Z)
			if *tok.DateCreated != wantDate || *tok.DateUpdated != wantDate || !strings.HasSuffix(wantDate, "+0000") {
				t.Errorf("dates %q %q; want %q", *tok.DateCreated, *tok.DateUpdated, wantDate)
			}
			checkTURNUser(t, *tok.Username, *tok.Password, e.account.SID, tc.credID, now.Add(time.Duration(tc.wantTTL)*time.Second))
			want := []string{
				"stun:relay.example.com:3478",
				"turn:relay.example.com:3478?transport=udp",
				"turn:relay.example.com:3478?transport=tcp",
				"turn:relay.example.com:443?transport=tcp",
				"turns:relay.example.com:5349?transport=tcp",
				"turns:relay.example.com:443?transport=tcp",
			}
			servers := *tok.IceServers
			if len(servers) != len(want) {
				t.Fatalf("%d ice servers; want %d: %+v", len(servers), len(want), servers)
			}
			for i, s := range servers {
				if s.Url != want[i] || s.Urls != want[i] {
					t.Errorf("server %d: url %q urls %q; want %q", i, s.Url, s.Urls, want[i])
				}
				isTURN := i > 0
				if isTURN && (s.Username != *tok.Username || s.Credential != *tok.Password) {
					t.Errorf("server %d lacks the credential", i)
				}
				if !isTURN && (s.Username != "" || s.Credential != "") {
					t.Errorf("stun server %d carries a credential", i)
				}
			}
		})
	}
	e.assertNoSecrets(e.account.AuthToken, key.Secret)
}

func TestCreateTokenBadCredentials(t *testing.T) {
	e := newEnv(t, nil, nil)
	other := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	tests := []struct {
		name   string
		params twilio.ClientParams
		status int
		code   int
	}{
		{"wrong token", twilio.ClientParams{Username: e.account.SID, Password: "0123456789abcdef0123456789abcdef"}, 401, 20003},
		{"unknown account", twilio.ClientParams{Username: "AC" + strings.Repeat("0", 32), Password: e.account.AuthToken}, 401, 20003},
		{"wrong key secret", twilio.ClientParams{Username: key.SID, Password: "nope", AccountSid: e.account.SID}, 401, 20003},
		{"key of another account", twilio.ClientParams{Username: key.SID, Password: key.Secret, AccountSid: other.account.SID}, 401, 20003},
		{"token of another account", twilio.ClientParams{Username: e.account.SID, Password: e.account.AuthToken, AccountSid: other.account.SID}, 401, 20003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.twilioClient(tc.params).Api.CreateToken(&openapi.CreateTokenParams{})
			var te *client.TwilioRestError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T); want *client.TwilioRestError", err, err)
			}
			if te.Status != tc.status || te.Code != tc.code || te.MoreInfo != "https://www.twilio.com/docs/errors/"+strconv.Itoa(tc.code) {
				t.Errorf("got %+v; want status %d code %d", te, tc.status, tc.code)
			}
		})
	}
	e.assertNoSecrets(e.account.AuthToken, key.Secret, "0123456789abcdef0123456789abcdef")
}

func ptr[T any](v T) *T { return &v }

// TestTokensWire checks the raw response: types, headers and error cases
// the helper libraries cannot produce.
func TestTokensWire(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) {
		c.Regions = map[string]string{"frankfurt": "fra.relay.example.com", "v6": "2001:db8::1"}
		c.MaxBodyBytes = 256
	})
	sid, tok := e.account.SID, e.account.AuthToken
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		user, pass string
		status     int
		code       int
		host       string // expected relay host in URLs on success
		header     map[string]string
	}{
		{name: "created", method: "POST", path: e.tokensPath(), body: "Ttl=120", user: sid, pass: tok, status: 201, host: "relay.example.com"},
		{name: "region", method: "POST", path: e.tokensPath(), body: "Region=frankfurt", user: sid, pass: tok, status: 201, host: "fra.relay.example.com"},
		{name: "ipv6 region", method: "POST", path: e.tokensPath(), body: "Region=v6", user: sid, pass: tok, status: 201, host: "[2001:db8::1]"},
		{name: "global region", method: "POST", path: e.tokensPath(), body: "Region=global", user: sid, pass: tok, status: 201, host: "relay.example.com"},
		{name: "unknown region", method: "POST", path: e.tokensPath(), body: "Region=mars", user: sid, pass: tok, status: 400, code: 20001},
		{name: "ttl zero", method: "POST", path: e.tokensPath(), body: "Ttl=0", user: sid, pass: tok, status: 400, code: 20001},
		{name: "ttl too long", method: "POST", path: e.tokensPath(), body: "Ttl=86401", user: sid, pass: tok, status: 400, code: 20001},
		{name: "ttl not a number", method: "POST", path: e.tokensPath(), body: "Ttl=1h", user: sid, pass: tok, status: 400, code: 20001},
		{name: "ttl negative", method: "POST", path: e.tokensPath(), body: "Ttl=-5", user: sid, pass: tok, status: 400, code: 20001},
		{name: "ttl twice", method: "POST", path: e.tokensPath(), body: "Ttl=5&Ttl=6", user: sid, pass: tok, status: 400, code: 20001},
		{name: "bad form", method: "POST", path: e.tokensPath(), body: "Ttl=%zz", user: sid, pass: tok, status: 400, code: 20001},
		{name: "body too large", method: "POST", path: e.tokensPath(), body: "Ttl=60&x=" + strings.Repeat("a", 300), user: sid, pass: tok, status: 413, code: 20413},
		{name: "GET not allowed", method: "GET", path: e.tokensPath(), user: sid, pass: tok, status: 405, code: 20004},
		{name: "PUT not allowed", method: "PUT", path: e.tokensPath(), user: sid, pass: tok, status: 405, code: 20004},
		{name: "DELETE not allowed", method: "DELETE", path: e.tokensPath(), user: sid, pass: tok, status: 405, code: 20004},
		{name: "no credentials", method: "POST", path: e.tokensPath(), status: 401, code: 20003},
		{name: "unknown path", method: "POST", path: "/2010-04-01/Accounts/" + sid + "/Calls.json", user: sid, pass: tok, status: 404, code: 20404},
		{name: "malformed account in path", method: "POST", path: "/2010-04-01/Accounts/ACnope/Tokens.json", user: sid, pass: tok, status: 401, code: 20003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.do(tc.method, tc.path, tc.user, tc.pass, tc.body, tc.header)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", res.StatusCode, tc.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.status >= 400 {
				var te twilioError
				if err := json.Unmarshal(body, &te); err != nil {
					t.Fatalf("error body %s: %v", body, err)
				}
				if te.Code != tc.code || te.Status != tc.status || te.MoreInfo != "https://www.twilio.com/docs/errors/"+strconv.Itoa(tc.code) || te.Message == "" {
					t.Errorf("envelope %+v; want code %d", te, tc.code)
				}
				switch tc.status {
				case 405:
					if a := res.Header.Get("Allow"); a != "POST" {
						t.Errorf("Allow %q; want POST", a)
					}
				case 401:
					if a := res.Header.Get("WWW-Authenticate"); a != `Basic realm="Twilio API"` {
						t.Errorf("WWW-Authenticate %q", a)
					}
				case 400:
					if strings.HasPrefix(tc.name, "ttl") && !strings.Contains(te.Message, "Ttl") {
						t.Errorf("message %q does not name Ttl", te.Message)
					}
				}
				return
			}
			// Every scalar must be a string, as twilio-go requires.
			var raw map[string]any
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"account_sid", "date_created", "date_updated", "ttl", "username", "password"} {
				if _, ok := raw[k].(string); !ok {
					t.Errorf("%s is %T; want string", k, raw[k])
				}
			}
			for _, s := range raw["ice_servers"].([]any) {
				m := s.(map[string]any)
				u, ok1 := m["url"].(string)
				us, ok2 := m["urls"].(string)
				if !ok1 || !ok2 || u != us {
					t.Errorf("ice server %v: url and urls must be equal strings", m)
				}
				if !strings.Contains(u, ":"+tc.host+":") {
					t.Errorf("url %q does not use host %q", u, tc.host)
				}
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Error("credential response is cacheable")
			}
		})
	}
	e.assertNoSecrets(tok)
}

func TestTokensRequestHost(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.PublicHost = "" })
	tests := []struct {
		host   string
		status int
		want   string
	}{
		{"turn.example.org:8080", 201, "stun:turn.example.org:3478"},
		{"TURN.Example.org", 201, "stun:turn.example.org:3478"},
		{"[2001:db8::5]:8080", 201, "stun:[2001:db8::5]:3478"},
		{"192.0.2.7", 201, "stun:192.0.2.7:3478"},
		{"evil.example/x?y", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+e.tokensPath(), nil)
			req.Host = tc.host
			req.SetBasicAuth(e.account.SID, e.account.AuthToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var tok ntsToken
			_ = json.NewDecoder(res.Body).Decode(&tok)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d", res.StatusCode, tc.status)
			}
			if tc.status == 201 && tok.IceServers[0].URLs != tc.want {
				t.Errorf("first url %q; want %q", tok.IceServers[0].URLs, tc.want)
			}
		})
	}
}

func TestTokensListenersRunning(t *testing.T) {
	e := newEnv(t, nil, nil)
	tests := []struct {
		name      string
		listeners []Listener
		status    int
		urls      []string
	}{
		{"udp only", []Listener{{"turn", 3478, "udp"}}, 201, []string{"stun:relay.example.com:3478", "turn:relay.example.com:3478?transport=udp"}},
		{"tls only", []Listener{{"turns", 443, "tcp"}, {"turns", 5349, "tcp"}}, 201, []string{"turns:relay.example.com:5349?transport=tcp", "turns:relay.example.com:443?transport=tcp"}},
		{"none", nil, 503, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.setListeners(tc.listeners)
			res, body := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.status != 201 {
				return
			}
			var tok ntsToken
			if err := json.Unmarshal(body, &tok); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range tok.IceServers {
				got = append(got, s.URLs)
			}
			if strings.Join(got, " ") != strings.Join(tc.urls, " ") {
				t.Errorf("urls %v; want %v", got, tc.urls)
			}
		})
	}
}

func TestTokensMaxTTL(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.MaxTTL = time.Hour })
	c := e.accountClient()
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if *tok.Ttl != "3600" {
		t.Errorf("default ttl %s under MaxTTL 1h; want 3600", *tok.Ttl)
	}
	_, err = c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: ptr(3601)})
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Code != 20001 {
		t.Errorf("ttl over MaxTTL: %v; want code 20001", err)
	}
}

// hiddenLength hides a body's size so the server cannot refuse it from
// Content-Length and must stop reading at MaxBodyBytes.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestTokensChunkedBodyTooLarge(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.MaxBodyBytes = 64 })
	req, _ := http.NewRequest("POST", e.srv.URL+e.tokensPath(), hiddenLength{strings.NewReader("Ttl=60&pad=" + strings.Repeat("x", 1000))})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.account.SID, e.account.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ContentLength == 0 || res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d; want 413", res.StatusCode)
	}
	var te twilioError
	if err := json.NewDecoder(res.Body).Decode(&te); err != nil || te.Code != 20413 {
		t.Errorf("envelope %+v, %v", te, err)
	}
}
