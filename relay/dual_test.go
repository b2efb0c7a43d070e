package relay

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

var loopback6 = netip.MustParseAddr("::1")

func additionalFamily(b byte) stun.Setter {
	return stun.RawAttribute{Type: attrAdditionalAddressFamily, Value: []byte{b, 0, 0, 0}}
}

// startDualLoopback is a relay with an IPv4 and an IPv6 relay address on
// loopback, both allowed as peers.
func startDualLoopback(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.RelayIPs = []netip.Addr{loopback, loopback6}
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128")}}
		if mutate != nil {
			mutate(c)
		}
	})
}

// relayedAddrs lists the XOR-RELAYED-ADDRESS values of m in order.
func relayedAddrs(t *testing.T, m *stun.Message) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORRelayedAddress {
			continue
		}
		one := &stun.Message{TransactionID: m.TransactionID}
		one.Add(stun.AttrXORRelayedAddress, a.Value)
		var x stun.XORMappedAddress
		if err := x.GetFromAs(one, stun.AttrXORRelayedAddress); err != nil {
			t.Fatalf("bad XOR-RELAYED-ADDRESS: %v", err)
		}
		ip, _ := netip.AddrFromSlice(x.IP)
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(x.Port))) //nolint:gosec // 16-bit field
	}
	return out
}

// addressError is the family and code of m's ADDRESS-ERROR-CODE, or 0, 0.
func addressError(m *stun.Message) (byte, int) {
	v, err := m.Get(attrAddressErrorCode)
	if err != nil || len(v) < 4 {
		return 0, 0
	}
	return v[0], int(v[2]&7)*100 + int(v[3])
}

// sendTo sends a Send indication with payload to peer.
func (c *rawClient) sendTo(peer netip.AddrPort, payload []byte) {
	c.t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddr(peer), stun.RawAttribute{Type: stun.AttrData, Value: payload})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(m.Raw, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// sendChannel sends ChannelData on number.
func (c *rawClient) sendChannel(number uint16, payload []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint16(nil, number)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload))) //nolint:gosec // small
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0) // streams carry ChannelData padded (RFC 8656 §12.5)
	}
	if _, err := c.conn.WriteTo(b, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// relayed is one datagram the relay sent the client: a Data indication
// (peer set) or ChannelData (number set).
type relayed struct {
	peer    netip.AddrPort
	number  uint16
	payload []byte
}

func (c *rawClient) receive() relayed {
	c.t.Helper()
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.conn.ReadFrom(buf)
	if err != nil {
		c.t.Fatalf("nothing relayed to the client: %v", err)
	}
	b := buf[:n]
	if isChannelData(b) {
		l := int(binary.BigEndian.Uint16(b[2:4]))
		return relayed{number: binary.BigEndian.Uint16(b[0:2]), payload: append([]byte(nil), b[4:4+l]...)}
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		c.t.Fatalf("relayed %x: not a Data indication", b)
	}
	var x stun.XORMappedAddress
	if err := x.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
		c.t.Fatalf("Data indication without XOR-PEER-ADDRESS: %v", m)
	}
	data, _ := m.Get(stun.AttrData)
	ip, _ := netip.AddrFromSlice(x.IP)
	return relayed{peer: netip.AddrPortFrom(ip.Unmap(), uint16(x.Port)), payload: data} //nolint:gosec // 16-bit field
}

// TestDualAllocation (#19, RFC 8656 §7.2): an Allocate with
// ADDITIONAL-ADDRESS-FAMILY IPv6 gets two XOR-RELAYED-ADDRESS, IPv4 first,
// in one signed answer; permissions, Send indications, channels and the
// data back work for peers of both families on the one allocation; it
// holds one quota slot, counts as one dual allocation, counts every packet
// once, and a Refresh with LIFETIME 0 closes both relay sockets.
func TestDualAllocation(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ts := startDualLoopback(t, nil)
			echo4 := netip.MustParseAddrPort(testnet.UDPEchoOn(t, loopback).String())
			echo6 := netip.MustParseAddrPort(testnet.UDPEchoOn(t, loopback6).String())
			user, pass := creds("dual-"+transport, time.Hour)
			c := newRawClient(t, transport, ts.addr("turn", transport, 0), user, pass, testRealm)

			if code := c.do(stun.MethodAllocate, udpTransport, additionalFamily(familyByteIPv6)); code != 0 {
				t.Fatalf("dual Allocate answered %d (%v)", code, c.last)
			}
			if err := stun.NewLongTermIntegrity(user, testRealm, pass).Check(c.last); err != nil {
				t.Fatalf("answer's MESSAGE-INTEGRITY does not verify: %v", err)
			}
			if c.last.Contains(stun.AttrFingerprint) {
				if err := stun.Fingerprint.Check(c.last); err != nil {
					t.Fatalf("answer's FINGERPRINT: %v", err)
				}
			}
			addrs := relayedAddrs(t, c.last)
			if len(addrs) != 2 || addrs[0].Addr() != loopback || addrs[1].Addr() != loopback6 {
				t.Fatalf("XOR-RELAYED-ADDRESS %v, want one on %v then one on %v", addrs, loopback, loopback6)
			}
			if f, code := addressError(c.last); code != 0 {
				t.Errorf("ADDRESS-ERROR-CODE family %d code %d on a full dual allocation", f, code)
			}
			if got := testutil.ToFloat64(ts.metrics.allocationsActive.WithLabelValues(transport, familyDual)); got != 1 {
				t.Errorf("allocations_active{family=dual} = %v, want 1", got)
			}
			if got := testutil.ToFloat64(ts.metrics.portsInUse); got != 2 {
				t.Errorf("relay ports in use %v, want 2", got)
			}
			if n := ts.AllocationCount(); n != 1 {
				t.Errorf("%d allocations, want 1", n)
			}

			dualRoundTrips(t, ts, c, echo4, echo6)

			if code := c.refresh(0); code != 0 {
				t.Fatalf("Refresh 0: %d", code)
			}
			testenv.WaitFor(t, "both relay sockets closed", 5*time.Second, func() bool {
				return testutil.ToFloat64(ts.metrics.portsInUse) == 0
			})
			if got := testutil.ToFloat64(ts.metrics.allocationsActive.WithLabelValues(transport, familyDual)); got != 0 {
				t.Errorf("allocations_active{family=dual} = %v after delete, want 0", got)
			}
			if code := c.do(stun.MethodAllocate, udpTransport); code != 0 {
				t.Errorf("Allocate after delete: %d (quota slot not given back?)", code)
			}
		})
	}
}

// TestDualAllocationHalf (#19, RFC 8656 §7.2): a dual Allocate the IPv6
// half cannot be had for still succeeds, with the IPv4 relay and
// ADDRESS-ERROR-CODE for IPv6: 440 on a relay without an IPv6 address.
func TestDualAllocationHalf(t *testing.T) {
	ts := startServer(t, nil)
	c := dualGetsIPv4Only(t, ts, "dual-half", 440)
	// An IPv6 peer on it is the other family.
	if code := c.createPermission(netip.AddrPortFrom(loopback6, 9)); code != 443 {
		t.Errorf("IPv6 permission on the IPv4-only result: %d, want 443", code)
	}
}

// dualGetsIPv4Only makes a dual Allocate as user and fails unless it
// succeeds (MESSAGE-INTEGRITY verifying) with only the IPv4 relay and
// ADDRESS-ERROR-CODE code for IPv6, counted as an IPv4 allocation.
func dualGetsIPv4Only(t *testing.T, ts *testServer, user string, code int) *rawClient {
	t.Helper()
	name, pass := creds(user, time.Hour)
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), name, pass, testRealm)
	if got := c.do(stun.MethodAllocate, udpTransport, additionalFamily(familyByteIPv6)); got != 0 {
		t.Fatalf("dual Allocate answered %d (%v)", got, c.last)
	}
	if addrs := relayedAddrs(t, c.last); len(addrs) != 1 || addrs[0].Addr() != loopback {
		t.Fatalf("XOR-RELAYED-ADDRESS %v, want one IPv4", addrs)
	}
	if f, got := addressError(c.last); f != familyByteIPv6 || got != code {
		t.Fatalf("ADDRESS-ERROR-CODE family %d code %d, want IPv6 %d", f, got, code)
	}
	if err := stun.NewLongTermIntegrity(name, testRealm, pass).Check(c.last); err != nil {
		t.Fatalf("answer's MESSAGE-INTEGRITY does not verify: %v", err)
	}
	if got := testutil.ToFloat64(ts.metrics.allocationsActive.WithLabelValues("udp", familyIPv4)); got != 1 {
		t.Errorf("allocations_active{family=ipv4} = %v, want 1", got)
	}
	return c
}

// TestDualAllocationNoIPv6Port: when no IPv6 relay port is free the dual
// Allocate still succeeds with IPv4 and ADDRESS-ERROR-CODE 508 for IPv6,
// and the allocation is an IPv4 one.
func TestDualAllocationNoIPv6Port(t *testing.T) {
	// The one relay port, taken on ::1 by the test.
	taken, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.LocalAddr().(*net.UDPAddr).Port
	ts := startDualLoopback(t, func(c *Config) { c.MinPort, c.MaxPort = port, port })
	dualGetsIPv4Only(t, ts, "dual-noport", 508)
	if got := testutil.ToFloat64(ts.metrics.portsInUse); got != 1 {
		t.Errorf("relay ports in use %v, want 1", got)
	}
}

// TestDualAllocationStandInsRefused: a client cannot name pion's stand-in
// range itself on a dual allocation (it would alias another IPv6 peer).
func TestDualAllocationStandInsRefused(t *testing.T) {
	ts := startDualLoopback(t, func(c *Config) {
		c.PeerPolicy.Allow = append(c.PeerPolicy.Allow, netip.MustParsePrefix("240.0.0.0/4"))
	})
	user, pass := creds("dual-alias", time.Hour)
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
	if code := c.do(stun.MethodAllocate, udpTransport, additionalFamily(familyByteIPv6)); code != 0 {
		t.Fatalf("dual Allocate answered %d", code)
	}
	if code := c.createPermission(netip.MustParseAddrPort("240.0.0.1:9")); code != 403 {
		t.Errorf("permission for a stand-in address: %d, want 403", code)
	}
}

// dualRoundTrips exercises a dual allocation c holds: one CreatePermission
// for an IPv4 and an IPv6 echo peer, a Send indication to each (the echo
// comes back as a Data indication naming the peer), a channel to each
// (ChannelData both ways), and every packet counted once.
func dualRoundTrips(t *testing.T, ts *testServer, c *rawClient, echo4, echo6 netip.AddrPort) {
	t.Helper()
	if code := c.do(stun.MethodCreatePermission, peerAddr(echo4), peerAddr(echo6)); code != 0 {
		t.Fatalf("CreatePermission for both families: %d (%v)", code, c.last)
	}
	up0, down0 := gathered(t, ts, "turnkey_relay_packets_total", "direction", "client_to_peer"), gathered(t, ts, "turnkey_relay_packets_total", "direction", "peer_to_client")
	for _, peer := range []netip.AddrPort{echo6, echo4} {
		payload := []byte("send to " + peer.String())
		c.sendTo(peer, payload)
		got := c.receive()
		if got.peer != peer || !bytes.Equal(got.payload, payload) {
			t.Fatalf("Data indication %q from %v, want %q from %v", got.payload, got.peer, payload, peer)
		}
	}
	for i, peer := range []netip.AddrPort{echo6, echo4} {
		number := uint16(0x4001 + i) //nolint:gosec // small
		if code := c.channelBind(number, peer); code != 0 {
			t.Fatalf("ChannelBind %#x to %v: %d (%v)", number, peer, code, c.last)
		}
		payload := []byte("channel to " + peer.String())
		c.sendChannel(number, payload)
		got := c.receive()
		if got.number != number || !bytes.Equal(got.payload, payload) {
			t.Fatalf("ChannelData %q on %#x, want %q on %#x", got.payload, got.number, payload, number)
		}
	}
	// The counters move after each write returns, maybe after the
	// echo is back.
	if !testenv.Eventually(5*time.Second, func() bool {
		return gathered(t, ts, "turnkey_relay_packets_total", "direction", "client_to_peer")-up0 == 4 && gathered(t, ts, "turnkey_relay_packets_total", "direction", "peer_to_client")-down0 == 4
	}) {
		t.Errorf("relayed packets counted %v up, %v down; want 4 and 4",
			gathered(t, ts, "turnkey_relay_packets_total", "direction", "client_to_peer")-up0, gathered(t, ts, "turnkey_relay_packets_total", "direction", "peer_to_client")-down0)
	}
}

// TestListenOnEachAddress (#19): with one listen address per family, every
// listener port is bound on both, and a client allocates through each.
func TestListenOnEachAddress(t *testing.T) {
	ts := startDualLoopback(t, func(c *Config) { c.ListenIPs = []netip.Addr{loopback, loopback6} })
	bound := map[string]int{}
	for _, l := range ts.Listeners() {
		ap, _ := addrPort(l.Addr)
		bound[l.Transport+"/"+familyName(ap.Addr())]++
	}
	for _, k := range []string{"udp/ipv4", "udp/ipv6", "tcp/ipv4", "tcp/ipv6"} {
		if bound[k] != 1 {
			t.Errorf("%d listeners %s, want 1 (all: %v)", bound[k], k, ts.Listeners())
		}
	}
	for _, l := range ts.Listeners() {
		t.Run(l.Transport+"/"+l.Addr.String(), func(t *testing.T) {
			user, pass := creds("listen-"+l.Transport+l.Addr.String(), time.Hour)
			c := newRawClient(t, l.Transport, l.Addr.String(), user, pass, testRealm)
			if code := c.allocate(); code != 0 {
				t.Fatalf("Allocate through %v: %d (%v)", l.Addr, code, c.last)
			}
		})
	}
}

// TestDualAllocationInRegistry: the allocation registry sees a dual
// allocation's IPv6 peers as themselves (not pion's stand-ins), and a
// Refresh naming IPv6 moves its expiry as it moves pion's.
func TestDualAllocationInRegistry(t *testing.T) {
	ts := startDualLoopback(t, nil)
	user, pass := creds("dual-registry", time.Hour)
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
	if code := c.do(stun.MethodAllocate, udpTransport, additionalFamily(familyByteIPv6)); code != 0 {
		t.Fatalf("dual Allocate answered %d", code)
	}
	peer6 := netip.MustParseAddrPort("[::1]:9")
	if code := c.createPermission(peer6); code != 0 {
		t.Fatalf("IPv6 permission: %d", code)
	}
	if code := c.channelBind(0x4001, peer6); code != 0 {
		t.Fatalf("IPv6 channel: %d", code)
	}
	lt := stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, 3000)}
	if code := c.do(stun.MethodRefresh, requestedFamilyAttr(familyByteIPv6), lt); code != 0 {
		t.Fatalf("Refresh naming IPv6: %d", code)
	}
	page, err := ts.Allocations(AllocationFilter{}, "", 10)
	if err != nil || len(page.Allocations) != 1 {
		t.Fatalf("registry: %v, %+v", err, page)
	}
	a := page.Allocations[0]
	if !slices.Contains(a.Permissions, "::1") {
		t.Errorf("registry permissions %v, want ::1", a.Permissions)
	}
	if len(a.Channels) != 1 || a.Channels[0].Peer != peer6.String() {
		t.Errorf("registry channels %+v, want 0x4001 to %v", a.Channels, peer6)
	}
	if left := time.Until(a.ExpiresAt); left < 2000*time.Second {
		t.Errorf("registry expires in %v after a Refresh of 3000 s naming IPv6", left)
	}
}

func requestedFamilyAttr(b byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{b, 0, 0, 0}}
}
