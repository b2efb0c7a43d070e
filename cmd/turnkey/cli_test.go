package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCredentialsCommandIsAcceptedByTheRelay: `turnkey credentials` mints
// offline, from the same configured secret, a pair the relay accepts.
func TestCredentialsCommandIsAcceptedByTheRelay(t *testing.T) {
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	code, out, errOut := runCLI(t, "credentials", "-user", "alice", "-ttl", "1h", "-json",
		"-data-dir", n.DataDir, "-secret", n.Secret)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var c struct {
		Username, Password, Realm string
		TTL                       int `json:"ttl"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	u, err := credentials.ParseTURNUsername(c.Username)
	if err != nil || u.Identity != "alice" || c.TTL != 3600 || c.Realm != "turnkey" {
		t.Fatalf("credentials %+v (%v)", c, err)
	}
	if time.Until(u.Expiry) < 59*time.Minute || time.Until(u.Expiry) > time.Hour+time.Minute {
		t.Errorf("expiry %v", u.Expiry)
	}
	if err := relayThrough(t, iceServer{"turn:" + n.TURNUDP + "?transport=udp", c.Username, c.Password}, peer); err != nil {
		t.Fatalf("relay refused offline credentials: %v", err)
	}
	// Text output carries the same fields.
	code, out, _ = runCLI(t, "credentials", "-user", "bob", "-data-dir", n.DataDir, "-secret", n.Secret)
	if code != 0 || !strings.Contains(out, "username: ") || !strings.Contains(out, "password: ") {
		t.Errorf("text output (%d): %s", code, out)
	}
}

func TestCLIRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"credentials without user", []string{"credentials", "-data-dir", dir}, 2, "-user is required"},
		{"credentials ttl over max", []string{"credentials", "-user", "a", "-ttl", "48h", "-data-dir", dir}, 2, "turn.max_ttl"},
		{"config check names the field", []string{"config", "check", "-max-port", "70000", "-data-dir", dir}, 2, "turn.max_port"},
		{"config check bad env-style value", []string{"config", "check", "-udp-port", "x", "-data-dir", dir}, 2, "udp-port"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"config without verb", []string{"config"}, 2, "usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", code, out+errOut, tc.code, tc.want)
			}
		})
	}
}

func TestConfigPrintRedactsAndCheckPasses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "turnkey.yaml")
	yaml := "data_dir: " + dir + "\nturn:\n  secrets: [a-very-secret-value-0123]\nstore:\n  dsn: postgres://u:dsn-password@db/x\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "config", "check", "-config", path); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	code, out, _ := runCLI(t, "config", "print", "-config", path)
	if code != 0 || strings.Contains(out, "a-very-secret-value-0123") || strings.Contains(out, "dsn-password") || !strings.Contains(out, "udp_port: 3478") {
		t.Fatalf("print (%d):\n%s", code, out)
	}
}

// TestKeysAndAccountsSurviveARestart: a key made through the API on one run
// authenticates on the next, on the same data directory.
func TestKeysAndAccountsSurviveARestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	first := startTestNode(t, func(c *config.Config) { c.DataDir = dataDir })
	key, err := twilioClient(t, first.API, first.AccountSID, first.AuthToken, "").Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatal(err)
	}
	first.shutdown()

	second := startTestNode(t, func(c *config.Config) { c.DataDir = dataDir })
	if second.AccountSID != first.AccountSID {
		t.Fatalf("account changed across restart: %s → %s", first.AccountSID, second.AccountSID)
	}
	if strings.Contains(second.Stdout.String(), first.AuthToken) {
		t.Error("the restart printed the auth token again")
	}
	c := twilioClient(t, second.API, *key.Sid, *key.Secret, first.AccountSID)
	if _, err := c.Api.CreateToken(&openapi.CreateTokenParams{}); err != nil {
		t.Fatalf("key made before the restart: %v", err)
	}
	code, out, errOut := runCLI(t, "keys", "list", "-account", first.AccountSID, "-json", "-data-dir", dataDir)
	if code != 0 || !strings.Contains(out, *key.Sid) {
		t.Fatalf("keys list (%d): %s %s", code, out, errOut)
	}
}

func TestRelayConfigProtectsServicePorts(t *testing.T) {
	c := config.Default()
	c.TURN.ListenIP, c.TURN.RelayIP = config.AddrList{"127.0.0.1"}, config.AddrList{"127.0.0.1"}
	rc, err := relayConfig(&c, false, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rc.ProtectedPorts, 8080) || !slices.Contains(rc.ProtectedPorts, 9641) {
		t.Errorf("protected ports %v, want the API (8080) and admin (9641) ports", rc.ProtectedPorts)
	}
	c.Admin.Listen = ""
	c.API.Listen = "127.0.0.1:0"
	if rc, _ := relayConfig(&c, false, nil, slog.New(slog.DiscardHandler)); len(rc.ProtectedPorts) != 0 {
		t.Errorf("protected ports %v for port 0 and no admin", rc.ProtectedPorts)
	}
}

// TestKeysCreateMain: keys are Standard unless --main; list shows the type.
func TestKeysCreateMain(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runCLI(t, "accounts", "create", "-json", "-data-dir", dataDir)
	if code != 0 {
		t.Fatalf("accounts create (%d): %s", code, errOut)
	}
	var acct struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(out), &acct); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "standard"},
		{[]string{"--main"}, "main"},
		{[]string{"-main=false"}, "standard"},
	}
	for _, tc := range tests {
		args := append([]string{"keys", "create", "-account", acct.SID, "-json", "-data-dir", dataDir}, tc.args...)
		code, out, errOut := runCLI(t, args...)
		var k struct{ Type, Secret string }
		if err := json.Unmarshal([]byte(out), &k); code != 0 || err != nil || k.Type != tc.want || k.Secret == "" {
			t.Errorf("keys create %v (%d): %s %s; want type %s", tc.args, code, out, errOut, tc.want)
		}
	}
	code, out, _ = runCLI(t, "keys", "list", "-account", acct.SID, "-data-dir", dataDir)
	if code != 0 || strings.Count(out, "standard") != 2 || strings.Count(out, "main") != 1 {
		t.Errorf("keys list:\n%s", out)
	}
}

// TestAPIOnlyAdvertisesThePlannedListeners: an API-only node advertises
// what the relay's listener plan binds for the same configuration.
func TestAPIOnlyAdvertisesThePlannedListeners(t *testing.T) {
	cases := []struct {
		name string
		tls  bool
		want string
	}{
		{"without TLS", false, "turn/udp:3478 turn/tcp:3478 turn/tcp:443 "},
		{"with TLS", true, "turn/udp:3478 turn/tcp:3478 turn/tcp:443 turns/tcp:443 turns/tcp:5349 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.TURN.UDPPort, c.TURN.TCPPort, c.TURN.AltTCPPort, c.TURN.TLSPort = 3478, 3478, 443, 5349
			if tc.tls {
				c.TLS.CertFile, c.TLS.KeyFile = "cert.pem", "key.pem"
			}
			n := &node{cfg: &config.Loaded{Config: c}}
			got := ""
			for _, l := range n.apiListeners() {
				got += fmt.Sprintf("%s/%s:%d ", l.Scheme, l.Transport, l.Port)
			}
			if got != tc.want {
				t.Errorf("advertised %q, want %q", got, tc.want)
			}
		})
	}
}
