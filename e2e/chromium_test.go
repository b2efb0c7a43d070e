package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// relayCase pins Chromium to one issued TURN URL.
type relayCase struct {
	name      string
	url       string // the only ICE URL Chromium is given
	protocol  string // expected relayProtocol of the local relay candidate
	transport string // expected turnkey_allocations_total transport label
}

var relayCases = []relayCase{
	{"udp-3478", "turn:127.0.0.1:3478?transport=udp", "udp", "udp"},
	{"tcp-3478", "turn:127.0.0.1:3478?transport=tcp", "tcp", "tcp"},
	{"tcp-443", "turn:127.0.0.1:443?transport=tcp", "tcp", "tcp"},
}

// TestChromiumTokensEndpoint: ICE servers from the Twilio-compatible Tokens
// endpoint, one transport at a time.
func TestChromiumTokensEndpoint(t *testing.T) {
	srv := chromiumServer(t)
	servers := srv.twilioICEServers(t)
	for _, tc := range relayCases {
		t.Run(tc.name, func(t *testing.T) {
			requireURL(t, servers, tc.url)
			checkRelayCall(t, srv, servers, tc)
		})
	}
}

// TestChromiumAccessToken: ICE servers from /v1/ice-servers with an Access
// Token minted from an API key.
func TestChromiumAccessToken(t *testing.T) {
	srv := chromiumServer(t)
	servers := srv.accessTokenICEServers(t)
	tc := relayCases[0]
	tc.name = "access-token-" + tc.name
	requireURL(t, servers, tc.url)
	checkRelayCall(t, srv, servers, tc)
}

// TestChromiumExpiredCredentials: a credential past its expiry must be
// refused, so no relay candidate and no connection.
func TestChromiumExpiredCredentials(t *testing.T) {
	srv := chromiumServer(t)
	// An hour back, well beyond turn.clock_skew (60s by default), which
	// would otherwise still accept it.
	user, pass := credentials.MintTURN([]byte(e2eSecret), time.Now().Add(-time.Hour), "x")
	servers := []json.RawMessage{mustJSON(t, map[string]any{
		"urls":       []string{relayCases[0].url},
		"username":   user,
		"credential": pass,
	})}
	before := mustCounters(t, srv)
	r, line := runWebRTC(t, srv.ns, webrtcInput{ICEServers: servers, TimeoutMs: 10000})
	after := mustCounters(t, srv)
	t.Logf("expired credentials: connected=%v, gathering=%v, candidates a=%d b=%d, icecandidateerror=%+v, problems=%q",
		r.Connected, r.Gathering, len(r.Candidates.A), len(r.Candidates.B), r.CandidateErrors, r.Problems)
	t.Logf("turnkey before: %s", before)
	t.Logf("turnkey after:  %s", after)
	if r.OK || r.Connected {
		t.Fatalf("peers connected with expired credentials: %s", line)
	}
	// Chromium reports the STUN error code it got: turnkey answers refused
	// credentials with 401 (RFC 8489 §9.2.4), as coturn does, so pages can
	// tell "fetch fresh ICE servers" from other failures.
	if len(r.CandidateErrors) == 0 {
		t.Errorf("no icecandidateerror: %s", line)
	}
	for _, e := range r.CandidateErrors {
		if e.ErrorCode != 401 {
			t.Errorf("icecandidateerror %d %q, want 401", e.ErrorCode, e.ErrorText)
		}
	}
	if after.authExpired <= before.authExpired {
		t.Errorf(`turnkey_auth_failures_total{reason="expired"} did not rise: %s -> %s`, before, after)
	}
	if after.allocUDP+after.allocTCP != before.allocUDP+before.allocTCP {
		t.Errorf("turnkey_allocations_total moved with expired credentials: %s -> %s", before, after)
	}
}

// TestChromiumTURNS: with a certificate configured, Chromium relays over
// turns: on 443 (shared with plain TURN over TCP) and on 5349. The
// certificate is self-signed, hence --ignore-certificate-errors in webrtc.js.
func TestChromiumTURNS(t *testing.T) {
	requireNetns(t)
	requireChromium(t)
	ns := newNetns(t)
	srv := startTurnkey(t, ns, serverOptions{tls: true})
	servers := srv.twilioICEServers(t)
	for _, tc := range []relayCase{
		{"tls-443", "turns:127.0.0.1:443?transport=tcp", "tls", "tls"},
		{"tls-5349", "turns:127.0.0.1:5349?transport=tcp", "tls", "tls"},
		{"tcp-443-beside-tls", "turn:127.0.0.1:443?transport=tcp", "tcp", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireURL(t, servers, tc.url)
			checkRelayCall(t, srv, servers, tc)
		})
	}
}

// TestChromiumIPv6 (#19): with the TURN listeners on :: and an IPv6
// public host, Tokens.json issues bracketed IPv6 URLs, and Chromium relays
// a call through the IPv6 TURN URL alone, over UDP and TCP (webrtc.js
// keeps the address out of its resolver rules, else TCP fails with 701).
func TestChromiumIPv6(t *testing.T) {
	requireNetns(t)
	requireChromium(t)
	ns := newNetns(t)
	const addr6 = "2001:db8:1::10"
	// Chromium gathers IPv6 only on an interface that is not loopback and
	// has a route to the Internet's IPv6 (it probes for its default local
	// address): a veth pair inside the namespace, the address on one end,
	// a default route into it that leads nowhere outside the namespace.
	for _, args := range [][]string{
		{"link", "add", "tk6a", "type", "veth", "peer", "name", "tk6b"},
		{"addr", "add", addr6 + "/64", "dev", "tk6a", "nodad"},
		{"link", "set", "tk6a", "up"},
		{"link", "set", "tk6b", "up"},
		{"-6", "route", "add", "default", "dev", "tk6a"},
	} {
		if out, err := ipCmd(append([]string{"-n", ns.name}, args...)...); err != nil {
			t.Fatalf("ip %v in %s: %v: %s", args, ns.name, err, out)
		}
	}
	srv := startTurnkey(t, ns, serverOptions{listenIP: "::", relayIPs: []string{"127.0.0.1", addr6}, publicHost: addr6})
	servers := srv.twilioICEServers(t)
	for _, tc := range []relayCase{
		{"ipv6-udp-3478", "turn:[" + addr6 + "]:3478?transport=udp", "udp", "udp"},
		{"ipv6-tcp-3478", "turn:[" + addr6 + "]:3478?transport=tcp", "tcp", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireURL(t, servers, tc.url)
			checkRelayCall(t, srv, servers, tc)
		})
	}
}

// chromiumServer checks prerequisites and starts turnkey in a fresh
// namespace with the default peer policy.
func chromiumServer(t *testing.T) *server {
	t.Helper()
	requireNetns(t)
	requireChromium(t)
	ns := newNetns(t)
	return startTurnkey(t, ns, serverOptions{})
}

// checkRelayCall runs one Chromium call restricted to tc.url and checks the
// browser's view and turnkey's counters.
func checkRelayCall(t *testing.T, srv *server, servers []json.RawMessage, tc relayCase) {
	t.Helper()
	before := mustCounters(t, srv)
	r, line := runWebRTC(t, srv.ns, webrtcInput{ICEServers: servers, KeepURLs: []string{tc.url}})
	t.Logf("%s: %s", tc.name, r.summary())
	if !r.OK {
		t.Fatalf("%s: call failed: %q\nobserved: %s", tc.name, r.Problems, line)
	}
	for name, p := range map[string]selectedPair{"a": r.Selected.A, "b": r.Selected.B} {
		if p.LocalCandidateType != "relay" || p.RemoteCandidateType != "relay" {
			t.Errorf("peer %s selected %s/%s, want relay/relay", name, p.LocalCandidateType, p.RemoteCandidateType)
		}
		if p.LocalRelayProtocol != tc.protocol {
			t.Errorf("peer %s relayProtocol %q, want %q", name, p.LocalRelayProtocol, tc.protocol)
		}
	}
	if r.MessagesReceived.AFromB == 0 || r.MessagesReceived.BFromA == 0 {
		t.Errorf("messages a<-b %d, b<-a %d: want both > 0", r.MessagesReceived.AFromB, r.MessagesReceived.BFromA)
	}
	if r.Selected.B.AudioPacketsReceived == 0 {
		t.Error("no audio packets received")
	}

	// Counters are scraped, so allow them a moment to catch up.
	var after relayCounters
	// Not WaitFor: on timeout the checks below say which counter lagged.
	testenv.Eventually(5*time.Second, func() bool {
		after = mustCounters(t, srv)
		return countersRose(before, after, tc.transport)
	})
	t.Logf("%s: turnkey before: %s", tc.name, before)
	t.Logf("%s: turnkey after:  %s", tc.name, after)
	if after.bytesC2P <= before.bytesC2P || after.bytesP2C <= before.bytesP2C {
		t.Errorf("turnkey_relay_bytes_total did not rise in both directions: %s -> %s", before, after)
	}
	// With the kernel fast path attached (turn.kernel_offload auto, as
	// root) a UDP relay-only call between two allocations of this server
	// is relayed in the kernel — when the client reaches turnkey in the
	// relay's family: an IPv6 client of an IPv4 relay (the default family,
	// RFC 8656) needs a family change the kernel path leaves to userspace.
	sameFamily := !strings.Contains(tc.url, "[")
	if tc.protocol == "udp" && sameFamily && after.kernelAttached == 1 && after.kernelPackets <= before.kernelPackets {
		t.Errorf("turnkey_kernel_relay_packets_total did not rise on a UDP call with the kernel path attached: %s -> %s", before, after)
	}
	if alloc(after, tc.transport)-alloc(before, tc.transport) < 2 {
		t.Errorf("turnkey_allocations_total{transport=%q} rose by %g, want >= 2 (one per peer)",
			tc.transport, alloc(after, tc.transport)-alloc(before, tc.transport))
	}
}

func countersRose(before, after relayCounters, transport string) bool {
	return after.bytesC2P > before.bytesC2P && after.bytesP2C > before.bytesP2C &&
		alloc(after, transport)-alloc(before, transport) >= 2
}

func alloc(c relayCounters, transport string) float64 {
	switch transport {
	case "tcp":
		return c.allocTCP
	case "tls":
		return c.allocTLS
	}
	return c.allocUDP
}

func mustCounters(t *testing.T, srv *server) relayCounters {
	t.Helper()
	c, err := srv.counters()
	if err != nil {
		t.Fatalf("scraping turnkey metrics: %v", err)
	}
	return c
}

// requireURL fails unless the issued servers include url.
func requireURL(t *testing.T, servers []json.RawMessage, url string) {
	t.Helper()
	var all []string
	for _, raw := range servers {
		var s struct {
			URL  string          `json:"url"`
			URLs json.RawMessage `json:"urls"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("ICE server %s: %v", raw, err)
		}
		var list []string
		if err := json.Unmarshal(s.URLs, &list); err != nil {
			var one string
			if json.Unmarshal(s.URLs, &one) == nil {
				list = []string{one}
			}
		}
		all = append(append(all, s.URL), list...)
	}
	for _, u := range all {
		if u == url {
			return
		}
	}
	t.Fatalf("issued ICE servers lack %s; got %s", url, strconv.Quote(fmt.Sprint(all)))
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
