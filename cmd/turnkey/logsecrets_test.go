package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestNoSecretsInLogs runs a full session against a node logging at debug
// level, in both log formats, and checks that no secret appears anywhere in
// the log stream: not the TURN secret, the auth token, an API key secret,
// any TURN password issued, an Access Token or its signature, nor a wrong
// password a client tried. The bootstrap banner on stdout shows the auth
// token once by design, so stdout is checked for everything but that.
func TestNoSecretsInLogs(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			n := startTestNode(t, func(c *config.Config) {
				c.Log.Level = "debug"
				c.Log.Format = format
			})
			if n.AuthToken == "" || !strings.Contains(n.Stdout.String(), n.AuthToken) {
				t.Fatal("the bootstrap banner did not show the auth token; the test would check nothing")
			}
			s := fullSession(t, n)
			logs, stdout := n.Logs.String(), n.Stdout.String()
			if !strings.Contains(logs, "tokenapi: request") {
				t.Fatalf("no debug request lines in the log: is the log captured?\n%s", logs)
			}
			s.secrets = append(s.secrets, named{"TURN secret", n.Secret}, named{"auth token", n.AuthToken})
			for _, sec := range s.secrets {
				for _, form := range encodings(sec.value) {
					if strings.Contains(logs, form) {
						t.Errorf("the log contains the %s (%q)", sec.name, form)
					}
					if sec.name != "auth token" && strings.Contains(stdout, form) {
						t.Errorf("stdout contains the %s (%q)", sec.name, form)
					}
				}
			}
			if c := strings.Count(stdout, n.AuthToken); c != 1 {
				t.Errorf("stdout shows the auth token %d times, want once (the bootstrap banner)", c)
			}
		})
	}
}

type named struct{ name, value string }

// session is what a full run handed out or tried.
type session struct{ secrets []named }

func (s *session) add(name, value string) {
	if value == "" {
		return
	}
	s.secrets = append(s.secrets, named{name, value})
}

// encodings are the forms a secret could take in a log line: as is, and
// escaped for a URL query or path (TURN passwords are base64 with + / =).
func encodings(v string) []string {
	out := []string{v}
	for _, e := range []string{url.QueryEscape(v), url.PathEscape(v)} {
		if e != v {
			out = append(out, e)
		}
	}
	return out
}

// fullSession exercises every credential path once: Tokens with the auth
// token and with an API key made through the Keys API, /v1/ice-servers
// with an Access Token, failed Basic authentications, a relay round trip
// with issued credentials, and a key deletion with its credentials tried
// after it.
func fullSession(t *testing.T, n *testNode) *session {
	t.Helper()
	s := &session{}
	peer := testnet.UDPEcho(t)
	admin := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	key, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	s.add("key secret", *key.Secret)
	withKey := twilioClient(t, n.API, *key.Sid, *key.Secret, n.AccountSID)

	var relayed []iceServer
	for name, c := range map[string]*twilio.RestClient{"auth token": admin, "API key": withKey} {
		ttl := 600
		tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: &ttl})
		if err != nil {
			t.Fatalf("CreateToken with the %s: %v", name, err)
		}
		s.add("TURN password (Tokens, "+name+")", *tok.Password)
		for _, srv := range turnServers(tok) {
			s.add("TURN credential (Tokens, "+name+")", srv.credential)
		}
		relayed = append(relayed, turnServers(tok)[0])
	}

	// An Access Token signed with the key, for /v1/ice-servers.
	access, err := credentials.AccessToken{
		AccountSID: n.AccountSID, KeySID: *key.Sid, Secret: *key.Secret, TTL: 10 * time.Minute,
		Grants: credentials.Grants{Identity: "log-check"},
	}.Sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.add("Access Token", access)
	s.add("Access Token signature", access[strings.LastIndexByte(access, '.')+1:])
	ice := iceServersWithBearer(t, n.API, access)
	for _, srv := range ice.IceServers {
		s.add("TURN credential (ice-servers)", srv.Credential)
		for _, u := range srv.URLs {
			if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport=udp") && srv.Credential != "" {
				relayed = append(relayed, iceServer{u, srv.Username, srv.Credential})
			}
		}
	}

	// Failed Basic authentications: a wrong auth token, and the auth token
	// pasted into the username field.
	wrong := strings.Repeat("0", 31) + "f"
	s.add("wrong auth token", wrong)
	if _, err := twilioClient(t, n.API, n.AccountSID, wrong, "").Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
		t.Fatal("a wrong auth token was accepted")
	}
	if _, err := twilioClient(t, n.API, n.AuthToken, n.AuthToken, n.AccountSID).Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
		t.Fatal("the auth token as username was accepted")
	}
	// A wrong Bearer token, shaped like a real one.
	badBearer := access[:strings.LastIndexByte(access, '.')+1] + "c2lnbmF0dXJlLW5vdC12YWxpZA"
	s.add("forged Access Token", badBearer)
	iceServersStatus(t, n.API, badBearer, http.StatusUnauthorized)

	for _, srv := range relayed {
		if err := relayThrough(t, srv, peer); err != nil {
			t.Fatalf("relay through %s: %v", srv.url, err)
		}
	}

	// Delete the key, then try what it issued: refusals log too.
	if err := admin.Api.DeleteKey(*key.Sid, &openapi.DeleteKeyParams{}); err != nil {
		t.Fatalf("delete key: %v", err)
	}
	if _, err := withKey.Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
		t.Fatal("a deleted key still issues tokens")
	}
	iceServersStatus(t, n.API, access, http.StatusUnauthorized)
	// Credentials issued under the deleted key are revoked; the refusal is
	// logged with the username, which must not carry the password along.
	_ = relayThrough(t, relayed[1], peer)
	return s
}

type iceResponse struct {
	IceServers []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	} `json:"iceServers"`
}

func iceServersWithBearer(t *testing.T, base, token string) iceResponse {
	t.Helper()
	body := iceServersStatus(t, base, token, http.StatusOK)
	var r iceResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("ice-servers body: %v\n%s", err, body)
	}
	if len(r.IceServers) == 0 {
		t.Fatalf("ice-servers listed nothing: %s", body)
	}
	return r
}

func iceServersStatus(t *testing.T, base, token string, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/ice-servers", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/ice-servers: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		t.Fatalf("GET /v1/ice-servers: %d, want %d: %s", res.StatusCode, want, body)
	}
	return body
}
