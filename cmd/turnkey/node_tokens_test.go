package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// requireNodeTwilio finds node and the npm twilio package, skipping (or, in
// CI, failing) when either is missing.
func requireNodeTwilio(t *testing.T) (node, script string) {
	t.Helper()
	miss := func(why string) {
		testenv.Require(t, "%s: run `npm ci` in clients/node to enable this test", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		miss("node is not installed")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "twilio", "package.json")); err != nil {
		miss("the npm twilio package is not installed in clients/node")
	}
	return node, filepath.Join(dir, "twilio-jwt.js")
}

// TestNPMTwilioTokensGetICEServers: Access and Capability Tokens minted by
// the real npm twilio package (AccessToken with several grants,
// ClientCapability) get ICE servers from /v1/ice-servers, and the identity
// travels in the TURN username.
func TestNPMTwilioTokensGetICEServers(t *testing.T) {
	node, script := requireNodeTwilio(t)
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	_, key, _ := n.newKey(t)
	req, _ := json.Marshal(map[string]any{
		"accountSid": n.AccountSID, "keySid": *key.Sid, "keySecret": *key.Secret, "authToken": n.AuthToken,
		"identity": "npm-alice", "ttl": 3600,
		"grants": map[string]any{
			"voice": map[string]any{"incomingAllow": true, "outgoingApplicationSid": "AP" + "22222222222222222222222222222222"},
			"video": map[string]any{"room": "r1"},
			"chat":  map[string]any{"serviceSid": "IS" + "00000000000000000000000000000000"},
		},
		"capability": map[string]any{"incoming": "npm-tommy", "ttl": 3600},
	})
	cmd := exec.Command(node, script, "mint")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("twilio-jwt.js mint: %v\n%s", err, stderr.String())
	}
	var minted struct {
		AccessToken     string `json:"accessToken"`
		CapabilityToken string `json:"capabilityToken"`
	}
	if err := json.Unmarshal(out, &minted); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, tc := range []struct {
		name, jwt, identity, cred string
	}{
		{"access token", minted.AccessToken, "npm-alice", *key.Sid},
		{"capability token", minted.CapabilityToken, "npm-tommy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, server := iceServersWith(t, n, tc.jwt)
			if code != 200 {
				t.Fatalf("/v1/ice-servers answered %d", code)
			}
			u, err := credentials.ParseTURNUsername(server.username)
			if err != nil || u.Identity != tc.identity || u.AccountSID != n.AccountSID {
				t.Fatalf("username %q parsed as %+v (%v)", server.username, u, err)
			}
			if tc.cred != "" && u.CredID != tc.cred {
				t.Errorf("credential ID %s, want %s", u.CredID, tc.cred)
			}
			if err := relayThrough(t, server, peer); err != nil {
				t.Fatalf("relay with the issued credentials: %v", err)
			}
		})
	}
}
