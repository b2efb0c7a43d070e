package relay

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The per-packet path (relayConn.WriteTo and ReadFrom, listenConn.ReadFrom)
// must add neither a lock nor an allocation to what the kernel socket costs.
// The benchmarks run each operation on a raw *net.UDPConn and through our
// wrapper over loopback; TestPacketPathAddsNoAllocations turns the
// comparison into a failing test.

// packetBench is a server with one relay socket, a peer permitted on it and
// a TURN listening socket, all on loopback.
type packetBench struct {
	s          *Server
	rawRelay   net.PacketConn // a second relay-like socket, unwrapped
	relay      *relayConn
	peer       *net.UDPConn
	peerAddr   *net.UDPAddr
	listen     *listenConn
	client     *net.UDPConn
	rawListen  net.PacketConn
	relayAddr  net.Addr
	rawAddr    net.Addr
	listenAddr net.Addr
	rawLnAddr  net.Addr
}

func newPacketBench(tb testing.TB) *packetBench {
	tb.Helper()
	udp := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		return c
	}
	probe := udp()
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	s, err := New(withDefaults(Config{
		Realm: testRealm, ListenIPs: []netip.Addr{loopback}, UDPPort: port, SocketsPerPort: 1,
		RelayIPs: []netip.Addr{loopback}, MinPort: 61000, MaxPort: 61999,
		Keyring: testRing(tb, testSecret), MaxTTL: time.Hour,
		// The peer is a loopback port outside the relay range, which the
		// host-port guard drops unless allow-listed.
		PeerPolicy: PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:    prometheus.NewRegistry(), TrackedAccounts: 10,
	}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })

	user, _ := creds("bench", time.Hour)
	relaySock := udp()
	rc := s.newRelayConn(relaySock, user)
	s.chans.addRelay(relaySock.LocalAddr().(*net.UDPAddr).AddrPort(), rc)
	peer := udp()
	peerAddr := peer.LocalAddr().(*net.UDPAddr)
	ip, _ := netip.AddrFromSlice(peerAddr.IP)
	rc.perms.setIP(ip.Unmap(), true)

	lnSock := udp()
	rawLn := udp()
	rawRelay := udp()
	return &packetBench{
		s: s, relay: rc, rawRelay: rawRelay, peer: peer, peerAddr: peerAddr,
		listen:    newListenConn(s, lnSock),
		client:    udp(),
		rawListen: rawLn,
		relayAddr: relaySock.LocalAddr(), rawAddr: rawRelay.LocalAddr(),
		listenAddr: lnSock.LocalAddr(), rawLnAddr: rawLn.LocalAddr(),
	}
}

// packetOps are the operations measured, each on the raw socket and through
// the wrapper; every op is one datagram and leaves no datagram queued.
func (pb *packetBench) packetOps() []struct {
	name         string
	raw, wrapped func() error
} {
	payload := make([]byte, 160) // an Opus frame with RTP header
	buf := make([]byte, 1600)
	binding := make([]byte, stunHeaderLen)
	binary.BigEndian.PutUint16(binding[0:2], bindingRequest)
	binary.BigEndian.PutUint32(binding[4:8], magicCookie)
	channelData := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint16(channelData[0:2], 0x4000)
	binary.BigEndian.PutUint16(channelData[2:4], uint16(len(payload)))

	// A leg sends on from to dst and reads the datagram back at to, so the
	// receive queue never fills; both variants pay the same read.
	type leg struct {
		from net.PacketConn
		dst  net.Addr
		to   net.PacketConn
	}
	send := func(l leg, msg []byte) func() error {
		return func() error {
			if _, err := l.from.WriteTo(msg, l.dst); err != nil {
				return err
			}
			_, _, err := l.to.ReadFrom(buf)
			return err
		}
	}
	legs := []struct {
		name         string
		msg          []byte
		raw, wrapped leg
	}{
		{"relayConn.WriteTo", payload, leg{pb.rawRelay, pb.peerAddr, pb.peer}, leg{pb.relay, pb.peerAddr, pb.peer}},
		{"relayConn.ReadFrom", payload, leg{pb.peer, pb.rawAddr, pb.rawRelay}, leg{pb.peer, pb.relayAddr, pb.relay}},
		{"listenConn.ReadFrom/binding", binding, leg{pb.client, pb.rawLnAddr, pb.rawListen}, leg{pb.client, pb.listenAddr, pb.listen}},
		{"listenConn.ReadFrom/channeldata", channelData, leg{pb.client, pb.rawLnAddr, pb.rawListen}, leg{pb.client, pb.listenAddr, pb.listen}},
	}
	ops := make([]struct {
		name         string
		raw, wrapped func() error
	}, len(legs))
	for i, l := range legs {
		ops[i].name, ops[i].raw, ops[i].wrapped = l.name, send(l.raw, l.msg), send(l.wrapped, l.msg)
	}
	return ops
}

// BenchmarkPacketPath: compare allocs/op of raw and wrapped; they must match.
func BenchmarkPacketPath(b *testing.B) {
	pb := newPacketBench(b)
	for _, op := range pb.packetOps() {
		for _, v := range []struct {
			name string
			fn   func() error
		}{{"raw", op.raw}, {"wrapped", op.wrapped}} {
			b.Run(op.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := v.fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestPacketPathAddsNoAllocations fails when a wrapper allocates per packet
// beyond what the kernel socket itself costs.
func TestPacketPathAddsNoAllocations(t *testing.T) {
	pb := newPacketBench(t)
	// A read that never comes back would hang the test; a deadline turns it
	// into an error instead.
	for _, c := range []net.PacketConn{pb.peer, pb.rawRelay, pb.relay, pb.rawListen, pb.listen} {
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range pb.packetOps() {
		t.Run(op.name, func(t *testing.T) {
			var opErr error
			measure := func(fn func() error) float64 {
				return testing.AllocsPerRun(200, func() {
					if err := fn(); err != nil && opErr == nil {
						opErr = err
					}
				})
			}
			raw, wrapped := measure(op.raw), measure(op.wrapped)
			if opErr != nil {
				t.Fatal(opErr)
			}
			if wrapped > raw {
				t.Errorf("%s: %v allocs/op through the wrapper, %v on the raw socket", op.name, wrapped, raw)
			}
			t.Logf("%s: raw %v allocs/op, wrapped %v", op.name, raw, wrapped)
		})
	}
	// The relayed datagrams were counted, without allocating.
	all, _, _ := pb.s.stats.totals("")
	if all.PacketsUp == 0 || all.PacketsDown == 0 {
		t.Errorf("relayed packets not counted: %+v", all)
	}
}
