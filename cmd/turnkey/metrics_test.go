package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/promtext"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// Route labels of the token endpoint, as the API registers them.
const routeTokensJSON = "/2010-04-01/Accounts/{AccountSid}/Tokens.json"

// metricsSnapshot is one scrape of the admin /metrics, parsed.
type metricsSnapshot struct{ promtext.Families }

// scrapeText fetches the admin /metrics exposition.
func scrapeText(t *testing.T, n *testNode) []byte {
	t.Helper()
	res, body := httpGet(t, n.Admin+"/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", res.Status, body)
	}
	return body
}

func scrape(t *testing.T, n *testNode) metricsSnapshot {
	t.Helper()
	fams, err := promtext.Parse(bytes.NewReader(scrapeText(t, n)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return metricsSnapshot{fams}
}

// value sums the series of name whose labels include the given pairs (no
// pairs: the whole family); see promtext.Families.Value.
func (s metricsSnapshot) value(name string, labelPairs ...string) (float64, bool) {
	return s.Value(name, labelPairs...)
}

func (s metricsSnapshot) get(name string, labelPairs ...string) float64 {
	v, _ := s.value(name, labelPairs...)
	return v
}

// series names one metric series for a delta check.
type series struct {
	name   string
	labels []string
	want   float64 // expected change
}

// expectDeltas waits until every series has moved from before by at least
// its want, then requires each to have moved by exactly that. Counts land a
// moment after what the test observes: the relay counts a datagram when
// the write to the peer returns, which can be after the echo reached the
// client, and the API counts a request after its response is written. So
// the test polls with a deadline instead of asserting on the first scrape.
func expectDeltas(t *testing.T, n *testNode, before metricsSnapshot, checks []series) metricsSnapshot {
	t.Helper()
	var after metricsSnapshot
	// Not WaitFor: on timeout the exact check below names each series.
	testenv.Eventually(10*time.Second, func() bool {
		after = scrape(t, n)
		for _, c := range checks {
			if after.get(c.name, c.labels...)-before.get(c.name, c.labels...) < c.want {
				return false
			}
		}
		return true
	})
	for _, c := range checks {
		if d := after.get(c.name, c.labels...) - before.get(c.name, c.labels...); d != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.want)
		}
	}
	return after
}

func httpGet(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	return httpDo(t, http.MethodGet, u, nil, nil)
}

func httpDo(t *testing.T, method, u string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return res, b
}

// countingEcho is a UDP peer that sends every datagram back and counts the
// payload bytes it saw.
type countingEcho struct {
	addr     *net.UDPAddr
	received atomic.Uint64
}

func newCountingEcho(t *testing.T) *countingEcho {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	e := &countingEcho{addr: pc.LocalAddr().(*net.UDPAddr)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			e.received.Add(uint64(n))
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return e
}

// turnAllocation is a pion TURN client with an allocation on server
// ("host:port") over transport "udp" or "tcp".
func turnAllocation(t *testing.T, transport, server, user, pass string) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	if transport == "tcp" {
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: "turnkey",
		RTO: 200 * time.Millisecond, LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := cl.Allocate()
	if err != nil {
		cl.Close()
		conn.Close()
		t.Fatalf("allocate on %s/%s: %v", transport, server, err)
	}
	t.Cleanup(func() { relayed.Close(); cl.Close(); conn.Close() })
	return relayed
}

// echoSizes sends a datagram of each size to the peer through the
// allocation and waits for its echo, resending when none comes: pion's
// client binds a channel on first use, and an echo racing that bind is
// dropped by the client (after the relay counted it). Every datagram
// written is tallied, so the totals stay exact either way. Each attempt
// carries its own content, so a late echo of an earlier one is not taken
// for the current one.
func echoSizes(t *testing.T, relayed net.PacketConn, peer net.Addr, sizes []int) (bytesSent, datagrams uint64) {
	t.Helper()
	buf := make([]byte, 2048)
	attempt := 0
	deadline := time.Now().Add(20 * time.Second)
	for i, size := range sizes {
	resend:
		for {
			if time.Now().After(deadline) {
				t.Fatalf("no echo of datagram %d (%d bytes) through the relay", i, size)
			}
			attempt++
			payload := bytes.Repeat([]byte{byte(attempt)}, size)
			if _, err := relayed.WriteTo(payload, peer); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			bytesSent += uint64(size)
			datagrams++
			for {
				_ = relayed.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, _, err := relayed.ReadFrom(buf)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue resend
				}
				if err != nil {
					t.Fatalf("echo of datagram %d: %v", i, err)
				}
				if bytes.Equal(buf[:n], payload) {
					break resend
				}
			}
		}
	}
	return bytesSent, datagrams
}

// rawAllocate sends an authenticated Allocate over UDP by hand, with exactly
// the realm given (pion's client adopts the server's), and returns the STUN
// error code, or 0 on success. It makes one authenticated attempt, so a
// refusal counts once.
func rawAllocate(t *testing.T, server, user, pass, realm string) int {
	t.Helper()
	to, pc := udpTo(t, server)
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	exchange := func(setters ...stun.Setter) *stun.Message {
		req, err := stun.Build(append([]stun.Setter{stun.TransactionID,
			stun.NewType(stun.MethodAllocate, stun.ClassRequest), transport}, setters...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.WriteTo(req.Raw, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no answer to Allocate: %v", err)
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID {
				return res
			}
		}
	}
	code := func(res *stun.Message) int {
		if res.Type.Class == stun.ClassSuccessResponse {
			return 0
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(res); err != nil {
			t.Fatalf("error response without ERROR-CODE: %v", res)
		}
		return int(ec.Code)
	}
	first := exchange()
	var nonce stun.Nonce
	if err := nonce.GetFrom(first); err != nil {
		t.Fatalf("first Allocate answered %d without a nonce", code(first))
	}
	return code(exchange(stun.NewUsername(user), stun.NewRealm(realm), nonce,
		stun.NewLongTermIntegrity(user, realm, pass), stun.Fingerprint))
}

// requireTool finds an external tool; without it the test is skipped,
// except in CI (CI=true), where the tool is part of the contract.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	return testenv.Program(t, name, "bash deploy/install-tools.sh installs it")
}

// TestMetricsPassPromtool: the exposition of a node that has relayed
// traffic and issued tokens passes `promtool check metrics`.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	n := startTestNode(t, nil)
	peer := newCountingEcho(t)
	c := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	s := turnServers(tok)[0]
	relayed := turnAllocation(t, "udp", n.TURNUDP, s.username, s.credential)
	_, _ = echoSizes(t, relayed, peer.addr, []int{100, 200})
	// A refusal or two, so labelled failure series carry values.
	rawAllocate(t, n.TURNUDP, s.username, "wrong", "turnkey")

	body := scrapeText(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{"turnkey_relay_bytes_total", "turnkey_allocations_active", "turnkey_build_info",
		"go_goroutines", "process_cpu_seconds_total"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestMetricsSeriesExistFromStart: bounded label values are exported as
// zeros before their first event, so rate() and alerts see them.
func TestMetricsSeriesExistFromStart(t *testing.T) {
	n := startTestNode(t, nil)
	m := scrape(t, n)
	cases := []struct {
		name   string
		label  string
		values []string
	}{
		{"turnkey_tokens_issued_total", "kind", []string{"nts", "ice_servers", "access", "capability"}},
		{"turnkey_auth_failures_total", "reason", []string{"expired", "bad_hmac", "bad_realm", "revoked", "malformed"}},
		{"turnkey_allocation_failures_total", "reason", []string{"auth", "quota", "draining", "ports_exhausted"}},
		{"turnkey_allocations_active", "transport", []string{"udp", "tcp", "tls"}},
		{"turnkey_allocations_total", "transport", []string{"udp", "tcp", "tls"}},
		{"turnkey_relay_bytes_total", "direction", []string{"client_to_peer", "peer_to_client"}},
		{"turnkey_relay_packets_total", "direction", []string{"client_to_peer", "peer_to_client"}},
		{"turnkey_stun_binding_requests_total", "transport", []string{"udp", "tcp", "tls"}},
		{"turnkey_relay_unpermitted_packets_total", "", nil},
		{"turnkey_build_info", "", nil},
	}
	for _, tc := range cases {
		if len(tc.values) == 0 {
			if _, ok := m.value(tc.name); !ok {
				t.Errorf("%s not exported", tc.name)
			}
			continue
		}
		for _, v := range tc.values {
			got, ok := m.value(tc.name, tc.label, v)
			if !ok {
				t.Errorf("%s{%s=%q} not exported at start", tc.name, tc.label, v)
			} else if got != 0 {
				t.Errorf("%s{%s=%q} = %v at start", tc.name, tc.label, v, got)
			}
		}
	}
}

// TestMetricsCountEachEvent: each counter moves by exactly one for its
// event, and nothing that should not move does.
func TestMetricsCountEachEvent(t *testing.T) {
	n := startTestNode(t, func(c *config.Config) { c.TURN.Quotas.PerIdentity = 1 })
	secret := []byte(n.Secret)
	admin := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	key, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	valid := func(user string) (string, string) {
		return credentials.MintTURN(secret, time.Now().Add(time.Hour), user)
	}
	allocFail := func(reason string) series {
		return series{"turnkey_allocation_failures_total", []string{"reason", reason}, 1}
	}
	authFail := func(reason string) series {
		return series{"turnkey_auth_failures_total", []string{"reason", reason}, 1}
	}
	refused := func(user, pass, realm string) func(t *testing.T) {
		return func(t *testing.T) {
			if code := rawAllocate(t, n.TURNUDP, user, pass, realm); code == 0 {
				t.Fatal("allocation with bad credentials succeeded")
			}
		}
	}
	issued := func(kind string, want float64) series {
		return series{"turnkey_tokens_issued_total", []string{"kind", kind}, want}
	}
	bearerICE := func(token string) func(t *testing.T) {
		return func(t *testing.T) {
			res, body := httpDo(t, http.MethodPost, n.API+"/v1/ice-servers",
				http.Header{"Authorization": {"Bearer " + token}}, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("POST /v1/ice-servers: %s\n%s", res.Status, body)
			}
		}
	}
	accessToken, err := credentials.AccessToken{AccountSID: n.AccountSID, KeySID: *key.Sid, Secret: *key.Secret,
		Grants: credentials.Grants{Identity: "metrics"}}.Sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	capabilityToken, err := credentials.CapabilityToken{AccountSID: n.AccountSID, AuthToken: n.AuthToken,
		Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "metrics"}}}.Sign(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expiredUser, expiredPass := credentials.MintTURN(secret, time.Now().Add(-time.Hour), "late")
	goodUser, goodPass := valid("grace")

	cases := []struct {
		name  string
		event func(t *testing.T)
		moved []series
	}{
		{"auth expired", refused(expiredUser, expiredPass, "turnkey"),
			[]series{authFail("expired"), allocFail("auth")}},
		{"auth bad_hmac", refused(goodUser, "d3Jvbmc=", "turnkey"),
			[]series{authFail("bad_hmac"), allocFail("auth")}},
		{"auth bad_realm", refused(goodUser, goodPass, "evil.example"),
			[]series{authFail("bad_realm"), allocFail("auth")}},
		{"auth malformed", refused("alice", credentials.TURNPassword(secret, "alice"), "turnkey"),
			[]series{authFail("malformed"), allocFail("auth")}},
		{"auth revoked", func(t *testing.T) {
			// Credentials issued under an API key, which is then deleted
			// through the API: the relay refuses them at once.
			k, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := twilioClient(t, n.API, *k.Sid, *k.Secret, n.AccountSID).Api.CreateToken(&openapi.CreateTokenParams{})
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.Api.DeleteKey(*k.Sid, &openapi.DeleteKeyParams{}); err != nil {
				t.Fatalf("delete key: %v", err)
			}
			s := turnServers(tok)[0]
			refused(s.username, s.credential, "turnkey")(t)
		}, []series{authFail("revoked"), allocFail("auth"),
			issued("nts", 1), {"turnkey_http_requests_total", []string{"route", routeTokensJSON, "code", "201"}, 1}}},
		{"policy denial", func(t *testing.T) {
			u, p := valid("ivan")
			relayed := turnAllocation(t, "udp", n.TURNUDP, u, p)
			// 10.0.0.0/8 is on the default deny-list; the test node only
			// allows 127.0.0.1.
			if _, err := relayed.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}); err == nil {
				t.Fatal("relaying to a denied peer was permitted")
			}
		}, []series{{"turnkey_peer_denied_total", nil, 1}, {"turnkey_allocations_total", []string{"transport", "udp"}, 1},
			{"turnkey_allocation_failures_total", nil, 0}}},
		{"quota rejection", func(t *testing.T) {
			u, p := valid("judy")
			turnAllocation(t, "udp", n.TURNUDP, u, p) // held until the subtest ends
			if code := rawAllocate(t, n.TURNUDP, u, p, "turnkey"); code != 486 {
				t.Fatalf("second allocation of one identity: %d, want 486", code)
			}
		}, []series{{"turnkey_quota_rejections_total", []string{"kind", "identity"}, 1}, allocFail("quota"),
			{"turnkey_auth_failures_total", nil, 0}}},
		{"token nts", func(t *testing.T) {
			if _, err := admin.Api.CreateToken(&openapi.CreateTokenParams{}); err != nil {
				t.Fatal(err)
			}
		}, []series{issued("nts", 1), issued("ice_servers", 0),
			{"turnkey_http_requests_total", []string{"route", routeTokensJSON, "code", "201"}, 1},
			{"turnkey_http_request_duration_seconds", []string{"route", routeTokensJSON}, 1}}},
		{"token refused", func(t *testing.T) {
			bad := twilioClient(t, n.API, n.AccountSID, strings.Repeat("0", 32), "")
			if _, err := bad.Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
				t.Fatal("token issued for a wrong auth token")
			}
		}, []series{issued("nts", 0),
			{"turnkey_http_requests_total", []string{"route", routeTokensJSON, "code", "401"}, 1},
			{"turnkey_http_request_duration_seconds", []string{"route", routeTokensJSON}, 1}}},
		{"ice servers, access token", bearerICE(accessToken),
			[]series{issued("ice_servers", 1), issued("access", 1), issued("capability", 0), issued("nts", 0),
				{"turnkey_http_requests_total", []string{"route", "/v1/ice-servers", "code", "200"}, 1}}},
		{"ice servers, capability token", bearerICE(capabilityToken),
			[]series{issued("ice_servers", 1), issued("capability", 1), issued("access", 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := scrape(t, n)
			tc.event(t)
			expectDeltas(t, n, before, tc.moved)
		})
	}
}

// TestMetricsRelayBytesEqualBytesSent: turnkey_relay_bytes_total and
// turnkey_relay_packets_total move by exactly the payload the test sent
// through the relay, each direction, on both client transports.
func TestMetricsRelayBytesEqualBytesSent(t *testing.T) {
	n := startTestNode(t, nil)
	peer := newCountingEcho(t)
	tok := fetchToken(t, n.admin(t))
	user, pass := turnServers(tok)[0].username, turnServers(tok)[0].credential
	// Odd sizes and the MTU end. Nothing under 5 bytes: pion's client
	// STUNConn (TURN over TCP) takes a buffer under 9 bytes for a partial
	// frame, so a lone 1..4-byte ChannelData frame would sit unread until
	// the next one arrives.
	sizes := []int{5, 20, 160, 1000, 1200, 37}
	for _, tc := range []struct{ transport, server string }{{"udp", n.TURNUDP}, {"tcp", n.TURNTCP}} {
		t.Run(tc.transport, func(t *testing.T) {
			relayed := turnAllocation(t, tc.transport, tc.server, user, pass)
			before := scrape(t, n)
			peerBefore := peer.received.Load()
			sent, datagrams := echoSizes(t, relayed, peer.addr, sizes)
			// The echo peer sends back all it receives, and the echo of the
			// last datagram reached the client, so the relay has read every
			// earlier echo too (one socket, in order).
			if got := peer.received.Load() - peerBefore; got != sent {
				t.Fatalf("peer received %d bytes, the client sent %d", got, sent)
			}
			checks := []series{
				{"turnkey_relay_bytes_total", []string{"direction", "client_to_peer"}, float64(sent)},
				{"turnkey_relay_bytes_total", []string{"direction", "peer_to_client"}, float64(sent)},
				{"turnkey_relay_packets_total", []string{"direction", "client_to_peer"}, float64(datagrams)},
				{"turnkey_relay_packets_total", []string{"direction", "peer_to_client"}, float64(datagrams)},
				{"turnkey_account_relay_bytes_total", []string{"account", n.AccountSID}, float64(2 * sent)},
				{"turnkey_relay_unpermitted_packets_total", nil, 0},
			}
			after := expectDeltas(t, n, before, checks)
			if v := after.get("turnkey_allocations_active", "transport", tc.transport); v != 1 {
				t.Errorf("turnkey_allocations_active{transport=%q} = %v with one allocation", tc.transport, v)
			}
		})
	}
}

// TestUsageReportsAccountRelayBytes: GET /v1/usage returns the bytes relayed
// with the account's credentials, live and after the allocation ends.
func TestUsageReportsAccountRelayBytes(t *testing.T) {
	n := startTestNode(t, nil)
	peer := newCountingEcho(t)
	tok := fetchToken(t, n.admin(t))
	s := turnServers(tok)[0]
	type usageReport struct {
		AccountSID        string `json:"account_sid"`
		RelayBytes        uint64 `json:"relay_bytes"`
		BytesClientToPeer uint64 `json:"bytes_client_to_peer"`
		BytesPeerToClient uint64 `json:"bytes_peer_to_client"`
		AllocationsActive int    `json:"allocations_active"`
	}
	usage := func(t *testing.T, user, pass string) (int, usageReport) {
		t.Helper()
		u, err := url.Parse(n.API + "/v1/usage")
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(user, pass)
		res, body := httpGet(t, u.String())
		var r usageReport
		if res.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("usage body %s: %v", body, err)
			}
		}
		return res.StatusCode, r
	}

	relayed := turnAllocation(t, "udp", n.TURNUDP, s.username, s.credential)
	sent, _ := echoSizes(t, relayed, peer.addr, []int{300, 500, 64})
	// Poll: the last datagram to the peer is counted when its write
	// returns, which may be just after its echo reached the client.
	await := func(what string, want usageReport) {
		t.Helper()
		testenv.WaitForErr(t, what+" usage", 10*time.Second, func() error {
			code, got := usage(t, n.AccountSID, n.AuthToken)
			if code != http.StatusOK {
				t.Fatalf("GET /v1/usage: %d", code)
			}
			if got != want {
				return fmt.Errorf("usage %+v, want %+v", got, want)
			}
			return nil
		})
	}
	want := usageReport{AccountSID: n.AccountSID, RelayBytes: 2 * sent, BytesClientToPeer: sent,
		BytesPeerToClient: sent, AllocationsActive: 1}
	await("live", want)

	relayed.Close()
	want.AllocationsActive = 0
	await("after the allocation ended,", want)
	if got := scrape(t, n).get("turnkey_account_relay_bytes_total", "account", n.AccountSID); got != float64(2*sent) {
		t.Errorf("turnkey_account_relay_bytes_total{account=%s} = %v, want %d", n.AccountSID, got, 2*sent)
	}
	if code, _ := usage(t, n.AccountSID, strings.Repeat("0", 32)); code != http.StatusUnauthorized {
		t.Errorf("usage with a wrong auth token: %d, want 401", code)
	}
}

// TestAdminHealthReadinessPprof: /healthz answers while the process lives;
// /readyz turns 503 when the store is unreachable or the node drains; pprof
// is served only when admin.pprof is set.
func TestAdminHealthReadinessPprof(t *testing.T) {
	cases := []struct {
		name       string
		pprof      bool
		breakIt    func(n *testNode)
		wantReady  int
		wantFailed string
		wantPprof  int
	}{
		{"healthy", false, nil, http.StatusOK, "", http.StatusNotFound},
		{"pprof enabled", true, nil, http.StatusOK, "", http.StatusOK},
		{"store closed", false, func(n *testNode) { _ = n.store.Close() }, http.StatusServiceUnavailable, "store", http.StatusNotFound},
		{"node draining", false, func(n *testNode) { n.draining.set() }, http.StatusServiceUnavailable, "draining", http.StatusNotFound},
		{"relay draining", false, func(n *testNode) { n.relay.Drain(time.Now()) }, http.StatusServiceUnavailable, "relay", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := startTestNode(t, func(c *config.Config) { c.Admin.Pprof = tc.pprof })
			if res, _ := httpGet(t, n.Admin+"/readyz"); res.StatusCode != http.StatusOK {
				t.Fatalf("/readyz of a fresh node: %d", res.StatusCode)
			}
			if tc.breakIt != nil {
				tc.breakIt(n)
			}
			if res, body := httpGet(t, n.Admin+"/healthz"); res.StatusCode != http.StatusOK {
				t.Errorf("/healthz: %d %s", res.StatusCode, body)
			}
			res, body := httpGet(t, n.Admin+"/readyz")
			if res.StatusCode != tc.wantReady {
				t.Errorf("/readyz: %d %s, want %d", res.StatusCode, body, tc.wantReady)
			}
			var ready struct {
				Ready  bool              `json:"ready"`
				Failed map[string]string `json:"failed"`
			}
			if err := json.Unmarshal(body, &ready); err != nil {
				t.Fatalf("/readyz body %q: %v", body, err)
			}
			if ready.Ready != (tc.wantReady == http.StatusOK) {
				t.Errorf("/readyz ready=%v with status %d", ready.Ready, res.StatusCode)
			}
			if _, ok := ready.Failed[tc.wantFailed]; tc.wantFailed != "" && !ok {
				t.Errorf("/readyz failed checks %v, want %q among them", ready.Failed, tc.wantFailed)
			}
			if res, _ := httpGet(t, n.Admin+"/debug/pprof/"); res.StatusCode != tc.wantPprof {
				t.Errorf("/debug/pprof/: %d, want %d", res.StatusCode, tc.wantPprof)
			}
			// cmdline would show secrets passed as flags: never served.
			if res, _ := httpGet(t, n.Admin+"/debug/pprof/cmdline"); res.StatusCode != http.StatusNotFound {
				t.Errorf("/debug/pprof/cmdline: %d, want 404", res.StatusCode)
			}
		})
	}
}
