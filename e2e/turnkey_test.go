package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// e2eSecret is the TURN REST shared secret every test server uses.
const e2eSecret = "e2e-secret-0123456789abcdef"

// Fixed addresses are fine: each server has a namespace of its own.
const (
	apiAddr   = "127.0.0.1:8080"
	adminAddr = "127.0.0.1:9641"
)

// turnkeyBinary is ./cmd/turnkey, built once per test binary run.
func turnkeyBinary(t *testing.T) string { return testenv.Binary(t, "./cmd/turnkey") }

// serverOptions varies the configuration between tests.
type serverOptions struct {
	// peerAllow is turn.peer_policy.allow; coturn's echo peer on 127.0.0.1
	// needs it, browsers relaying between our own allocations do not.
	peerAllow []string
	// unlimitedQuotas lifts the per-identity quota: turnutils_uclient uses
	// one username for all its clients.
	unlimitedQuotas bool
	// legacyChannels accepts RFC 5766 channel numbers, which
	// turnutils_uclient picks.
	legacyChannels bool
	// tls writes a self-signed certificate for 127.0.0.1 and turns on
	// turns: on 443 and 5349.
	tls bool
	// listenIP, relayIPs and publicHost are turn.listen_ip, turn.relay_ip
	// and api.public_host; empty: 127.0.0.1 for each.
	listenIP   string
	relayIPs   []string
	publicHost string
}

// server is a running turnkey inside a namespace.
type server struct {
	bin, dir, config string
	ns               *netns
	proc             *testenv.Proc
	http             *http.Client
	accountSID       string
	authToken        string
}

// startTurnkey writes a config, starts `turnkey serve` in ns and waits until
// the bootstrap account exists and both listeners answer. On cleanup it sends
// SIGTERM and requires exit status 0.
func startTurnkey(t *testing.T, ns *netns, opt serverOptions) *server {
	t.Helper()
	s := &server{bin: turnkeyBinary(t), dir: t.TempDir(), ns: ns, http: ns.httpClient()}
	s.config = filepath.Join(s.dir, "turnkey.yaml")
	if err := os.WriteFile(s.config, []byte(configYAML(s.dir, opt)), 0o600); err != nil {
		t.Fatalf("writing config: %v", err)
	}
	s.proc = testenv.Start(t, "turnkey serve", ns.command(context.Background(), s.bin, "serve", "-config", s.config))
	t.Cleanup(func() {
		if s.proc.Exited() {
			t.Errorf("turnkey exited before the test ended: %v", s.proc.Err())
			return
		}
		if err := s.proc.Stop(15 * time.Second); err != nil {
			t.Errorf("turnkey after SIGTERM: %v (want exit status 0)", err)
		}
	})

	account := filepath.Join(s.dir, "data", "initial-account.json")
	ready := testenv.Eventually(30*time.Second, func() bool {
		if s.proc.Exited() {
			t.Fatalf("turnkey exited during startup: %v\n%s", s.proc.Err(), s.proc.Out.Tail(4096))
		}
		return s.ready(account)
	})
	if !ready {
		t.Fatalf("turnkey not ready within 30s (need %s, %s/metrics and the API)\n%s", account, adminAddr, s.proc.Out.Tail(4096))
	}
	return s
}

// ready reports whether the account file is readable and both HTTP
// listeners answer.
func (s *server) ready(accountFile string) bool {
	if s.accountSID == "" {
		raw, err := os.ReadFile(accountFile)
		if err != nil {
			return false
		}
		var acc struct {
			AccountSID string `json:"account_sid"`
			AuthToken  string `json:"auth_token"`
		}
		// The file may be caught half-written: just try again.
		if json.Unmarshal(raw, &acc) != nil || acc.AccountSID == "" || acc.AuthToken == "" {
			return false
		}
		s.accountSID, s.authToken = acc.AccountSID, acc.AuthToken
	}
	if _, err := s.metrics(); err != nil {
		return false
	}
	resp, err := s.http.Get("http://" + apiAddr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func configYAML(dir string, opt serverOptions) string {
	allow := "[]"
	if len(opt.peerAllow) > 0 {
		allow = `["` + strings.Join(opt.peerAllow, `", "`) + `"]`
	}
	tlsPort, tlsSection := "0", ""
	if opt.tls {
		cert, key := writeSelfSigned(dir)
		tlsPort, tlsSection = "5349", fmt.Sprintf("tls: {cert_file: %s, key_file: %s}\n", cert, key)
	}
	quotas := ""
	if opt.unlimitedQuotas {
		quotas = "\n  quotas: {allocations_per_identity: 0, allocations_per_account: 0, allocations_total: 0}"
	}
	if opt.legacyChannels {
		quotas += "\n  legacy_channel_numbers: true"
	}
	listenIP, relayIPs, publicHost := cmp.Or(opt.listenIP, "127.0.0.1"), opt.relayIPs, cmp.Or(opt.publicHost, "127.0.0.1")
	if len(relayIPs) == 0 {
		relayIPs = []string{"127.0.0.1"}
	}
	return fmt.Sprintf(`data_dir: %s
log: {level: info, format: json}
drain_timeout: 1s
turn:
  realm: turnkey
  listen_ip: "%s"
  relay_ip: ["%s"]
  udp_port: 3478
  tcp_port: 3478
  alt_tcp_port: 443
  tls_port: %s
  min_port: 50000
  max_port: 50999
  secrets: ["%s"]
  peer_policy: {allow: %s}%s
api: {listen: "%s", public_host: "%s"}
admin: {listen: "%s"}
%s`, filepath.Join(dir, "data"), listenIP, strings.Join(relayIPs, `", "`), tlsPort, e2eSecret, allow, quotas, apiAddr, publicHost, adminAddr, tlsSection)
}

// twilioICEServers asks the Twilio-compatible Tokens endpoint for ICE
// servers and returns them as issued (Twilio's {url, urls, ...} form).
func (s *server) twilioICEServers(t *testing.T) []json.RawMessage {
	t.Helper()
	var body struct {
		ICEServers []json.RawMessage `json:"ice_servers"`
	}
	s.create(t, "Tokens.json", url.Values{"Ttl": {"600"}}, &body)
	if len(body.ICEServers) == 0 {
		t.Fatal("Tokens.json returned no ice_servers")
	}
	return body.ICEServers
}

// accessTokenICEServers creates an API key over the REST API, mints an
// Access Token with the CLI and exchanges it at /v1/ice-servers.
func (s *server) accessTokenICEServers(t *testing.T) []json.RawMessage {
	t.Helper()
	var key struct {
		SID    string `json:"sid"`
		Secret string `json:"secret"`
	}
	s.create(t, "Keys.json", url.Values{"FriendlyName": {"e2e"}}, &key)
	if key.SID == "" || key.Secret == "" {
		t.Fatalf("Keys.json returned no sid/secret: %+v", key)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, err := runOut(ctx, exec.CommandContext(ctx, s.bin, "token", "access",
		"--account", s.accountSID, "--key", key.SID, "--secret", key.Secret,
		"--identity", "alice", "--grant", "video:room=r1", "--ttl", "1h"))
	if err != nil {
		t.Fatalf("turnkey token access: %v\n%s", err, errOut)
	}
	jwt := strings.TrimSpace(string(out))
	if strings.Count(jwt, ".") != 2 {
		t.Fatalf("turnkey token access printed %q, not a JWT", jwt)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+apiAddr+"/v1/ice-servers", nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	var body struct {
		ICEServers         []json.RawMessage `json:"iceServers"`
		ICETransportPolicy string            `json:"iceTransportPolicy"`
		TTL                int               `json:"ttl"`
	}
	s.doJSON(t, req, http.StatusOK, &body)
	if len(body.ICEServers) == 0 {
		t.Fatal("/v1/ice-servers returned no iceServers")
	}
	return body.ICEServers
}

// create POSTs form to the account's REST resource (e.g. "Keys.json") as
// the account and decodes the 201 answer into into.
func (s *server) create(t *testing.T, resource string, form url.Values, into any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/2010-04-01/Accounts/%s/%s", apiAddr, s.accountSID, resource), strings.NewReader(form.Encode()))
	req.SetBasicAuth(s.accountSID, s.authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.doJSON(t, req, http.StatusCreated, into)
}

func (s *server) doJSON(t *testing.T, req *http.Request, want int, into any) {
	t.Helper()
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, raw)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s %s: decoding %s: %v", req.Method, req.URL.Path, raw, err)
	}
}
