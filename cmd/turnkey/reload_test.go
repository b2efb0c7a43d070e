package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// servedSerial handshakes with the TLS listener at addr, trusting roots, and
// returns the serial of the certificate served.
func servedSerial(t *testing.T, addr string, roots ...testCert) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, turnsClientConfig(pool(roots...)))
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// waitSerial polls new handshakes until one is served the certificate
// want, within a deadline covering a few of the holder's 2 s file checks.
func waitSerial(t *testing.T, addr string, want testCert, roots ...testCert) {
	t.Helper()
	testenv.WaitForErr(t, fmt.Sprintf("%s to serve serial %v", addr, want.Serial), 15*time.Second, func() error {
		if got := servedSerial(t, addr, roots...); got.Cmp(want.Serial) != 0 {
			return fmt.Errorf("still serves serial %v", got)
		}
		return nil
	})
}

// TestCertReload: the certificate is replaced without a restart. New
// connections get the new certificate once the file watch sees it, or at
// once on a reload (SIGHUP); a connection opened before keeps its session
// and relays on; a broken certificate is refused with an error in the log
// and the one in service stays.
func TestCertReload(t *testing.T) {
	files := newCertFiles(t)
	certA, certB, certC := newTestCert(t, "A"), newTestCert(t, "B"), newTestCert(t, "C")
	all := []testCert{certA, certB, certC}
	files.write(t, certA)
	n := startTestNode(t, func(c *config.Config) {
		c.TLS.CertFile, c.TLS.KeyFile = files.Cert, files.Key
	})
	peer := testnet.UDPEcho(t)
	user, pass := mintTURN(n.Secret, "cert-reload")

	old, state, err := dialAllocate("tls", n.TURNTLS, turnsClientConfig(pool(certA)), user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := state.PeerCertificates[0].SerialNumber; got.Cmp(certA.Serial) != 0 {
		t.Fatalf("first connection got serial %v, want A %v", got, certA.Serial)
	}

	// The file watch: no signal, no restart.
	files.write(t, certB)
	for _, addr := range []string{n.TURNTLS, n.TURNAlt} {
		waitSerial(t, addr, certB, all...)
	}
	if err := old.echo(peer, []byte("old session after rotation to B")); err != nil {
		t.Fatalf("connection from before the rotation: %v", err)
	}

	// SIGHUP: the reload reads the files itself, so the very next
	// handshake has the new certificate whatever the watch is doing.
	files.write(t, certC)
	n.reload()
	for _, addr := range []string{n.TURNTLS, n.TURNAlt} {
		if got := servedSerial(t, addr, all...); got.Cmp(certC.Serial) != 0 {
			t.Fatalf("%s after reload: serial %v, want C %v", addr, got, certC.Serial)
		}
	}

	expired := newTestCertValid(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	other := newTestCert(t, "other")
	broken := []struct {
		name          string
		certPEM, key  []byte
		wantLogReason string
	}{
		{"not PEM", []byte("not a certificate\n"), certC.KeyPEM, "failed to find any PEM data"},
		{"key of another certificate", certC.CertPEM, other.KeyPEM, "private key does not match"},
		{"expired", expired.CertPEM, expired.KeyPEM, "expired on"},
	}
	for _, tc := range broken {
		t.Run("refused on reload: "+tc.name, func(t *testing.T) {
			before := strings.Count(n.Logs.String(), "reload: TLS certificate refused")
			files.writeRaw(t, tc.certPEM, tc.key)
			n.reload()
			logs := n.Logs.String()
			if strings.Count(logs, "reload: TLS certificate refused") != before+1 {
				t.Fatalf("no refusal logged for %s", tc.name)
			}
			if !strings.Contains(logs[strings.LastIndex(logs, "reload: TLS certificate refused"):], tc.wantLogReason) {
				t.Errorf("refusal does not give the reason %q", tc.wantLogReason)
			}
			if got := servedSerial(t, n.TURNTLS, all...); got.Cmp(certC.Serial) != 0 {
				t.Fatalf("after a refused certificate: serial %v, want C %v", got, certC.Serial)
			}
		})
	}

	t.Run("refused by the watch", func(t *testing.T) {
		const msg = "TLS certificate reload failed; keeping the previous certificate"
		before := strings.Count(n.Logs.String(), msg)
		files.writeRaw(t, []byte("garbage\n"), []byte("garbage\n"))
		testenv.WaitFor(t, "the watch to log an error for a broken certificate", 15*time.Second, func() bool {
			return strings.Count(n.Logs.String(), msg) > before
		})
		if got := servedSerial(t, n.TURNTLS, all...); got.Cmp(certC.Serial) != 0 {
			t.Fatalf("after a broken certificate: serial %v, want C %v", got, certC.Serial)
		}
		// Mending the files is picked up again.
		files.write(t, certB)
		waitSerial(t, n.TURNTLS, certB, all...)
	})

	if err := old.echo(peer, []byte("old session at the end")); err != nil {
		t.Fatalf("connection from before every rotation: %v", err)
	}
}

// TestCertReloadBinary: SIGHUP to the running binary loads a replaced
// certificate for new connections.
func TestCertReloadBinary(t *testing.T) {
	files := newCertFiles(t)
	certA, certB := newTestCert(t, "A"), newTestCert(t, "B")
	files.write(t, certA)
	c := newBinaryConfig(t)
	c.CertFile, c.KeyFile = files.Cert, files.Key
	p, _ := startBinaryReady(t, c)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", c.TLSPort)
	if got := servedSerial(t, tlsAddr, certA, certB); got.Cmp(certA.Serial) != 0 {
		t.Fatalf("serial %v, want A %v", got, certA.Serial)
	}
	loaded := p.countLog("TLS certificate loaded", certB.Serial.String())
	files.write(t, certB)
	p.Signal(t, syscall.SIGHUP)
	// The watch may load B first; either way B is loaded with no restart.
	p.waitLog(t, loaded, "TLS certificate loaded", certB.Serial.String())
	if got := servedSerial(t, tlsAddr, certA, certB); got.Cmp(certB.Serial) != 0 {
		t.Fatalf("serial %v after reload, want B %v", got, certB.Serial)
	}
	if p.Exited() {
		t.Fatalf("turnkey exited on SIGHUP with code %d", p.ExitCode())
	}
}

// tokensResponse is the part of a Tokens.json answer these tests read.
type tokensResponse struct {
	IceServers []struct {
		URLs       string `json:"urls"`
		Username   string `json:"username"`
		Credential string `json:"credential"`
	} `json:"ice_servers"`
}

// createToken posts to the Twilio Tokens resource with form values and
// returns the status code and, for 201, the answer.
func createToken(t *testing.T, apiListen string, acct binaryAccount, form url.Values) (int, tokensResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost,
		"http://"+apiListen+"/2010-04-01/Accounts/"+acct.AccountSID+"/Tokens.json", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(acct.AccountSID, acct.AuthToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST Tokens.json: %v", err)
	}
	defer resp.Body.Close()
	var out tokensResponse
	if resp.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("decode Tokens.json: %v", err)
		}
	}
	return resp.StatusCode, out
}

// TestReloadConfig: SIGHUP to the binary applies a changed configuration
// file: a new signing secret with the old one still verifying, new regions;
// an invalid file is refused with the field named and the running
// configuration kept.
func TestReloadConfig(t *testing.T) {
	const newSecret = "rotated-secret-fedcba9876543210"
	c := newBinaryConfig(t)
	c.Regions = map[string]string{"eu": "eu.relay.example"}
	p, acct := startBinaryReady(t, c)
	peer := testnet.UDPEcho(t)
	udp := fmt.Sprintf("127.0.0.1:%d", c.UDPPort)

	relays := func(t *testing.T, secret string) error {
		t.Helper()
		// A username of its own per secret: the relay keeps, per
		// username, a hint of the secret that verified its last request,
		// and the Refresh closing the previous allocation (same username
		// when minted in the same second) may still be in flight.
		user, pass := mintTURN(secret, "reload-config-"+secret[:7])
		s, _, err := dialAllocate("udp", udp, nil, user, pass)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.echo(peer, []byte("signed with "+secret[:7]))
	}
	if err := relays(t, newSecret); err == nil {
		t.Fatal("credentials signed with a secret not yet configured were accepted")
	}
	if code, _ := createToken(t, c.APIListen, acct, url.Values{"Region": {"us"}}); code != http.StatusBadRequest {
		t.Fatalf("Region=us before the reload: status %d, want 400", code)
	}

	applied := p.countLog("reload: configuration applied")
	next := c
	next.Secrets = []string{newSecret, binarySecret}
	next.Regions = map[string]string{"eu": "eu.relay.example", "us": "us.relay.example"}
	p.writeConfig(t, next.YAML(t))
	p.Signal(t, syscall.SIGHUP)
	p.waitLog(t, applied, "reload: configuration applied")

	for _, secret := range []string{newSecret, binarySecret} {
		if err := relays(t, secret); err != nil {
			t.Errorf("credentials signed with %s… after the reload: %v", secret[:7], err)
		}
	}
	tests := []struct {
		region, wantHost string
	}{
		{"us", "us.relay.example"},
		{"eu", "eu.relay.example"},
	}
	for _, tc := range tests {
		code, tok := createToken(t, c.APIListen, acct, url.Values{"Region": {tc.region}})
		if code != http.StatusCreated || len(tok.IceServers) == 0 {
			t.Fatalf("Region=%s after the reload: status %d, %d servers", tc.region, code, len(tok.IceServers))
		}
		for _, s := range tok.IceServers {
			if !strings.Contains(s.URLs, ":"+tc.wantHost+":") {
				t.Errorf("Region=%s: URL %s, want host %s", tc.region, s.URLs, tc.wantHost)
			}
			// Issued credentials are signed with the new first secret.
			if s.Username != "" && s.Credential != credentials.TURNPassword([]byte(newSecret), s.Username) {
				t.Errorf("Region=%s: credential not signed with the new first secret", tc.region)
			}
		}
	}

	invalid := []struct {
		name, field string
		mutate      func(*binaryConfig)
	}{
		{"empty realm", "turn.realm", func(b *binaryConfig) { b.Realm = "" }},
		{"short secret", "turn.secrets[0]", func(b *binaryConfig) { b.Secrets = []string{"short"} }},
		{"bad log level", "log.level", func(b *binaryConfig) { b.LogLevel = "loud" }},
	}
	for _, tc := range invalid {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			refused := p.countLog("reload: configuration refused", tc.field)
			bad := next
			tc.mutate(&bad)
			p.writeConfig(t, bad.YAML(t))
			p.Signal(t, syscall.SIGHUP)
			p.waitLog(t, refused, "reload: configuration refused", tc.field)
			if p.Exited() {
				t.Fatalf("turnkey exited on a bad configuration, code %d", p.ExitCode())
			}
			// The running configuration is whole: both secrets, both regions.
			for _, secret := range []string{newSecret, binarySecret} {
				if err := relays(t, secret); err != nil {
					t.Errorf("credentials signed with %s… after a refused reload: %v", secret[:7], err)
				}
			}
			if code, _ := createToken(t, c.APIListen, acct, url.Values{"Region": {"us"}}); code != http.StatusCreated {
				t.Errorf("Region=us after a refused reload: status %d", code)
			}
			if code, err := readyz(c.AdminListen); err != nil || code != http.StatusOK {
				t.Errorf("readyz after a refused reload: %d, %v", code, err)
			}
		})
	}
}

// TestReloadRegionsInProcess: node.reload swaps the token API's regions,
// and a region the API cannot use refuses the whole reload.
func TestReloadRegionsInProcess(t *testing.T) {
	n := startTestNode(t, nil)
	cfg := *n.cfg
	n.reloadConfig = func() (*config.Loaded, error) {
		next := cfg
		next.API.Regions = map[string]string{"ap": "ap.relay.example"}
		return &next, nil
	}
	n.reload()
	code, tok := createToken(t, strings.TrimPrefix(n.API, "http://"), binaryAccount{n.AccountSID, n.AuthToken},
		url.Values{"Region": {"ap"}})
	if code != http.StatusCreated || !strings.Contains(tok.IceServers[0].URLs, "ap.relay.example") {
		t.Fatalf("Region=ap after reload: status %d, %+v", code, tok.IceServers)
	}

	// Config validation lets "bad..name" through; the API's host check
	// does not, and the reload is refused whole.
	n.reloadConfig = func() (*config.Loaded, error) {
		next := cfg
		next.API.Regions = map[string]string{"ap": "bad..name"}
		next.Log.Level = "error"
		return &next, nil
	}
	n.reload()
	if !strings.Contains(n.Logs.String(), "reload: configuration refused") {
		t.Fatal("a region with a malformed host was not refused")
	}
	if n.level.Level() != parseLevel(cfg.Log.Level) {
		t.Errorf("log level %v after a refused reload, want %v", n.level.Level(), cfg.Log.Level)
	}
	code, tok = createToken(t, strings.TrimPrefix(n.API, "http://"), binaryAccount{n.AccountSID, n.AuthToken},
		url.Values{"Region": {"ap"}})
	if code != http.StatusCreated || !strings.Contains(tok.IceServers[0].URLs, "ap.relay.example") {
		t.Fatalf("Region=ap after a refused reload: status %d, %+v", code, tok.IceServers)
	}
}

// TestReloadSigningSecret: one reload rotates the signing secret for the
// token API and the relay together (they hold the same keyring): the API
// signs with the new first secret and names it in the username, the relay
// accepts those credentials at once, and credentials issued before the
// reload still verify while their secret is listed, and stop when a later
// reload drops it. An API-only node rotates the same way.
func TestReloadSigningSecret(t *testing.T) {
	const newSecret = "reloaded-signing-secret-0123456789"
	for _, role := range []string{"all", "api"} {
		t.Run(role, func(t *testing.T) {
			n := startTestNode(t, func(c *config.Config) { c.Role = role })
			cfg := *n.cfg
			reloadWith := func(secrets ...config.Secret) {
				t.Helper()
				applied := strings.Count(n.Logs.String(), "reload: configuration applied")
				n.reloadConfig = func() (*config.Loaded, error) {
					next := cfg
					next.TURN.Secrets = secrets
					return &next, nil
				}
				n.reload()
				if strings.Count(n.Logs.String(), "reload: configuration applied") != applied+1 {
					t.Fatalf("reload not applied:\n%s", n.Logs.String())
				}
			}
			// issue returns one TURN credential from Tokens.json, checking
			// it is signed by secret and names it.
			issue := func(secret string) (string, string) {
				t.Helper()
				code, tok := createToken(t, strings.TrimPrefix(n.API, "http://"), binaryAccount{n.AccountSID, n.AuthToken}, nil)
				if code != http.StatusCreated || len(tok.IceServers) == 0 {
					t.Fatalf("Tokens.json: status %d, %d servers", code, len(tok.IceServers))
				}
				for _, s := range tok.IceServers {
					if s.Username == "" {
						continue
					}
					u, err := credentials.ParseTURNUsername(s.Username)
					if err != nil || u.SecretID != credentials.SecretID([]byte(secret)) {
						t.Fatalf("%s: username %q does not name the signing secret (%+v, %v)", s.URLs, s.Username, u, err)
					}
					if s.Credential != credentials.TURNPassword([]byte(secret), s.Username) {
						t.Fatalf("%s: credential not signed with secret %s", s.URLs, u.SecretID)
					}
					return s.Username, s.Credential
				}
				t.Fatal("Tokens.json carries no TURN credential")
				return "", ""
			}
			allocates := func(user, pass string) int {
				t.Helper()
				if n.TURNUDP == "" {
					return 0 // API-only: no relay here to ask
				}
				return newRawSession(t, n.TURNUDP, user, pass).allocate()
			}

			oldUser, oldPass := issue(testTURNSecret)
			reloadWith(newSecret, testTURNSecret)
			newUser, newPass := issue(newSecret)
			if code := allocates(newUser, newPass); code != 0 {
				t.Errorf("the relay refuses what the API signs after the reload: %d", code)
			}
			if code := allocates(oldUser, oldPass); code != 0 {
				t.Errorf("credentials issued before the reload refused while their secret is listed: %d", code)
			}

			reloadWith(newSecret)
			if code := allocates(oldUser, oldPass); n.TURNUDP != "" && code != 401 {
				t.Errorf("credentials of a dropped secret: %d, want 401", code)
			}
			if code := allocates(newUser, newPass); code != 0 {
				t.Errorf("credentials of the remaining secret refused: %d", code)
			}
			if logs := n.Logs.String(); strings.Contains(logs, newSecret) || strings.Contains(logs, testTURNSecret) {
				t.Error("a TURN secret appears in the log")
			}
		})
	}
}

// TestReloadClasses: a reload applies the settings declared live and names,
// in one warning, every changed setting declared restart-only, so none is
// ignored silently.
func TestReloadClasses(t *testing.T) {
	n := startTestNode(t, nil)
	cfg := *n.cfg
	n.reloadConfig = func() (*config.Loaded, error) {
		next := cfg
		next.Log.Level = "warn"                                      // live
		next.TURN.Realm = "elsewhere"                                // restart-only
		next.TURN.MaxTTL = config.Duration(time.Hour)                // restart-only
		next.API.MaxBodyBytes = cfg.API.MaxBodyBytes + 1             // restart-only
		next.Store.RevocationPoll = config.Duration(3 * time.Second) // restart-only
		return &next, nil
	}
	n.reload()
	if n.level.Level() != slog.LevelWarn {
		t.Errorf("log level %v after the reload, want warn (live)", n.level.Level())
	}
	logs := n.Logs.String()
	i := strings.Index(logs, "reload: these settings take effect only after a restart")
	if i < 0 {
		t.Fatalf("no restart-only warning:\n%s", logs)
	}
	line, _, _ := strings.Cut(logs[i:], "\n")
	for _, f := range []string{"turn.realm", "turn.max_ttl", "api.max_body_bytes", "store.revocation_poll"} {
		if !strings.Contains(line, f) {
			t.Errorf("restart-only warning does not name %s: %s", f, line)
		}
	}
	if strings.Contains(line, "log.level") {
		t.Errorf("the live log level is reported as restart-only: %s", line)
	}
}
