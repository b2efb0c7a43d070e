//go:build linux

// The multi-node test runs real turnkey processes on their own loopback
// addresses (Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 and up
// need no set-up) sharing one PostgreSQL schema.

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pion/stun/v4"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// revocationBudget is the promise the multi-node test checks: a key deleted
// on an API node is refused by every relay within this long.
const revocationBudget = 5 * time.Second

// TestMultiNode runs one API node and two relay-only nodes as separate
// processes on 127.0.0.1, .2 and .3. The relays reach PostgreSQL through a
// proxy the test controls, so "the database is down" can be staged for them
// alone while the API node keeps working. It checks that:
//   - tokens fetched with twilio-go from the API node point at the relay of
//     the Region asked for, and allocate and relay there;
//   - a key deleted through the API node is refused by both relays within
//     revocationBudget;
//   - with the database unreachable, relays still accept fresh credentials,
//     stay ready, and keep refusing what was revoked;
//   - a relay started while the database is unreachable connects once it is
//     back and then honours revocations like the others.
func TestMultiNode(t *testing.T) {
	baseDSN := mnPostgresDSN(t)
	if testing.Short() {
		t.Skip("multi-node test builds and runs several turnkey processes; skipped with -short")
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			testenv.Require(t, "cannot bind %s (loopback aliases unavailable): %v", ip, err)
		}
		ln.Close()
	}
	// Cleanups run last-in first-out: the schema and the proxy are
	// registered before any process, so they outlive all of them.
	dsn := mnFreshSchema(t, baseDSN)
	pgURL, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	proxy := mnStartProxy(t, pgURL.Host)
	relayURL := *pgURL
	relayURL.Host = proxy.addr
	relayDSN := relayURL.String()

	peer := testnet.UDPEcho(t)
	turnPort := mnFreeTURNPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	secret := "multinode-secret-" + mnRandomHex(t, 8)
	encKey := mnEncryptionKey(t)

	apiPort := mnFreePort(t, "127.0.0.1")
	apiAdmin := mnHostPort("127.0.0.1", mnFreePort(t, "127.0.0.1"))
	apiDir := filepath.Join(t.TempDir(), "api")
	api := mnStart(t, "api", apiAdmin, fmt.Sprintf(`role: api
data_dir: %q
log: {level: debug}
drain_timeout: 1s
turn:
  udp_port: %d
  tcp_port: %d
  alt_tcp_port: 0
  tls_port: 0
  secrets: [%q]
api:
  listen: "127.0.0.1:%d"
  regions: {r1: 127.0.0.2, r2: 127.0.0.3}
admin:
  listen: %q
store:
  dsn: %q
  encryption_key: %q
`, apiDir, turnPort, turnPort, secret, apiPort, apiAdmin, dsn, encKey))
	api.waitReady(t)

	startRelay := func(name, ip string) *mnProc {
		adminAddr := mnHostPort(ip, mnFreePort(t, ip))
		return mnStart(t, name, adminAddr, fmt.Sprintf(`role: relay
data_dir: %q
log: {level: debug}
drain_timeout: 1s
turn:
  listen_ip: %s
  relay_ip: %s
  udp_port: %d
  tcp_port: %d
  alt_tcp_port: 0
  tls_port: 0
  sockets_per_port: 1
  min_port: 61000
  max_port: 61999
  secrets: [%q]
  peer_policy: {allow: [127.0.0.1]}
admin:
  listen: %q
store:
  dsn: %q
  encryption_key: %q
  revocation_poll: 500ms
`, filepath.Join(t.TempDir(), name), ip, ip, turnPort, turnPort, secret, adminAddr, relayDSN, encKey))
	}
	relayA := startRelay("relay-a", "127.0.0.2")
	relayB := startRelay("relay-b", "127.0.0.3")
	relayA.waitReady(t)
	relayB.waitReady(t)

	acct := mnBootstrapAccount(t, apiDir)
	apiBase := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	admin := twilioClient(t, apiBase, acct.AccountSID, acct.AuthToken, "")
	key, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}

	regionHost := map[string]string{"r1": "127.0.0.2", "r2": "127.0.0.3"}
	// keyCreds[region] are the TURN servers issued with the key for that
	// region: one UDP and one TCP URL on that region's relay.
	keyCreds := map[string][]iceServer{}
	// Each phase builds on the state the one before left (a deleted key, a
	// database that is down, relay C), so a failed phase ends the test.
	// Processes are started by the test itself, not a phase, so they live
	// to its end.
	if !t.Run("tokens point at the region's relay", func(t *testing.T) {
		for _, region := range []string{"r1", "r2"} {
			c := mnTwilioClient(t, apiBase, *key.Sid, *key.Secret, acct.AccountSID, region)
			servers := mnFetchTURN(t, c, region, regionHost[region], turnPort)
			for _, s := range servers {
				if err := relayThrough(t, s, peer); err != nil {
					t.Fatalf("relay through %s with key credentials: %v", s.url, err)
				}
			}
			keyCreds[region] = servers
		}
	}) {
		return
	}

	// The key is deleted on the API node; each relay learns it from the feed.
	if !t.Run("a deleted key is refused by every relay", func(t *testing.T) {
		deleted := time.Now()
		if err := admin.Api.DeleteKey(*key.Sid, &openapi.DeleteKeyParams{}); err != nil {
			t.Fatalf("delete key: %v", err)
		}
		mnAwaitRefusal(t, deleted, map[string]iceServer{
			"relay A": keyCreds["r1"][0], "relay B": keyCreds["r2"][0],
		})
		for _, s := range append(keyCreds["r1"], keyCreds["r2"]...) {
			if err := relayThrough(t, s, peer); !mnRefused(err) {
				t.Errorf("revoked key's credentials on %s: err = %v, want 401", s.url, err)
			}
		}
		if _, err := mnTwilioClient(t, apiBase, *key.Sid, *key.Secret, acct.AccountSID, "r1").Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
			t.Error("the API node still issues tokens for the deleted key")
		}
	}) {
		return
	}

	// The database goes away for the relays (the API node, connected
	// directly, keeps working so it can still mint).
	if !t.Run("relays serve through a database outage", func(t *testing.T) {
		proxy.down(t)
		for _, r := range []*mnProc{relayA, relayB} {
			r.waitLog(t, "revocation feed unreachable", 5*time.Second)
			if code := r.readyz(t); code != http.StatusOK {
				t.Errorf("%s: /readyz = %d during the database outage; a relay must stay in rotation", r.Name, code)
			}
		}
		for region, host := range regionHost {
			c := mnTwilioClient(t, apiBase, acct.AccountSID, acct.AuthToken, "", region)
			for _, s := range mnFetchTURN(t, c, region, host, turnPort) {
				if err := relayThrough(t, s, peer); err != nil {
					t.Errorf("fresh credentials on %s during the outage: %v", s.url, err)
				}
			}
			offline := mnOfflineCreds(t, secret, acct.AccountSID, host, turnPort)
			if err := relayThrough(t, offline, peer); err != nil {
				t.Errorf("offline-minted credentials on %s during the outage: %v", offline.url, err)
			}
		}
		for _, s := range append(keyCreds["r1"], keyCreds["r2"]...) {
			if err := relayThrough(t, s, peer); !mnRefused(err) {
				t.Errorf("revoked key's credentials on %s during the outage: err = %v, want 401", s.url, err)
			}
		}
	}) {
		return
	}

	// A relay started while the database is unreachable serves at once and
	// picks up the feed when the database returns.
	relayC := startRelay("relay-c", "127.0.0.4")
	var key2Creds iceServer
	var key2Sid string
	onHost := func(s iceServer, host string) iceServer {
		s.url = strings.Replace(s.url, "127.0.0.2:", host+":", 1)
		return s
	}
	if !t.Run("a relay started during the outage follows the feed once it ends", func(t *testing.T) {
		relayC.waitReady(t)
		relayC.waitLog(t, "store unreachable at start", 5*time.Second)
		onC := mnOfflineCreds(t, secret, acct.AccountSID, "127.0.0.4", turnPort)
		if err := relayThrough(t, onC, peer); err != nil {
			t.Fatalf("relay C started without its database refuses fresh credentials: %v", err)
		}
		key2, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
		if err != nil {
			t.Fatalf("create second key: %v", err)
		}
		key2Sid = *key2.Sid
		key2Creds = mnFetchTURN(t, mnTwilioClient(t, apiBase, *key2.Sid, *key2.Secret, acct.AccountSID, "r1"),
			"r1", "127.0.0.2", turnPort)[0]
		proxy.up(t)
		// The retry backoff is capped at 10 s, plus one bounded open attempt.
		relayC.waitLog(t, "store reachable; following the revocation feed", 20*time.Second)
		// Until now relay C knew no revocations; its first read brings the
		// key deleted before it started.
		if err := relayThrough(t, onHost(keyCreds["r1"][0], "127.0.0.4"), peer); !mnRefused(err) {
			t.Errorf("relay C after reaching the database: first key's credentials err = %v, want 401", err)
		}
		for _, r := range []*mnProc{relayA, relayB} {
			r.waitLog(t, "revocation feed reachable again", 5*time.Second)
		}
	}) {
		return
	}

	t.Run("a key deleted after the outage is refused by every relay", func(t *testing.T) {
		deleted := time.Now()
		if err := admin.Api.DeleteKey(key2Sid, &openapi.DeleteKeyParams{}); err != nil {
			t.Fatalf("delete second key: %v", err)
		}
		mnAwaitRefusal(t, deleted, map[string]iceServer{
			"relay A": key2Creds,
			"relay B": onHost(key2Creds, "127.0.0.3"),
			"relay C": onHost(key2Creds, "127.0.0.4"),
		})
	})
}

// mnAwaitRefusal polls each relay with its credentials until it answers
// 401, and fails unless every one did within revocationBudget of since.
func mnAwaitRefusal(t *testing.T, since time.Time, pending map[string]iceServer) {
	t.Helper()
	attempts := map[string][]string{}
	refused := testenv.Eventually(time.Until(since.Add(revocationBudget)), func() bool {
		for name, s := range pending {
			start := time.Now()
			err := allocateOnly(t, s)
			attempts[name] = append(attempts[name], fmt.Sprintf("%v@+%v(%v)", err == nil,
				start.Sub(since).Round(time.Millisecond), time.Since(start).Round(time.Millisecond)))
			switch {
			case mnRefused(err):
				t.Logf("%s refuses the deleted key %v after the delete", name, time.Since(since).Round(time.Millisecond))
				delete(pending, name)
			case err != nil:
				// Not a clean 401 (say, a lost datagram); the next
				// attempt settles it.
				t.Logf("%s: attempt with the deleted key's credentials failed other than by 401: %v", name, err)
			}
		}
		return len(pending) == 0
	})
	if !refused {
		var names []string
		for name := range pending {
			names = append(names, name)
			t.Logf("%s attempts (accepted@since delete(duration)): %s", name, strings.Join(attempts[name], " "))
		}
		t.Fatalf("%s still accept the deleted key's credentials %v after the delete", strings.Join(names, ", "), revocationBudget)
	}
}

// mnRefused reports whether an allocation failed with 401 Unauthorized, the
// relay's answer to revoked credentials (as opposed to a network error).
func mnRefused(err error) bool {
	var te *stun.TurnError
	return errors.As(err, &te) && te.ErrorCodeAttr.Code == stun.CodeUnauthorized
}

// mnFetchTURN asks the API node for a token and checks that its TURN URLs
// point at the region's relay: UDP first, then TCP, both on turnPort.
func mnFetchTURN(t *testing.T, c *twilio.RestClient, region, host string, turnPort int) []iceServer {
	t.Helper()
	ttl := 600
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: &ttl})
	if err != nil {
		t.Fatalf("CreateToken (Region %s): %v", region, err)
	}
	servers := turnServers(tok)
	hp := net.JoinHostPort(host, strconv.Itoa(turnPort))
	want := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	var got []string
	for _, s := range servers {
		got = append(got, s.url)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Region %s: TURN URLs %v, want %v", region, got, want)
	}
	return servers
}

// mnOfflineCreds mints credentials the way the API does, without asking it:
// a relay needs only the shared secret to accept them.
func mnOfflineCreds(t *testing.T, secret, accountSID, host string, turnPort int) iceServer {
	t.Helper()
	rest, err := credentials.IssuedRest(accountSID, "SK"+mnRandomHex(t, 16), credentials.SecretID([]byte(secret)), "offline")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := credentials.MintTURN([]byte(secret), time.Now().Add(10*time.Minute), rest)
	return iceServer{
		url:      "turn:" + net.JoinHostPort(host, strconv.Itoa(turnPort)) + "?transport=udp",
		username: user, credential: pass,
	}
}

// mnTwilioClient is twilioClient that also sends Region with every token
// request: twilio-go has no field for it, Twilio's own regions being chosen
// by host name instead.
func mnTwilioClient(t *testing.T, base, username, password, accountSID, region string) *twilio.RestClient {
	t.Helper()
	c := twilioClient(t, base, username, password, accountSID)
	hc := c.RequestHandler.Client.(*client.Client).HTTPClient
	hc.Transport = mnAddForm{next: hc.Transport, name: "Region", value: region}
	return c
}

type mnAddForm struct {
	next        http.RoundTripper
	name, value string
}

func (a mnAddForm) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Tokens.json") {
		return a.next.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("parse request form: %w", err)
	}
	form.Set(a.name, a.value)
	enc := form.Encode()
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(strings.NewReader(enc))
	r.ContentLength = int64(len(enc))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.next.RoundTrip(r)
}

type mnAccount struct {
	AccountSID string `json:"account_sid"`
	AuthToken  string `json:"auth_token"`
}

// mnBootstrapAccount reads the account the API node made on its first start.
func mnBootstrapAccount(t *testing.T, dataDir string) mnAccount {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "initial-account.json"))
	if err != nil {
		t.Fatalf("bootstrap account: %v", err)
	}
	var a mnAccount
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("bootstrap account: %v", err)
	}
	if a.AccountSID == "" || a.AuthToken == "" {
		t.Fatalf("bootstrap account file lacks the SID or token: %s", data)
	}
	return a
}

// mnPostgresDSN returns the server to test against, skipping without one
// except in CI, where a skip would hide that the multi-node path went
// untested.
func mnPostgresDSN(t *testing.T) string {
	t.Helper()
	return testenv.PostgresDSN(t)
}

// mnFreshSchema makes a uniquely named schema, dropped at cleanup, and
// returns base with it as the search_path, so runs never see each other.
func mnFreshSchema(t *testing.T, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	schema := "turnkey_multinode_" + mnRandomHex(t, 8)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// mnProxy forwards TCP to PostgreSQL. down closes the listener and every
// connection, so clients get connection refused as from a stopped server;
// up listens again on the same address.
type mnProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func mnStartProxy(t *testing.T, target string) *mnProxy {
	t.Helper()
	p := &mnProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.down(t) })
	return p
}

func (p *mnProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *mnProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(ln, c)
			}()
		}
	}()
}

// track registers c unless ln was closed meanwhile, in which case it closes
// c: down must leave no connection behind.
func (p *mnProxy) track(ln net.Listener, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *mnProxy) forward(ln net.Listener, c net.Conn) {
	if !p.track(ln, c) {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(ln, s) {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Either side ending ends both, as a server exit would.
		dst.Close()
		src.Close()
	}
	go pipe(s, c)
	go pipe(c, s)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *mnProxy) down(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// mnProc is one turnkey process.
type mnProc struct {
	*testenv.Proc
	adminAddr string
}

// mnStart runs `turnkey serve` with the YAML configuration, whose
// admin.listen is adminAddr; the process is stopped (SIGTERM, then SIGKILL)
// at cleanup.
func mnStart(t *testing.T, name, adminAddr, yaml string) *mnProc {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// Race-built when the test is, so the nodes are checked too.
	cmd := exec.Command(testenv.RaceBinary(t, "./cmd/turnkey"), "serve", "-config", cfgPath)
	cmd.Env = childEnv()
	p := &mnProc{Proc: testenv.Start(t, name, cmd), adminAddr: adminAddr}
	// Registered after Start's cleanup, so it runs first: a graceful stop,
	// which must not hang.
	t.Cleanup(func() {
		if p.Stop(10*time.Second) != nil && !p.Exited() {
			t.Errorf("%s still running 10 s after SIGTERM; killing it", p)
		}
	})
	return p
}

func (p *mnProc) readyz(t *testing.T) int {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + p.adminAddr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady polls /readyz until it answers 200; a process that exits first
// fails the test at once.
func (p *mnProc) waitReady(t *testing.T) {
	t.Helper()
	// Generous: race-instrumented binaries start slowly on a busy host.
	testenv.WaitFor(t, p.Name+" to be ready", 60*time.Second, func() bool {
		if p.Exited() {
			t.Fatalf("%s exited during start: %v", p.Name, p.Err())
		}
		return p.readyz(t) == http.StatusOK
	})
}

// waitLog polls the process's log until it contains msg.
func (p *mnProc) waitLog(t *testing.T, msg string, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("%s to log %q", p.Name, msg), within, func() bool {
		if strings.Contains(p.Out.String(), msg) {
			return true
		}
		if p.Exited() {
			t.Fatalf("%s exited while waiting for %q: %v", p.Name, msg, p.Err())
		}
		return false
	})
}

// mnFreePort returns a TCP port free on ip right now.
func mnFreePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mnFreeTURNPort returns a port free for both UDP and TCP on every ip, so
// all relays can share the port number the API node advertises.
func mnFreeTURNPort(t *testing.T, ips ...string) int {
	t.Helper()
	for range 100 {
		port := mnFreePort(t, ips[0])
		free := true
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				free = false
				break
			}
			pc.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free for UDP and TCP on every relay address")
	return 0
}

func mnHostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

func mnRandomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func mnEncryptionKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
