package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// iceServersWith calls /v1/ice-servers with a bearer token and returns the
// status and the first TURN server.
func iceServersWith(t *testing.T, n *testNode, jwt string) (int, iceServer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.API+"/v1/ice-servers", nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, iceServer{}
	}
	var cfg struct {
		IceServers []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, s := range cfg.IceServers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport=udp") {
				return res.StatusCode, iceServer{u, s.Username, s.Credential}
			}
		}
	}
	t.Fatalf("no TURN UDP server in %s", body)
	return 0, iceServer{}
}

// TestDeletingAKeyRevokesEverythingItIssued: Access Tokens signed by the key
// fail at once, and TURN credentials issued under it (via the Tokens
// endpoint and via /v1/ice-servers) are refused by the relay within 5 s.
func TestDeletingAKeyRevokesEverythingItIssued(t *testing.T) {
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	admin, key, viaKey := n.newKey(t)
	ntsCreds := turnServers(fetchToken(t, viaKey))[0]
	jwt, err := credentials.AccessToken{AccountSID: n.AccountSID, KeySID: *key.Sid, Secret: *key.Secret,
		TTL: time.Hour, Grants: credentials.Grants{Identity: "alice"}}.Sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, browserCreds := iceServersWith(t, n, jwt)
	if code != http.StatusOK {
		t.Fatalf("/v1/ice-servers: %d", code)
	}
	if u, _ := credentials.ParseTURNUsername(browserCreds.username); u.Identity != "alice" || u.CredID != *key.Sid {
		t.Fatalf("browser username %q does not carry identity and key: %+v", browserCreds.username, u)
	}
	for _, c := range []iceServer{ntsCreds, browserCreds} {
		if err := relayThrough(t, c, peer); err != nil {
			t.Fatalf("before delete: %v", err)
		}
	}
	if err := admin.Api.DeleteKey(*key.Sid, &openapi.DeleteKeyParams{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if code, _ := iceServersWith(t, n, jwt); code != http.StatusUnauthorized {
		t.Errorf("Access Token of a deleted key: %d, want 401", code)
	}
	for _, c := range []iceServer{ntsCreds, browserCreds} {
		testenv.WaitFor(t, "the credentials of a deleted key refused: "+c.username, time.Until(deleted.Add(5*time.Second)), func() bool {
			return relayThrough(t, c, peer) != nil
		})
	}
}

// TestRotatingTheAuthTokenRevokes: after `turnkey accounts rotate-token`
// (another process, through the store), Capability Tokens signed with the old
// token fail at the next request and TURN credentials issued with it are
// refused within the revocation poll (1 s; the test allows 5 s of slack),
// while the new token works.
func TestRotatingTheAuthTokenRevokes(t *testing.T) {
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	old := n.admin(t)
	creds := turnServers(fetchToken(t, old))[0]
	capJWT, err := credentials.CapabilityToken{AccountSID: n.AccountSID, AuthToken: n.AuthToken, TTL: time.Hour,
		Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "tommy"}}}.Sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := iceServersWith(t, n, capJWT); code != http.StatusOK {
		t.Fatalf("capability token before rotation: %d", code)
	}
	if err := relayThrough(t, creds, peer); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := run([]string{"accounts", "rotate-token", "-json", "-data-dir", n.DataDir, n.AccountSID}, &out, &errOut); code != 0 {
		t.Fatalf("rotate-token exit %d: %s", code, errOut.String())
	}
	rotated := time.Now()
	var acct struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal([]byte(out.String()), &acct); err != nil || acct.AuthToken == "" || acct.AuthToken == n.AuthToken {
		t.Fatalf("rotate-token output %q: %v", out.String(), err)
	}
	if code, _ := iceServersWith(t, n, capJWT); code != http.StatusUnauthorized {
		t.Errorf("capability token signed with the old auth token: %d, want 401", code)
	}
	testenv.WaitFor(t, "credentials issued with the old auth token refused", time.Until(rotated.Add(5*time.Second)), func() bool {
		return relayThrough(t, creds, peer) != nil
	})
	if _, err := old.Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
		t.Error("the old auth token still authenticates")
	}
	fresh := twilioClient(t, n.API, n.AccountSID, acct.AuthToken, "")
	if err := relayThrough(t, turnServers(fetchToken(t, fresh))[0], peer); err != nil {
		t.Fatalf("credentials from the new auth token: %v", err)
	}
}
