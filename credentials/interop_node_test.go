package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// These tests drive the real npm twilio 6.2.0 package through
// clients/node/twilio-jwt.js: tokens it mints must verify here with the same
// grants, and tokens minted here must verify in its jsonwebtoken.

// nodeClientDir finds clients/node under the module root, skipping the test
// when node or the npm packages are missing, except in CI where a silent
// skip would hide lost coverage.
func nodeClientDir(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath("node"); err != nil {
		unavailable("node is not installed; install Node.js to run the twilio-node interop tests")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	client := filepath.Join(dir, "clients", "node")
	if _, err := os.Stat(filepath.Join(client, "node_modules", "twilio", "package.json")); err != nil {
		unavailable("the twilio npm package is missing; run `npm install --no-audit --no-fund` in %s", client)
	}
	return client
}

// runNode sends req as JSON to twilio-jwt.js in the given mode and decodes
// its output into out.
func runNode(t *testing.T, mode string, req, out any) {
	t.Helper()
	dir := nodeClientDir(t)
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "twilio-jwt.js", mode)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node twilio-jwt.js %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node output %q: %v", stdout.String(), err)
	}
}

// interopGrants is one grant of every kind, in twilio-node's option names
// (for the script) and as turnkey Grants.
func interopGrants() (map[string]any, Grants) {
	player := `{"playbackGrant":{"playbackUrl":"https://x.example/p?a=1&b=2","playerStreamerSid":"VJ00000000000000000000000000000000","requestCredentials":null}}`
	node := map[string]any{
		"voice": map[string]any{
			"incomingAllow": true, "outgoingApplicationSid": goldenAppSID,
			"outgoingApplicationParams": map[string]any{"n": 7, "to": "+1 555 <x>&y"},
			"pushCredentialSid":         "CR00000000000000000000000000000000", "endpointId": "alice-phone",
		},
		"video": map[string]any{"room": "room1"},
		"chat": map[string]any{
			"serviceSid": "IS00000000000000000000000000000000", "endpointId": "alice:web",
			"deploymentRoleSid": "RL00000000000000000000000000000000", "pushCredentialSid": "CR11111111111111111111111111111111",
		},
		"sync":       map[string]any{"serviceSid": "IS11111111111111111111111111111111", "endpointId": "alice:sync"},
		"taskRouter": map[string]any{"workspaceSid": "WS00000000000000000000000000000000", "workerSid": "WK00000000000000000000000000000000", "role": "worker"},
		"playback":   map[string]any{"grant": json.RawMessage(player)},
	}
	goGrants := Grants{
		Identity: "alice",
		Voice: &VoiceGrant{
			IncomingAllow: true, OutgoingApplicationSID: goldenAppSID,
			OutgoingParams:    map[string]any{"n": float64(7), "to": "+1 555 <x>&y"},
			PushCredentialSID: "CR00000000000000000000000000000000", EndpointID: "alice-phone",
		},
		Video: &VideoGrant{Room: "room1"},
		Chat: &ChatGrant{
			ServiceSID: "IS00000000000000000000000000000000", EndpointID: "alice:web",
			DeploymentRoleSID: "RL00000000000000000000000000000000", PushCredentialSID: "CR11111111111111111111111111111111",
		},
		Sync:       &SyncGrant{ServiceSID: "IS11111111111111111111111111111111", EndpointID: "alice:sync"},
		TaskRouter: &TaskRouterGrant{WorkspaceSID: "WS00000000000000000000000000000000", WorkerSID: "WK00000000000000000000000000000000", Role: "worker"},
		Player:     json.RawMessage(player),
	}
	return node, goGrants
}

func interopScopes() (map[string]any, Scopes) {
	node := map[string]any{
		"incoming":    "tommy",
		"outgoing":    map[string]any{"applicationSid": goldenAppSID, "clientName": "tommy", "params": map[string]any{"foo": "bar baz", "to": "+1&x=y"}},
		"eventStream": map[string]any{"foo": "bar"},
	}
	goScopes := Scopes{
		Incoming:    &IncomingScope{ClientName: "tommy"},
		Outgoing:    &OutgoingScope{ApplicationSID: goldenAppSID, ClientName: "tommy", Params: map[string]string{"foo": "bar baz", "to": "+1&x=y"}},
		EventStream: &EventStreamScope{Params: map[string]string{"foo": "bar"}},
	}
	return node, goScopes
}

type nodeMinted struct {
	AccessToken     string `json:"accessToken"`
	CapabilityToken string `json:"capabilityToken"`
}

func mintRequest(now *int64) map[string]any {
	nodeGrants, _ := interopGrants()
	nodeScopes, _ := interopScopes()
	req := map[string]any{
		"accountSid": goldenAccount, "keySid": goldenKey, "keySecret": goldenSecret, "authToken": goldenAuthToken,
		"identity": "alice", "ttl": 7200, "region": "ie1", "grants": nodeGrants, "capability": nodeScopes,
	}
	if now != nil {
		req["now"] = *now
		req["nbf"] = *now - 60
	}
	return req
}

func TestNodeMintedTokensVerify(t *testing.T) {
	var got nodeMinted
	runNode(t, "mint", mintRequest(nil), &got)
	_, wantGrants := interopGrants()
	_, wantScopes := interopScopes()
	now := time.Now()

	at, err := VerifyAccessToken(context.Background(), got.AccessToken, testKeys, now)
	if err != nil {
		t.Fatalf("twilio-node Access Token: %v", err)
	}
	if !reflect.DeepEqual(at.Grants, wantGrants) {
		t.Errorf("grants = %#v\nwant %#v", at.Grants, wantGrants)
	}
	if at.Region != "ie1" || at.Issuer != goldenKey || at.Subject != goldenAccount || at.ExpiresAt.Sub(at.IssuedAt.Time) != 2*time.Hour {
		t.Errorf("claims = %+v", at)
	}

	b, err := VerifyBearer(context.Background(), got.CapabilityToken, testKeys, testAccounts, now)
	if err != nil {
		t.Fatalf("twilio-node Capability Token: %v", err)
	}
	if b.Kind != BearerCapability || b.Identity != "tommy" || b.CredID != goldenTokenID || !scopesEqual(b.Capability.Scopes, wantScopes) {
		t.Errorf("bearer = %+v, scopes %+v", b, b.Capability.Scopes)
	}
}

// With the clock frozen and grants added in turnkey's order, twilio-node and
// turnkey must produce the very same bytes.
func TestNodeByteIdentical(t *testing.T) {
	now := goldenNow.Unix()
	var got nodeMinted
	runNode(t, "mint", mintRequest(&now), &got)
	_, grants := interopGrants()
	_, scopes := interopScopes()

	access, err := AccessToken{
		AccountSID: goldenAccount, KeySID: goldenKey, Secret: goldenSecret, TTL: 2 * time.Hour,
		NotBefore: goldenNow.Add(-time.Minute), Region: "ie1", Grants: grants,
	}.Sign(goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	capability, err := CapabilityToken{AccountSID: goldenAccount, AuthToken: goldenAuthToken, Scopes: scopes}.Sign(goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, turnkey, node string }{
		{"access", access, got.AccessToken},
		{"capability", capability, got.CapabilityToken},
	} {
		if c.turnkey != c.node {
			t.Errorf("%s token differs\nturnkey payload: %s\n   node payload: %s", c.name, payloadOf(t, c.turnkey), payloadOf(t, c.node))
		}
	}
}

type nodeDecoded struct {
	Header  map[string]any `json:"header"`
	Payload map[string]any `json:"payload"`
	Error   string         `json:"error"`
}

func TestNodeDecodesTurnkeyTokens(t *testing.T) {
	_, grants := interopGrants()
	_, scopes := interopScopes()
	now := time.Now()
	access, err := AccessToken{AccountSID: goldenAccount, KeySID: goldenKey, Secret: goldenSecret, Region: "ie1", Grants: grants}.Sign(now)
	if err != nil {
		t.Fatal(err)
	}
	capability, err := CapabilityToken{AccountSID: goldenAccount, AuthToken: goldenAuthToken, Scopes: scopes}.Sign(now)
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"now": now.Unix(), "tokens": []map[string]string{
		{"jwt": access, "secret": goldenSecret},
		{"jwt": capability, "secret": goldenAuthToken},
		{"jwt": access, "secret": "wrong"},
	}}
	var got []nodeDecoded
	runNode(t, "decode", req, &got)
	if len(got) != 3 {
		t.Fatalf("node decoded %d tokens, want 3", len(got))
	}
	for i, tok := range []string{access, capability} {
		if got[i].Error != "" {
			t.Fatalf("jsonwebtoken refused turnkey token %d: %s", i, got[i].Error)
		}
		wantHeader, wantPayload := decodedParts(t, tok)
		if !reflect.DeepEqual(got[i].Header, wantHeader) || !reflect.DeepEqual(got[i].Payload, wantPayload) {
			t.Errorf("token %d: jsonwebtoken saw %v %v\nwant %v %v", i, got[i].Header, got[i].Payload, wantHeader, wantPayload)
		}
	}
	if !strings.Contains(got[2].Error, "invalid signature") {
		t.Errorf("jsonwebtoken with the wrong secret: %+v, want an invalid signature error", got[2])
	}

	// The scope text is parsed on the Node side too: its claim must read back
	// into the same scopes.
	scope, _ := got[1].Payload["scope"].(string)
	if parsed, err := ParseScopes(scope); err != nil || !scopesEqual(parsed, scopes) {
		t.Errorf("scope %q parsed to %+v, %v", scope, parsed, err)
	}
}

func decodedParts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if err := decodeSegment(parts[0], &header); err != nil {
		t.Fatal(err)
	}
	if err := decodeSegment(parts[1], &payload); err != nil {
		t.Fatal(err)
	}
	return header, payload
}
