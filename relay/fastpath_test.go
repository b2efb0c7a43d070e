package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// chanClient is a raw TURN client with one channel bound to a UDP peer.
type chanClient struct {
	*rawClient
	tcp    bool
	number uint16
	peer   *net.UDPConn
	relay  netip.AddrPort // the allocation's relay address, as peers see it
	server netip.AddrPort
	key    chanKey
}

func newChanClient(t testing.TB, ts *testServer, transport string, peer *net.UDPConn) *chanClient {
	t.Helper()
	user, pass := creds("fast-"+transport, time.Hour)
	server := ts.addr("turn", transport, 0)
	c := newRawClient(t, transport, server, user, pass, testRealm)
	return allocateChan(t, c, netip.MustParseAddrPort(server), transport == "tcp", peer)
}

// allocateChan allocates on c, whose server address is server, and binds
// channel 0x4000 to peer.
func allocateChan(t testing.TB, c *rawClient, server netip.AddrPort, tcp bool, peer *net.UDPConn) *chanClient {
	t.Helper()
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(c.last, stun.AttrXORRelayedAddress); err != nil {
		t.Fatalf("XOR-RELAYED-ADDRESS: %v", err)
	}
	ip, _ := netip.AddrFromSlice(relayed.IP)
	cc := &chanClient{rawClient: c, tcp: tcp, peer: peer, server: server,
		relay: netip.AddrPortFrom(ip.Unmap(), uint16(relayed.Port))} //nolint:gosec
	cc.bind(0x4000)
	return cc
}

func (c *chanClient) bind(number uint16) {
	c.t.Helper()
	if code := c.channelBind(number, c.peer.LocalAddr().(*net.UDPAddr).AddrPort()); code != 0 {
		c.t.Fatalf("channel bind %#x: %d", number, code)
	}
	c.number = number
	c.key = c.keyOf(number)
}

// keyOf is the table key of channel number on this client's 5-tuple.
func (c *chanClient) keyOf(number uint16) chanKey {
	return chanKey{client: mustAddrPort(c.t, c.conn.LocalAddr()), server: c.server, tcp: c.tcp, number: number}
}

func mustAddrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, ok := addrPort(a)
	if !ok {
		t.Fatalf("address %v", a)
	}
	return ap
}

// send writes payload as ChannelData on the client's channel.
func (c *chanClient) send(payload []byte) {
	c.t.Helper()
	frame := binary.BigEndian.AppendUint16(nil, c.number)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(payload))) //nolint:gosec
	frame = append(frame, payload...)
	if c.tcp {
		for len(frame)%4 != 0 {
			frame = append(frame, 0)
		}
	}
	if _, err := c.conn.WriteTo(frame, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next ChannelData payload the client gets, the raw frame
// length, and false when nothing comes within d. A Data indication counts
// as nothing, and is reported through dataInd.
func (c *chanClient) recv(d time.Duration) (payload []byte, frameLen int, dataInd bool, ok bool) {
	c.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(d)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil, 0, dataInd, false
		}
		if isChannelData(buf[:n]) {
			if got := binary.BigEndian.Uint16(buf[0:2]); got != c.number {
				c.t.Fatalf("ChannelData on channel %#x, want %#x", got, c.number)
			}
			l := int(binary.BigEndian.Uint16(buf[2:4]))
			if 4+l > n {
				c.t.Fatalf("ChannelData length %d in a %d-byte frame", l, n)
			}
			return append([]byte(nil), buf[4:4+l]...), n, dataInd, true
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.Type.Method == stun.MethodData {
			dataInd = true
		}
	}
}

// peerRecv reads one datagram at the peer, or reports false after d.
func peerRecv(t *testing.T, peer *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(d))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("peer read: %v", err)
		}
		return nil, netip.AddrPort{}, false
	}
	return append([]byte(nil), buf[:n]...), from, true
}

// chanRoundTrip sends payload client → peer and back, and fails unless both
// arrive intact, from the relay address and on the channel, in a frame
// padded only over TCP.
func chanRoundTrip(t *testing.T, c *chanClient, payload []byte) {
	t.Helper()
	c.send(payload)
	got, from, ok := peerRecv(t, c.peer, 3*time.Second)
	if !ok || !bytes.Equal(got, payload) {
		t.Fatalf("%d bytes to the peer: got %d (ok %v)", len(payload), len(got), ok)
	}
	if from != c.relay {
		t.Fatalf("the peer got it from %v, want the relay address %v", from, c.relay)
	}
	if _, err := c.peer.WriteToUDPAddrPort(payload, from); err != nil {
		t.Fatal(err)
	}
	back, frameLen, _, ok := c.recv(3 * time.Second)
	if !ok || !bytes.Equal(back, payload) {
		t.Fatalf("%d bytes back to the client: got %d (ok %v)", len(payload), len(back), ok)
	}
	want := 4 + len(payload)
	if c.tcp {
		want = (want + 3) &^ 3
	}
	if frameLen != want {
		t.Fatalf("a %d-byte payload came back in a %d-byte frame, want %d", len(payload), frameLen, want)
	}
}

// expectChannelCut checks a channel whose permission (peerPermitted false)
// or only the channel itself (true) has expired: ChannelData from the
// client reaches no one, and the peer's datagram to the relay address
// reaches the client only as a Data indication, when its IP is still
// permitted.
func expectChannelCut(t *testing.T, c *chanClient, peerPermitted bool) {
	t.Helper()
	c.send([]byte("on a cut channel"))
	if got, _, ok := peerRecv(t, c.peer, 300*time.Millisecond); ok {
		t.Fatalf("ChannelData on a cut channel relayed to the peer: %q", got)
	}
	if _, err := c.peer.WriteToUDPAddrPort([]byte("from the peer"), c.relay); err != nil {
		t.Fatal(err)
	}
	wait := 300 * time.Millisecond
	if peerPermitted {
		wait = time.Second
	}
	if got, _, dataInd, ok := c.recv(wait); ok || dataInd != peerPermitted {
		t.Fatalf("the peer's datagram on a cut channel: ChannelData %v (%q), Data indication %v; want a Data indication %v",
			ok, got, dataInd, peerPermitted)
	}
}

// expectStrangerDropped has stranger, a peer without a permission, send to
// c's relay address, and fails unless the client gets nothing and the
// datagram is the only one counted unpermitted.
func expectStrangerDropped(t *testing.T, ts *testServer, c *chanClient, stranger *net.UDPConn) {
	t.Helper()
	if _, err := stranger.WriteToUDPAddrPort([]byte("let me in"), c.relay); err != nil {
		t.Fatal(err)
	}
	if got, _, _, ok := c.recv(300 * time.Millisecond); ok {
		t.Fatalf("the client got %q from a peer without a permission", got)
	}
	testenv.WaitFor(t, "counted unpermitted", 3*time.Second, func() bool {
		all, _, _ := ts.stats.totals("")
		return all.Unpermitted == 1
	})
}

// expireSoon is a Config change after which the permissions (what
// "permission") or the channels ("channel") expire in half a second, the
// other in an hour.
func expireSoon(what string) func(*Config) {
	return func(c *Config) {
		c.PermissionLifetime, c.ChannelLifetime = time.Hour, time.Hour
		switch what {
		case "permission":
			c.PermissionLifetime = 500 * time.Millisecond
		case "channel":
			c.ChannelLifetime = 500 * time.Millisecond
		default:
			panic("expireSoon: " + what)
		}
	}
}

func udpPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

var transports = []string{"udp", "tcp"}

// TestFastPathRelaysBothWays: over UDP and TCP, ChannelData of every size
// class (odd lengths need padding on TCP) reaches the peer from the relay
// address and the peer's datagrams come back as ChannelData on the channel;
// over UDP unpadded, which only turnkey's path does (pion pads), so the
// peer-to-client direction is shown to take it. The allocation's counters
// equal the payload bytes and packets sent each way.
func TestFastPathRelaysBothWays(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, nil)
			peer := udpPeer(t)
			c := newChanClient(t, ts, transport, peer)
			if ts.chans.lookup(c.key) == nil {
				t.Fatal("the bound channel is not in the table")
			}
			var sent uint64
			sizes := []int{1, 3, 4, 5, 159, 160, 1200, 1500}
			if c.tcp {
				// pion's client STUNConn (the test's TCP client) waits for a
				// 9th byte before it parses any frame, so an 8-byte
				// ChannelData frame back would sit in its buffer.
				sizes = sizes[3:]
			}
			for _, size := range sizes {
				chanRoundTrip(t, c, bytes.Repeat([]byte{byte(size)}, size))
				sent += uint64(size)
			}
			n := uint64(len(sizes))
			// The relay counts right after its send: the last one may trail
			// the packet's arrival.
			var all usage
			testenv.WaitFor(t, "counters", 3*time.Second, func() bool {
				all, _, _ = ts.stats.totals("")
				return all.PacketsUp == n && all.PacketsDown == n
			})
			if all.BytesUp != sent || all.PacketsUp != n || all.BytesDown != sent || all.PacketsDown != n {
				t.Errorf("counted up %d B/%d pkts, down %d B/%d pkts; sent %d B and %d pkts each way",
					all.BytesUp, all.PacketsUp, all.BytesDown, all.PacketsDown, sent, n)
			}
		})
	}
}

// TestFastPathPermissionExpiryStopsChannel: when the peer's permission
// expires (a short configured lifetime, the channel's still long) nothing
// more is relayed on the channel in either direction, although pion keeps
// the channel (and would relay client data on it); both drops are counted
// as unpermitted. A CreatePermission brings the channel back.
func TestFastPathPermissionExpiryStopsChannel(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, expireSoon("permission"))
			c := newChanClient(t, ts, transport, udpPeer(t))
			c.send([]byte("before"))
			if _, _, ok := peerRecv(t, c.peer, 3*time.Second); !ok {
				t.Fatal("nothing relayed while permitted")
			}
			ch := ts.chans.lookup(c.key)
			testenv.WaitFor(t, "permission expired", 5*time.Second, func() bool { return !ch.permitted.Load() })
			if ts.chans.lookup(c.key) != ch {
				t.Fatal("the channel left the table with its permission; pion keeps it")
			}
			before, _, _ := ts.stats.totals("")

			expectChannelCut(t, c, false)
			after, _, _ := ts.stats.totals("")
			if after.Unpermitted-before.Unpermitted != 2 || after.BytesUp != before.BytesUp || after.BytesDown != before.BytesDown {
				t.Errorf("after expiry: unpermitted +%d (want 2), bytes up +%d down +%d (want 0)",
					after.Unpermitted-before.Unpermitted, after.BytesUp-before.BytesUp, after.BytesDown-before.BytesDown)
			}

			if code := c.createPermission(c.peer.LocalAddr().(*net.UDPAddr).AddrPort()); code != 0 {
				t.Fatalf("CreatePermission: %d", code)
			}
			c.send([]byte("permitted again"))
			if got, _, ok := peerRecv(t, c.peer, 3*time.Second); !ok || string(got) != "permitted again" {
				t.Fatalf("after a new permission: %q, %v", got, ok)
			}
		})
	}
}

// TestFastPathChannelExpiryAndRebind: when the channel expires it leaves
// the table: the peer's data reaches the client as a Data indication on
// pion's path (the permission, refreshed later, still holds), the client's
// ChannelData on the gone channel reaches no one. Binding a channel again,
// under another number, puts it back on the fast path.
func TestFastPathChannelExpiryAndRebind(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, expireSoon("channel"))
			c := newChanClient(t, ts, transport, udpPeer(t))
			testenv.WaitFor(t, "channel expired", 5*time.Second, func() bool { return ts.chans.lookup(c.key) == nil })
			if ch := ts.chans.relayOfClient(c.conn.LocalAddr()); ch != nil && ch.perms.channelOf(c.peer.LocalAddr().(*net.UDPAddr).AddrPort()) != nil {
				t.Fatal("the relay socket still has the expired channel")
			}
			expectChannelCut(t, c, true)

			c.bind(0x4001)
			if ts.chans.lookup(c.key) == nil {
				t.Fatal("the rebound channel is not in the table")
			}
			chanRoundTrip(t, c, []byte("rebound"))
		})
	}
}

// TestFastPathPeerWithoutPermissionDropped: a second peer, never permitted,
// sends to the relay address of an allocation with a channel: the client
// gets nothing, the datagram is counted as unpermitted and not as relayed.
func TestFastPathPeerWithoutPermissionDropped(t *testing.T) {
	ts := startServer(t, nil)
	peer := udpPeer(t)
	c := newChanClient(t, ts, "udp", peer)
	// Permissions are per IP: the stranger needs an address of its own.
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	expectStrangerDropped(t, ts, c, stranger)
	if all, _, _ := ts.stats.totals(""); all.BytesDown != 0 || all.PacketsDown != 0 {
		t.Errorf("counted %d bytes, %d packets relayed down", all.BytesDown, all.PacketsDown)
	}
}

// TestFastPathHostPortGuard: a channel bound to one of this host's service
// ports (our own relay address is always a permitted peer) relays nothing:
// the host-port guard holds on the fast path and counts the drop.
func TestFastPathHostPortGuard(t *testing.T) {
	service := udpPeer(t)
	ts := startServer(t, func(c *Config) {
		c.ProtectedPorts = []int{service.LocalAddr().(*net.UDPAddr).Port}
	})
	c := newChanClient(t, ts, "udp", service)
	c.send([]byte("to a service port"))
	if got, _, ok := peerRecv(t, service, 300*time.Millisecond); ok {
		t.Fatalf("the service port got %q through the relay", got)
	}
	if got := sumCounter(ts.metrics.hostPortDropped); got != 1 {
		t.Errorf("host-port drops counted %v, want 1", got)
	}
	if all, _, _ := ts.stats.totals(""); all.BytesUp != 0 {
		t.Errorf("counted %d bytes relayed up", all.BytesUp)
	}
}

// TestFastPathBandwidthLimit: a burst far above the per-allocation limit is
// cut to the bucket (its burst plus the rate over the time taken) in both
// directions on the fast path, the excess counted as dropped.
func TestFastPathBandwidthLimit(t *testing.T) {
	const bps = 20_000 // bucket burst: bps/2 = 10,000 bytes
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, func(c *Config) {
				c.BandwidthBPS = bps
				// Deep enough that the kernel drops none of the burst: every
				// packet is either relayed or dropped by the limit.
				c.ListenSocketBuffer, c.RelaySocketBuffer = 4<<20, 4<<20
			})
			peer := udpPeer(t)
			c := newChanClient(t, ts, transport, peer)
			payload := make([]byte, 1000)
			const packets = 100 // 100,000 bytes
			start := time.Now()
			for range packets {
				c.send(payload)
			}
			received := 0
			for {
				if _, _, ok := peerRecv(t, peer, 300*time.Millisecond); !ok {
					break
				}
				received++
			}
			allowed := int((bps/2 + bps*time.Since(start).Seconds()) / float64(len(payload)))
			if received == 0 || received > allowed+1 {
				t.Errorf("up: %d of %d packets passed a limit allowing %d", received, packets, allowed)
			}
			for range packets {
				if _, err := peer.WriteToUDPAddrPort(payload, c.relay); err != nil {
					t.Fatal(err)
				}
			}
			startDown, back := time.Now(), 0
			for {
				if _, _, _, ok := c.recv(300 * time.Millisecond); !ok {
					break
				}
				back++
			}
			allowedDown := int((bps/2 + bps*time.Since(startDown).Seconds()) / float64(len(payload)))
			if back == 0 || back > allowedDown+1 {
				t.Errorf("down: %d of %d packets passed a limit allowing %d", back, packets, allowedDown)
			}
			all, _, _ := ts.stats.totals("")
			if all.PacketsUp != uint64(received) || all.DroppedUp != uint64(packets-received) {
				t.Errorf("up: counted %d relayed, %d dropped; %d passed of %d", all.PacketsUp, all.DroppedUp, received, packets)
			}
			if all.PacketsDown != uint64(back) || all.DroppedDown != uint64(packets-back) {
				t.Errorf("down: counted %d relayed, %d dropped; %d arrived of %d", all.PacketsDown, all.DroppedDown, back, packets)
			}
		})
	}
}

// TestFastPathThousandAllocations: 1000 UDP allocations, each with a
// channel to one echo peer, relay a packet each way at once; every packet
// arrives and the counters hold the total.
func TestFastPathThousandAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 allocations")
	}
	const n = 1000
	goroutines := runtime.NumGoroutine()
	ts := startServer(t, func(c *Config) {
		c.Quotas = Quotas{}
		c.MinPort, c.MaxPort = 40000, 44999
		c.ListenSocketBuffer, c.RelaySocketBuffer = 4<<20, 1<<20
	})
	peer := udpPeer(t)
	_ = peer.SetReadBuffer(4 << 20)
	testnet.Echo(peer)
	peerAP := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	server := ts.addr("turn", "udp", 0)
	clients := make([]*rawClient, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				user, pass := creds(fmt.Sprintf("many-%d", i), time.Hour)
				c := newRawClient(t, "udp", server, user, pass, testRealm)
				if c.allocate() != 0 || c.channelBind(0x4000, peerAP) != 0 {
					t.Errorf("allocation %d failed", i)
				}
				clients[i] = c
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	errs := make(chan error, n)
	for i, c := range clients {
		wg.Go(func() {
			msg := fmt.Appendf(nil, "flow %04d", i)
			frame := binary.BigEndian.AppendUint16(nil, 0x4000)
			frame = binary.BigEndian.AppendUint16(frame, uint16(len(msg))) //nolint:gosec
			frame = append(frame, msg...)
			buf := make([]byte, 256)
			// UDP on a loaded box may drop; retry a few times, bounded.
			for range 5 {
				if _, err := c.conn.WriteTo(frame, c.to); err != nil {
					errs <- err
					return
				}
				_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
				k, _, err := c.conn.ReadFrom(buf)
				if err == nil && bytes.Equal(buf[:k], frame) {
					return
				}
			}
			errs <- fmt.Errorf("flow %d: no echo", i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The relay counts a datagram once its send returns, which may be just
	// after the client has read it.
	var all usage
	testenv.Eventually(5*time.Second, func() bool {
		all, _, _ = ts.stats.totals("")
		return all.PacketsDown >= n
	})
	if all.PacketsDown < n || all.PacketsUp < all.PacketsDown {
		t.Errorf("counted %d packets up, %d down, want %d each (more only for retries)", all.PacketsUp, all.PacketsDown, n)
	}
	// Wind down here, not in cleanup, so 2000 exiting goroutines do not
	// allocate under the next test's allocation count.
	for _, c := range clients {
		c.conn.Close()
	}
	ts.Close()
	// Best effort: a slow wind-down only costs the next test some noise.
	testenv.Eventually(10*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines+10 })
}

// TestFastPathNoAllocations: a round trip (client → peer → client) through
// the fast path allocates nothing anywhere in the process.
func TestFastPathNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ts := startServer(t, nil)
	peer := udpPeer(t)
	c := newChanClient(t, ts, "udp", peer)
	roundTrip := fastRoundTrip(t, c, peer)
	for range 10 {
		if err := roundTrip(); err != nil {
			t.Fatal(err)
		}
	}
	var opErr error
	allocs := testing.AllocsPerRun(500, func() {
		if err := roundTrip(); err != nil && opErr == nil {
			opErr = err
		}
	})
	if opErr != nil {
		t.Fatal(opErr)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per relayed round trip, want 0", allocs)
	}
}

// BenchmarkFastPathRoundTrip relays a 160-byte packet client → peer →
// client through the fast path; allocs/op covers the whole process.
func BenchmarkFastPathRoundTrip(b *testing.B) {
	ts := startServer(b, nil)
	peer := udpPeer(b)
	c := newChanClient(b, ts, "udp", peer)
	roundTrip := fastRoundTrip(b, c, peer)
	b.ReportAllocs()
	for b.Loop() {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

// fastRoundTrip returns a function relaying one 160-byte packet from the
// client to the peer and back, allocating nothing itself.
func fastRoundTrip(t testing.TB, c *chanClient, peer *net.UDPConn) func() error {
	t.Helper()
	conn := c.conn.(*net.UDPConn)
	server := c.to.(*net.UDPAddr).AddrPort()
	frame := make([]byte, 4+160)
	binary.BigEndian.PutUint16(frame[0:2], c.number)
	binary.BigEndian.PutUint16(frame[2:4], 160)
	buf := make([]byte, 2048)
	for _, s := range []*net.UDPConn{conn, peer} {
		if err := s.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	return func() error {
		if _, err := conn.WriteToUDPAddrPort(frame, server); err != nil {
			return err
		}
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if _, err := peer.WriteToUDPAddrPort(buf[:n], from); err != nil {
			return err
		}
		if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
			return err
		}
		return nil
	}
}
