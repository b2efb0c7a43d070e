package tokenapi

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeClientsDir holds the Node scripts and their node_modules.
var nodeClientsDir = filepath.Join("..", "..", "clients", "node")

// runNode runs a script from clients/node against e and decodes its JSON
// output into out. Without node or the twilio package it skips, unless
// CI=true, where a missing client must fail the build rather than pass it.
func runNode(t *testing.T, e *env, script string, extraEnv []string, out any) {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("real Twilio Node client unavailable in CI: %s", why)
		}
		t.Skipf("real Twilio Node client unavailable: %s", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(nodeClientsDir, "node_modules", "twilio", "package.json")); err != nil {
		unavailable("clients/node/node_modules/twilio is missing; run `npm install --no-audit --no-fund` in clients/node")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeClientsDir
	cmd.Env = append(childEnv(), "BASE_URL="+e.srv.URL, "ACCOUNT_SID="+e.account.SID, "AUTH_TOKEN="+e.account.AuthToken)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node %s printed %q: %v", script, stdout, err)
	}
}

// childEnv is the test's environment without what would send the helper
// library elsewhere: TWILIO_EDGE/TWILIO_REGION rewrite the host name, and a
// proxy would take loopback traffic off the machine.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "TWILIO_EDGE", "TWILIO_REGION", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

type nodeToken struct {
	AccountSid string `json:"accountSid"`
	TTL        string `json:"ttl"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	IceServers []struct {
		URL        string `json:"url"`
		URLs       string `json:"urls"`
		Username   string `json:"username"`
		Credential string `json:"credential"`
	} `json:"iceServers"`
}

func TestNodeTwilioTokens(t *testing.T) {
	e := newEnv(t, nil, nil)
	var out struct {
		WithoutTTL     nodeToken `json:"withoutTtl"`
		WithTTL        nodeToken `json:"withTtl"`
		BadCredentials struct {
			Status   int    `json:"status"`
			Code     int    `json:"code"`
			MoreInfo string `json:"moreInfo"`
		} `json:"badCredentials"`
	}
	runNode(t, e, "twilio-tokens.js", []string{"TTL=900"}, &out)
	now := e.clock.Now()
	tests := []struct {
		name string
		tok  nodeToken
		ttl  time.Duration
	}{
		{"without ttl", out.WithoutTTL, 86400 * time.Second},
		{"with ttl", out.WithTTL, 900 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tok.AccountSid != e.account.SID || tc.tok.TTL != strconv.Itoa(int(tc.ttl/time.Second)) {
				t.Errorf("account %q ttl %q", tc.tok.AccountSid, tc.tok.TTL)
			}
			checkTURNUser(t, tc.tok.Username, tc.tok.Password, e.account.SID, e.account.AuthTokenID, now.Add(tc.ttl))
			if len(tc.tok.IceServers) != 6 || tc.tok.IceServers[0].URLs != "stun:relay.example.com:3478" ||
				tc.tok.IceServers[1].Credential != tc.tok.Password {
				t.Errorf("ice servers %+v", tc.tok.IceServers)
			}
		})
	}
	if b := out.BadCredentials; b.Status != 401 || b.Code != 20003 || b.MoreInfo != "https://www.twilio.com/docs/errors/20003" {
		t.Errorf("bad credentials: %+v; want 401/20003", b)
	}
	e.assertNoSecrets(e.account.AuthToken)
}

func TestNodeTwilioKeys(t *testing.T) {
	e := newEnv(t, nil, nil)
	var out struct {
		Created []struct {
			SID          string `json:"sid"`
			FriendlyName string `json:"friendlyName"`
			HasSecret    bool   `json:"hasSecret"`
		} `json:"created"`
		Listed       []string  `json:"listed"`
		Fetched      string    `json:"fetched"`
		Renamed      string    `json:"renamed"`
		TokenWithKey nodeToken `json:"tokenWithKey"`
		Removed      bool      `json:"removed"`
		AfterRemove  struct {
			Status int `json:"status"`
			Code   int `json:"code"`
		} `json:"afterRemove"`
	}
	runNode(t, e, "twilio-keys.js", nil, &out)
	if len(out.Created) != 3 || !out.Created[0].HasSecret || out.Created[0].FriendlyName != "node-a" {
		t.Fatalf("created %+v", out.Created)
	}
	if len(out.Listed) != 3 {
		t.Errorf("listed %v across pages of 2; want 3 keys", out.Listed)
	}
	if out.Fetched != "node-a" || out.Renamed != "node-renamed" || !out.Removed {
		t.Errorf("fetched %q renamed %q removed %v", out.Fetched, out.Renamed, out.Removed)
	}
	checkTURNUser(t, out.TokenWithKey.Username, out.TokenWithKey.Password, e.account.SID, out.Created[0].SID, e.clock.Now().Add(120*time.Second))
	if out.AfterRemove.Status != 401 || out.AfterRemove.Code != 20003 {
		t.Errorf("deleted key still authenticates: %+v", out.AfterRemove)
	}
	if id := <-e.revoked; id != out.Created[0].SID {
		t.Errorf("OnRevoke(%s); want %s", id, out.Created[0].SID)
	}
}
