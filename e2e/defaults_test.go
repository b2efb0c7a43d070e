package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// TestServeOnEmbeddedDefaults runs `turnkey serve` as a fresh machine would:
// no config file and no flags, only TURNKEY_DATA_DIR so the test does not
// write /var/lib/turnkey. In a namespace of its own the default ports are
// free: STUN Binding must be answered on UDP 3478, TCP 3478 and TCP 443, the
// Tokens endpoint on :8080 must list exactly those, and a second start must
// keep the generated secret and the account.
func TestServeOnEmbeddedDefaults(t *testing.T) {
	requireNetns(t)
	bin := turnkeyBinary(t)
	ns := newNetns(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	start := func() *testenv.Proc {
		cmd := ns.command(context.Background(), "env", "-i", "PATH=/usr/bin:/bin", "TURNKEY_DATA_DIR="+dataDir, bin, "serve")
		p := testenv.Start(t, "turnkey serve (defaults)", cmd)
		answered := testenv.Eventually(20*time.Second, func() bool {
			return p.Exited() || bindingAnswered(ns, "udp", "127.0.0.1:3478")
		})
		if !answered || p.Exited() {
			t.Fatalf("turnkey on defaults did not answer STUN on UDP 3478\n%s", p.Out.Tail(4096))
		}
		return p
	}
	p := start()
	for _, l := range []struct{ network, addr string }{{"tcp", "127.0.0.1:3478"}, {"tcp", "127.0.0.1:443"}} {
		if !bindingAnswered(ns, l.network, l.addr) {
			t.Errorf("no STUN Binding answer on %s %s", l.network, l.addr)
		}
	}
	secret, err := os.ReadFile(filepath.Join(dataDir, "turn-secret"))
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dataDir, "turn-secret")); st.Mode().Perm() != 0o600 {
		t.Errorf("turn-secret mode %v, want 0600", st.Mode().Perm())
	}
	var acct struct {
		AccountSID string `json:"account_sid"`
		AuthToken  string `json:"auth_token"`
	}
	// The relay binds before the API creates the first account.
	err = testenv.EventuallyErr(20*time.Second, func() error {
		raw, err := os.ReadFile(filepath.Join(dataDir, "initial-account.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &acct); err != nil || acct.AuthToken == "" {
			return fmt.Errorf("no auth token in the account file yet (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no initial account within 20s: %v\n%s", err, p.Out.Tail(4096))
	}
	if !strings.Contains(p.Out.String(), acct.AuthToken) {
		t.Error("the first start did not print the auth token once")
	}
	// The account file is written before the API listener binds.
	if !testenv.Eventually(20*time.Second, func() bool { return apiAnswers(ns) }) {
		t.Fatalf("the API on :8080 did not answer within 20s\n%s", p.Out.Tail(4096))
	}
	urls := tokenURLs(t, ns, acct.AccountSID, acct.AuthToken)
	want := []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turn:127.0.0.1:443?transport=tcp"}
	if strings.Join(urls, " ") != strings.Join(want, " ") {
		t.Errorf("ICE server URLs on defaults:\n got %v\nwant %v", urls, want)
	}
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (want exit 0)", err)
	}

	// A restart keeps the secret and the account, and prints no new token.
	p = start()
	again, _ := os.ReadFile(filepath.Join(dataDir, "turn-secret"))
	if string(again) != string(secret) {
		t.Error("the TURN secret changed across a restart")
	}
	if strings.Contains(p.Out.String(), "Auth token") {
		t.Error("a restart printed account credentials again")
	}
	// The relay answers before the API listener binds, on a restart too.
	if !testenv.Eventually(20*time.Second, func() bool { return apiAnswers(ns) }) {
		t.Fatalf("after restart the API on :8080 did not answer within 20s\n%s", p.Out.Tail(4096))
	}
	if urls := tokenURLs(t, ns, acct.AccountSID, acct.AuthToken); len(urls) != len(want) {
		t.Errorf("after restart: %v", urls)
	}
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (want exit 0)", err)
	}
}

// bindingAnswered sends one STUN Binding request inside the namespace.
func bindingAnswered(ns *netns, network, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.dial(ctx, network, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		return false
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return false
	}
	res := &stun.Message{Raw: buf[:n]}
	if res.Decode() != nil || res.Type != stun.BindingSuccess || res.TransactionID != req.TransactionID {
		return false
	}
	var mapped stun.XORMappedAddress
	return mapped.GetFrom(res) == nil && mapped.IP.Equal(net.IPv4(127, 0, 0, 1))
}

// apiAnswers reports whether the API on the default port answers at all.
func apiAnswers(ns *netns) bool {
	res, err := ns.httpClient().Get("http://127.0.0.1:8080/")
	if err != nil {
		return false
	}
	res.Body.Close()
	return true
}

func tokenURLs(t *testing.T, ns *netns, sid, token string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:8080/2010-04-01/Accounts/%s/Tokens.json", sid), strings.NewReader("Ttl=60"))
	req.SetBasicAuth(sid, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := ns.httpClient().Do(req)
	if err != nil {
		t.Fatalf("Tokens.json: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		IceServers []struct {
			URLs string `json:"urls"`
		} `json:"ice_servers"`
	}
	if res.StatusCode != http.StatusCreated || json.NewDecoder(res.Body).Decode(&body) != nil {
		t.Fatalf("Tokens.json: status %d", res.StatusCode)
	}
	var urls []string
	for _, s := range body.IceServers {
		urls = append(urls, s.URLs)
	}
	return urls
}
