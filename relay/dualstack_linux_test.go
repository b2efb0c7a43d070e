package relay

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// The dual-stack test network: both addresses on the namespace's lo.
var (
	dsAddr4 = netip.MustParseAddr("198.51.100.10")
	dsAddr6 = netip.MustParseAddr("2001:db8:1::10")
)

// dsNetns is the setup of the test namespace: both addresses on its lo.
var dsNetns = [][]string{
	{"addr", "add", dsAddr4.String() + "/24", "dev", "lo"},
	{"addr", "add", dsAddr6.String() + "/64", "dev", "lo", "nodad"},
}

// startDualStack is a relay in the test namespace listening on both
// families ("::", dual-stack) with the given relay addresses, the two test
// prefixes allowed as peers.
func startDualStack(t *testing.T, relayIPs ...netip.Addr) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.ListenIPs = []netip.Addr{netip.IPv6Unspecified()}
		c.RelayIPs = relayIPs
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{
			netip.PrefixFrom(dsAddr4, 24), netip.PrefixFrom(dsAddr6, 64)}}
	})
}

// listenerOn is the server's listener of transport at addr's family.
func listenerOn(ts *testServer, transport string, addr netip.Addr) string {
	ap, _ := addrPort(ts.Listeners()[0].Addr)
	for _, l := range ts.Listeners() {
		if l.Transport == transport {
			ap, _ = addrPort(l.Addr)
			break
		}
	}
	return netip.AddrPortFrom(addr, ap.Port()).String()
}

// dialFamily is a pion client from client's address to server (udp or
// tcp), asking for relays of family.
func dialFamily(t *testing.T, transport string, client netip.Addr, server string, family turn.RequestedAddressFamily) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	if transport == "udp" {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0)))
		if err != nil {
			t.Fatal(err)
		}
		conn = pc
	} else {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0))}
		c, err := d.Dial("tcp", server)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	t.Cleanup(func() { conn.Close() }) // after the client's own cleanup
	user, pass := creds("ds-"+transport+"-"+client.String(), time.Hour)
	return startClient(t, turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: testRealm,
		RequestedAddressFamily: family,
	})
}

// rawFrom is a rawClient over UDP from client's address.
func rawFrom(t *testing.T, client netip.Addr, server, user string) *rawClient {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	u, p := creds(user, time.Hour)
	return &rawClient{t: t, conn: pc, to: mustResolveUDP(t, server), user: u, password: p, realm: testRealm}
}

func requestedFamily(b byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{b, 0, 0, 0}}
}

// relayedAddr is the XOR-RELAYED-ADDRESS of the last answer.
func (c *rawClient) relayedAddr() netip.Addr {
	c.t.Helper()
	var a stun.XORMappedAddress
	if err := a.GetFromAs(c.last, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatalf("no XOR-RELAYED-ADDRESS in %v", c.last)
	}
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap()
}

// TestDualStackRelay (#19): with an IPv4 and an IPv6 relay address, pion's
// client gets a relay of the family it asks for with REQUESTED-ADDRESS-
// FAMILY over either listener family and transport, and relays to an echo
// peer of that family; the allocation metrics carry the family. Runs in a
// network namespace the test creates (198.51.100.10, 2001:db8:1::10).
func TestDualStackRelay(t *testing.T) {
	if !testenv.InNetns(t, dsNetns...) {
		return
	}
	ts := startDualStack(t, dsAddr4, dsAddr6)
	echo := map[turn.RequestedAddressFamily]*net.UDPAddr{
		turn.RequestedAddressFamilyIPv4: testnet.UDPEchoOn(t, dsAddr4),
		turn.RequestedAddressFamilyIPv6: testnet.UDPEchoOn(t, dsAddr6),
	}
	want := map[turn.RequestedAddressFamily]netip.Addr{
		turn.RequestedAddressFamilyIPv4: dsAddr4, turn.RequestedAddressFamilyIPv6: dsAddr6,
	}
	cases := []struct {
		transport string
		client    netip.Addr // also the listener family used
		family    turn.RequestedAddressFamily
	}{
		{"udp", dsAddr4, turn.RequestedAddressFamilyIPv4},
		{"udp", dsAddr4, turn.RequestedAddressFamilyIPv6},
		{"udp", dsAddr6, turn.RequestedAddressFamilyIPv4},
		{"udp", dsAddr6, turn.RequestedAddressFamilyIPv6},
		{"tcp", dsAddr4, turn.RequestedAddressFamilyIPv6},
		{"tcp", dsAddr6, turn.RequestedAddressFamilyIPv6},
	}
	for _, tc := range cases {
		fam := familyIPv4
		if tc.family == turn.RequestedAddressFamilyIPv6 {
			fam = familyIPv6
		}
		t.Run(tc.transport+"/from-"+familyName(tc.client)+"/"+fam, func(t *testing.T) {
			before := testutil.ToFloat64(ts.metrics.allocationsTotal.WithLabelValues(tc.transport, fam))
			c := dialFamily(t, tc.transport, tc.client, listenerOn(ts, tc.transport, tc.client), tc.family)
			relayConn, err := c.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relayConn.Close()
			if ap, _ := addrPort(relayConn.LocalAddr()); ap.Addr() != want[tc.family] {
				t.Fatalf("relayed address %v, want %v", relayConn.LocalAddr(), want[tc.family])
			}
			if err := c.CreatePermission(echo[tc.family]); err != nil {
				t.Fatalf("create permission: %v", err)
			}
			roundTrip(t, relayConn, echo[tc.family], []byte("dual-stack "+fam))
			if d := testutil.ToFloat64(ts.metrics.allocationsTotal.WithLabelValues(tc.transport, fam)) - before; d != 1 {
				t.Errorf("turnkey_allocations_total{transport=%s,family=%s} moved by %v, want 1", tc.transport, fam, d)
			}
		})
	}
}

// TestDualStackAnswers (#19): the exact answers of RFC 8656 §7.2 and RFC
// 6156 about families, in the test namespace: 440 for a family the relay
// has no address of (asked for, or the default), the default family
// (IPv4; the listener's where the relay has IPv6 only), 443 for a
// permission or channel to a peer of the other family (but on a dual
// allocation), and a dual allocation (ADDITIONAL-ADDRESS-FAMILY): both
// relayed addresses, IPv4 first; IPv4 and ADDRESS-ERROR-CODE 440 for IPv6
// on a relay without IPv6; 440 without IPv4; 400 where invalid.
func TestDualStackAnswers(t *testing.T) {
	if !testenv.InNetns(t, dsNetns...) {
		return
	}
	servers := map[string]*testServer{
		"dual": startDualStack(t, dsAddr4, dsAddr6),
		"ipv4": startDualStack(t, dsAddr4),
		"ipv6": startDualStack(t, dsAddr6),
	}
	peer4 := netip.AddrPortFrom(dsAddr4, 9)
	peer6 := netip.AddrPortFrom(dsAddr6, 9)
	additional := func(b byte) stun.Setter {
		return stun.RawAttribute{Type: attrAdditionalAddressFamily, Value: []byte{b, 0, 0, 0}}
	}
	cases := []struct {
		name, server string
		client       netip.Addr
		allocate     []stun.Setter
		code         int        // of the Allocate
		relayed      netip.Addr // when it succeeds
		second       netip.Addr // a dual allocation's IPv6 relayed address
		addrErr      int        // ADDRESS-ERROR-CODE for IPv6
		then         func(c *rawClient) int
		thenCode     int
	}{
		{name: "IPv6 on an IPv4-only relay", server: "ipv4", client: dsAddr4,
			allocate: []stun.Setter{requestedFamily(familyByteIPv6)}, code: 440},
		{name: "IPv4 on an IPv6-only relay", server: "ipv6", client: dsAddr6,
			allocate: []stun.Setter{requestedFamily(familyByteIPv4)}, code: 440},
		{name: "default on an IPv6-only relay from IPv4", server: "ipv6", client: dsAddr4, code: 440},
		{name: "default on an IPv6-only relay from IPv6", server: "ipv6", client: dsAddr6, relayed: dsAddr6},
		{name: "default from IPv6 is IPv4", server: "dual", client: dsAddr6, relayed: dsAddr4},
		{name: "IPv6 from IPv4", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{requestedFamily(familyByteIPv6)}, relayed: dsAddr6},
		{name: "IPv6 permission on IPv4", server: "dual", client: dsAddr4, relayed: dsAddr4,
			then: func(c *rawClient) int { return c.createPermission(peer6) }, thenCode: 443},
		{name: "IPv4 permission on IPv6", server: "dual", client: dsAddr6, relayed: dsAddr6,
			allocate: []stun.Setter{requestedFamily(familyByteIPv6)},
			then:     func(c *rawClient) int { return c.createPermission(peer4) }, thenCode: 443},
		{name: "IPv6 channel on IPv4", server: "dual", client: dsAddr4, relayed: dsAddr4,
			then: func(c *rawClient) int { return c.channelBind(0x4001, peer6) }, thenCode: 443},
		{name: "same-family permission", server: "dual", client: dsAddr4, relayed: dsAddr6,
			allocate: []stun.Setter{requestedFamily(familyByteIPv6)},
			then:     func(c *rawClient) int { return c.createPermission(peer6) }},
		{name: "dual from IPv4", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6},
		{name: "dual from IPv6", server: "dual", client: dsAddr6,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6},
		{name: "dual: IPv6 and IPv4 permissions", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6,
			then: func(c *rawClient) int { return c.do(stun.MethodCreatePermission, peerAddr(peer6), peerAddr(peer4)) }},
		{name: "dual: IPv6 channel", server: "dual", client: dsAddr6,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6,
			then: func(c *rawClient) int { return c.channelBind(0x4001, peer6) }},
		{name: "dual: Refresh naming IPv6", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6,
			then: func(c *rawClient) int { return c.do(stun.MethodRefresh, requestedFamily(familyByteIPv6)) }},
		{name: "dual: Refresh naming IPv4", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, second: dsAddr6,
			then: func(c *rawClient) int { return c.do(stun.MethodRefresh, requestedFamily(familyByteIPv4)) }},
		{name: "IPv4 only: Refresh naming IPv6", server: "dual", client: dsAddr4, relayed: dsAddr4,
			then: func(c *rawClient) int { return c.do(stun.MethodRefresh, requestedFamily(familyByteIPv6)) }, thenCode: 443},
		{name: "dual on an IPv4-only relay", server: "ipv4", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv6)}, relayed: dsAddr4, addrErr: 440},
		{name: "dual on an IPv6-only relay", server: "ipv6", client: dsAddr6,
			allocate: []stun.Setter{additional(familyByteIPv6)}, code: 440},
		{name: "ADDITIONAL-ADDRESS-FAMILY IPv4", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{additional(familyByteIPv4)}, code: 400},
		{name: "ADDITIONAL- with REQUESTED-ADDRESS-FAMILY", server: "dual", client: dsAddr4,
			allocate: []stun.Setter{requestedFamily(familyByteIPv4), additional(familyByteIPv6)}, code: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := servers[tc.server]
			c := rawFrom(t, tc.client, listenerOn(ts, "udp", tc.client), "ds-"+tc.name)
			if code := c.do(stun.MethodAllocate, append([]stun.Setter{udpTransport}, tc.allocate...)...); code != tc.code {
				t.Fatalf("Allocate answered %d, want %d (%v)", code, tc.code, c.last)
			}
			if tc.code != 0 {
				assertErrorAttrs(t, c.last, true)
				return
			}
			if got := c.relayedAddr(); got != tc.relayed {
				t.Fatalf("relayed address %v, want %v", got, tc.relayed)
			}
			want := []netip.Addr{tc.relayed}
			if tc.second.IsValid() {
				want = append(want, tc.second)
			}
			var got []netip.Addr
			for _, ap := range relayedAddrs(t, c.last) {
				got = append(got, ap.Addr())
			}
			if !slices.Equal(got, want) {
				t.Errorf("XOR-RELAYED-ADDRESS %v, want %v", got, want)
			}
			if f, code := addressError(c.last); code != tc.addrErr || (code != 0 && f != familyByteIPv6) {
				t.Errorf("ADDRESS-ERROR-CODE family %d code %d, want IPv6 %d", f, code, tc.addrErr)
			}
			if tc.then == nil {
				return
			}
			if code := tc.then(c); code != tc.thenCode {
				t.Fatalf("answered %d, want %d (%v)", code, tc.thenCode, c.last)
			}
			if tc.thenCode != 0 {
				assertErrorAttrs(t, c.last, true)
			}
		})
	}
}

// rawDial is a rawClient from client's address to server over transport.
func rawDial(t *testing.T, transport string, client netip.Addr, server, user string) *rawClient {
	t.Helper()
	if transport == "udp" {
		return rawFrom(t, client, server, user)
	}
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0))}
	tc, err := d.Dial("tcp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn := turn.NewSTUNConn(tc)
	t.Cleanup(func() { conn.Close() })
	u, p := creds(user, time.Hour)
	return &rawClient{t: t, conn: conn, user: u, password: p, realm: testRealm}
}

// TestDualStackDualAllocation (#19, RFC 8656 §7.2): in the test namespace,
// a dual allocation spoken by hand (pion's client cannot ask for one) over
// UDP and TCP from either family gets 198.51.100.10 and 2001:db8:1::10 as
// relayed addresses and relays to an IPv4 and an IPv6 echo peer on the one
// allocation, by Send indication and channel both ways; it counts as one
// dual allocation.
func TestDualStackDualAllocation(t *testing.T) {
	if !testenv.InNetns(t, dsNetns...) {
		return
	}
	ts := startDualStack(t, dsAddr4, dsAddr6)
	echo4 := netip.MustParseAddrPort(testnet.UDPEchoOn(t, dsAddr4).String())
	echo6 := netip.MustParseAddrPort(testnet.UDPEchoOn(t, dsAddr6).String())
	// A fresh namespace sometimes drops its very first IPv6 datagram; the
	// exact counts below need a path that is up.
	waitEcho(t, dsAddr6, echo6)
	for _, transport := range []string{"udp", "tcp"} {
		for _, client := range []netip.Addr{dsAddr4, dsAddr6} {
			t.Run(transport+"/from-"+familyName(client), func(t *testing.T) {
				before := testutil.ToFloat64(ts.metrics.allocationsTotal.WithLabelValues(transport, familyDual))
				c := rawDial(t, transport, client, listenerOn(ts, transport, client), "dsd-"+transport+client.String())
				if code := c.do(stun.MethodAllocate, udpTransport, additionalFamily(familyByteIPv6)); code != 0 {
					t.Fatalf("dual Allocate answered %d (%v)", code, c.last)
				}
				addrs := relayedAddrs(t, c.last)
				if len(addrs) != 2 || addrs[0].Addr() != dsAddr4 || addrs[1].Addr() != dsAddr6 {
					t.Fatalf("XOR-RELAYED-ADDRESS %v, want %v then %v", addrs, dsAddr4, dsAddr6)
				}
				dualRoundTrips(t, ts, c, echo4, echo6)
				// The host-port guard covers the IPv6 socket: the TURN
				// listener on the (permitted) IPv6 address is not a peer.
				guarded := testutil.ToFloat64(ts.metrics.hostPortDropped)
				ap, _ := addrPort(ts.Listeners()[0].Addr)
				c.sendTo(netip.AddrPortFrom(dsAddr6, ap.Port()), []byte("to our own listener"))
				testenv.WaitFor(t, "peer_denied{reason=host_port} to count the IPv6 send", 5*time.Second, func() bool {
					return testutil.ToFloat64(ts.metrics.hostPortDropped) == guarded+1
				})
				if d := testutil.ToFloat64(ts.metrics.allocationsTotal.WithLabelValues(transport, familyDual)) - before; d != 1 {
					t.Errorf("turnkey_allocations_total{transport=%s,family=dual} moved by %v, want 1", transport, d)
				}
			})
		}
	}
}

// waitEcho waits until a datagram from local reaches echo and comes back.
func waitEcho(t *testing.T, local netip.Addr, echo netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 64)
	testenv.WaitFor(t, "the echo peer "+echo.String()+" to answer", 10*time.Second, func() bool {
		if _, err := pc.WriteToUDPAddrPort([]byte("probe"), echo); err != nil {
			return false
		}
		_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _, err := pc.ReadFromUDPAddrPort(buf)
		return err == nil
	})
}
