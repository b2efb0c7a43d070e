package relay

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/promtext"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// TestPermSetAllows: a datagram goes to pion (as a Data indication) when
// its source IP has a permission; a channel is found by the peer's exact
// address and is permitted only while its IP holds a permission.
func TestPermSetAllows(t *testing.T) {
	peer := netip.MustParseAddrPort("198.51.100.7:5000")
	var perm, chanOnly permSet
	perm.setIP(peer.Addr(), true)
	ch := &channel{peer: peer}
	chanOnly.addChan(ch)
	cases := []struct {
		name          string
		set           *permSet
		src           string
		want, channel bool
	}{
		{"empty set", &permSet{}, "198.51.100.7:5000", false, false},
		{"permitted IP", &perm, "198.51.100.7:5000", true, false},
		{"permitted IP, any port", &perm, "198.51.100.7:6000", true, false},
		{"other IP", &perm, "198.51.100.8:5000", false, false},
		{"channel peer without permission", &chanOnly, "198.51.100.7:5000", false, true},
		{"channel IP, other port", &chanOnly, "198.51.100.7:5001", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := netip.MustParseAddrPort(tc.src)
			if got := tc.set.allows(src); got != tc.want {
				t.Errorf("allows(%s) = %v, want %v", tc.src, got, tc.want)
			}
			if got := tc.set.channelOf(src) != nil; got != tc.channel {
				t.Errorf("channelOf(%s) found = %v, want %v", tc.src, got, tc.channel)
			}
		})
	}
	if ch.permitted.Load() {
		t.Error("a channel whose IP has no permission is permitted")
	}
	chanOnly.setIP(peer.Addr(), true)
	if !ch.permitted.Load() {
		t.Error("a permission for the channel's IP did not permit it")
	}
}

// TestPermissionEventsReachRelaySocket drives the event handler as pion
// does: a permission or channel created and deleted for a relay address
// changes what that relay socket lets through, and nothing else's.
func TestPermissionEventsReachRelaySocket(t *testing.T) {
	ts := startServer(t, nil)
	user, _ := creds("events", time.Hour)
	open := func() (*relayConn, net.Addr) {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rc := ts.newRelayConn(pc, user)
		t.Cleanup(func() { rc.Close() })
		ts.chans.addRelay(pc.LocalAddr().(*net.UDPAddr).AddrPort(), rc)
		return rc, pc.LocalAddr()
	}
	rc, relayAddr := open()
	other, _ := open()
	eh := ts.eventHandler()
	peer := &net.UDPAddr{IP: net.ParseIP("198.51.100.7"), Port: 5000} // 16-byte form, as pion passes it
	ap := netip.MustParseAddrPort("198.51.100.7:5000")
	client := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	// want: a datagram from the peer goes to pion; channel: the channel
	// table relays it itself.
	steps := []struct {
		name          string
		event         func()
		want, channel bool
		wantOther     bool
	}{
		{"before any event", func() {}, false, false, false},
		{"permission created", func() { eh.OnPermissionCreated(client, server, "UDP", user, testRealm, relayAddr, peer.IP) }, true, false, false},
		{"channel created", func() { eh.OnChannelCreated(client, server, "UDP", user, testRealm, relayAddr, peer, 0x4000) }, true, true, false},
		{"permission deleted, channel left", func() { eh.OnPermissionDeleted(client, server, "UDP", user, testRealm, relayAddr, peer.IP) }, false, false, false},
		{"permission again", func() { eh.OnPermissionCreated(client, server, "UDP", user, testRealm, relayAddr, peer.IP) }, true, true, false},
		{"channel deleted", func() { eh.OnChannelDeleted(client, server, "UDP", user, testRealm, relayAddr, peer, 0x4000) }, true, false, false},
		{"event for an unknown relay address", func() {
			eh.OnPermissionCreated(client, server, "UDP", user, testRealm, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, peer.IP)
		}, true, false, false},
	}
	key := chanKeyOf(client, server, 0x4000)
	for _, st := range steps {
		st.event()
		if got := rc.perms.allows(ap); got != st.want {
			t.Errorf("%s: relay socket allows %s = %v, want %v", st.name, ap, got, st.want)
		}
		ch := ts.chans.lookup(key)
		if got := ch != nil && ch.permitted.Load() && rc.perms.channelOf(ap) == ch; got != st.channel {
			t.Errorf("%s: channel relayed by the table = %v, want %v", st.name, got, st.channel)
		}
		if got := other.perms.allows(ap); got != st.wantOther {
			t.Errorf("%s: another relay socket allows %s = %v", st.name, ap, got)
		}
	}
	rc.Close()
	if ts.chans.relay(relayAddr) != nil {
		t.Error("a closed relay socket is still tracked")
	}
}

// TestUnpermittedDatagramsDroppedNotCounted: datagrams reaching a relay
// socket from a peer without a permission are counted in
// turnkey_relay_unpermitted_packets_total and not as relayed bytes; the
// permitted peer's datagrams are counted to the byte.
func TestUnpermittedDatagramsDroppedNotCounted(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	client, relayed := allocated(t, "udp", ts.addr("turn", "udp", 0), "frank")
	relayAddr := relayed.LocalAddr()

	// Permissions are per IP and every test socket is on loopback: the
	// stranger needs an address of its own.
	peer := listenOn(t, "127.0.0.1:0")
	stranger := listenOn(t, "127.0.0.2:0")
	unpermitted := func() uint64 { all, _, _ := ts.stats.totals(""); return all.Unpermitted }
	send := func(from net.PacketConn, n int, msg []byte) {
		t.Helper()
		for range n {
			if _, err := from.WriteTo(msg, relayAddr); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Before its permission the peer is a stranger too. Wait for these to be
	// read, so none is still queued when the permission arrives.
	send(peer, 3, []byte("too early"))
	send(stranger, 4, []byte("never permitted"))
	testenv.WaitFor(t, "7 unpermitted datagrams", 5*time.Second, func() bool { return unpermitted() == 7 })

	if err := client.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	payload := []byte("permitted peer to client")
	const permitted = 5
	send(peer, permitted, payload)
	send(stranger, 2, []byte("still not permitted"))
	buf := make([]byte, 1500)
	for i := range permitted {
		_ = relayed.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := relayed.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d from the permitted peer: %v", i+1, permitted, err)
		}
		if from.String() != peer.LocalAddr().String() || string(buf[:n]) != string(payload) {
			t.Fatalf("got %q from %s; only the permitted peer's datagrams may reach the client", buf[:n], from)
		}
	}
	testenv.WaitFor(t, "9 unpermitted datagrams", 5*time.Second, func() bool { return unpermitted() == 9 })
	all, _, _ := ts.stats.totals("")
	if want := uint64(permitted * len(payload)); all.BytesDown != want || all.PacketsDown != permitted {
		t.Errorf("peer→client counted %d bytes in %d packets, want %d in %d", all.BytesDown, all.PacketsDown, want, permitted)
	}
	if got := gathered(t, ts, "turnkey_relay_unpermitted_packets_total"); got != 9 {
		t.Errorf("turnkey_relay_unpermitted_packets_total = %v, want 9", got)
	}

	// The allocation's end forgets its relay socket.
	relayed.Close()
	testenv.WaitFor(t, "relay socket untracked", 5*time.Second, func() bool {
		ts.chans.mu.Lock()
		defer ts.chans.mu.Unlock()
		return len(ts.chans.relays) == 0
	})
}

// TestAllocationFailureReasonAuth: credentials refused on an Allocate count
// as an allocation failure with reason auth as well as an auth failure by
// reason; refused on a request about an existing allocation, only the
// latter. A peer-policy refusal is not an allocation failure.
func TestAllocationFailureReasonAuth(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Revoked = func(id string) bool { return id == "SK"+strings.Repeat("e", 32) }
		c.PeerPolicy = PeerPolicy{} // default deny-list: loopback peers refused
	})
	server := ts.addr("turn", "udp", 0)
	good, goodPass := creds("grace", time.Hour)
	expired, expiredPass := creds("grace", -10*time.Minute)
	revoked, revokedPass := issuedCreds(t, "AC"+strings.Repeat("a", 32), "SK"+strings.Repeat("e", 32), "bob")
	allocFailures := func() float64 { return testutil.ToFloat64(ts.metrics.allocationFailures.WithLabelValues("auth")) }
	cases := []struct {
		name, reason string
		request      func(t *testing.T) int // the STUN error code
		allocFailure bool
	}{
		{"allocate, wrong password", "bad_hmac", func(t *testing.T) int {
			return rawAllocate(t, "udp", server, good, "d3Jvbmc=", testRealm)
		}, true},
		{"allocate, wrong realm", "bad_realm", func(t *testing.T) int {
			return rawAllocate(t, "udp", server, good, goodPass, "evil.example")
		}, true},
		{"allocate, expired", "expired", func(t *testing.T) int {
			return rawAllocate(t, "udp", server, expired, expiredPass, testRealm)
		}, true},
		{"allocate, revoked", "revoked", func(t *testing.T) int {
			return rawAllocate(t, "udp", server, revoked, revokedPass, testRealm)
		}, true},
		{"allocate, malformed", "malformed", func(t *testing.T) int {
			return rawAllocate(t, "udp", server, "alice", credentials.TURNPassword([]byte(testSecret), "alice"), testRealm)
		}, true},
		{"create permission, wrong password", "bad_hmac", func(t *testing.T) int {
			u, p := creds("heidi", time.Hour)
			c := newRawClient(t, "udp", server, u, p, testRealm)
			if code := c.allocate(); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			c.password = "d3Jvbmc="
			return c.createPermission(netip.MustParseAddrPort("8.8.8.8:3478"))
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authBefore := testutil.ToFloat64(ts.metrics.authFailures.WithLabelValues(tc.reason))
			allocBefore := allocFailures()
			if code := tc.request(t); code == 0 {
				t.Fatal("refused credentials were accepted")
			}
			if d := testutil.ToFloat64(ts.metrics.authFailures.WithLabelValues(tc.reason)) - authBefore; d != 1 {
				t.Errorf("turnkey_auth_failures_total{reason=%q} rose by %v, want 1", tc.reason, d)
			}
			want := 0.0
			if tc.allocFailure {
				want = 1
			}
			if d := allocFailures() - allocBefore; d != want {
				t.Errorf("turnkey_allocation_failures_total{reason=auth} rose by %v, want %v", d, want)
			}
		})
	}

	t.Run("policy denial", func(t *testing.T) {
		u, p := creds("ivan", time.Hour)
		c := newRawClient(t, "udp", server, u, p, testRealm)
		if code := c.allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		deniedBefore := sumCounter(ts.metrics.peerDenied)
		failuresBefore := sumCounter(ts.metrics.allocationFailures)
		if code := c.createPermission(netip.MustParseAddrPort("10.0.0.1:3478")); code == 0 {
			t.Fatal("permission for a denied peer granted")
		}
		if d := sumCounter(ts.metrics.peerDenied) - deniedBefore; d != 1 {
			t.Errorf("turnkey_peer_denied_total rose by %v, want 1", d)
		}
		if d := sumCounter(ts.metrics.allocationFailures) - failuresBefore; d != 0 {
			t.Errorf("turnkey_allocation_failures_total rose by %v on a policy denial", d)
		}
	})
}

func listenOn(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// gathered gathers the server's registry and sums the series of name whose
// labels include the given name/value pairs (none: every series), 0 when
// none is there.
func gathered(t *testing.T, ts *testServer, name string, labelPairs ...string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := promtext.Families{}
	for _, mf := range mfs {
		fams[mf.GetName()] = mf
	}
	v, _ := fams.Value(name, labelPairs...)
	return v
}
