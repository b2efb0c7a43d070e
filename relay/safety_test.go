package relay

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestRelayToRelayAndHostPortGuard: two allocations on a loopback relay reach
// each other on the default policy (no allow-list), while packets relayed to
// this host's own service ports or other local ports are never delivered.
func TestRelayToRelayAndHostPortGuard(t *testing.T) {
	// Stand-ins for the API and admin listeners: UDP sockets on protected
	// ports (a UDP relay can only emit UDP), plus an unrelated local service.
	api := listenUDPSink(t)
	admin := listenUDPSink(t)
	other := listenUDPSink(t)
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{} // the default deny-list, nothing allowed
		c.ProtectedPorts = []int{api.port(), admin.port()}
	})
	server := ts.addr("turn", "udp", 0)
	ra, rb := twoAllocations(t, server)
	// Relay to relay, both ways.
	exchange(t, ra, rb, []byte("alice to bob"))
	exchange(t, rb, ra, []byte("bob to alice"))

	// The relay address is permitted, so a permission for 127.0.0.1 exists;
	// every port outside the relay range must still be unreachable.
	turnUDP := mustResolveUDP(t, server)
	turnTCP := mustResolveUDP(t, ts.addr("turn", "tcp", 0))
	before := testutil.ToFloat64(ts.metrics.hostPortDropped)
	targets := []*net.UDPAddr{api.addr(), admin.addr(), other.addr(), turnUDP, turnTCP}
	for _, dst := range targets {
		for range 5 {
			if _, err := ra.WriteTo([]byte("probe"), dst); err != nil {
				t.Fatalf("write to %s: %v", dst, err)
			}
		}
	}
	// Control: the same relay still delivers to bob, so the probes had a
	// working path and were dropped on purpose.
	exchange(t, ra, rb, []byte("still relaying"))
	for _, s := range []*udpSink{api, admin, other} {
		if n := s.received(); n != 0 {
			t.Errorf("%d packets reached local port %d through the relay", n, s.port())
		}
	}
	if got := testutil.ToFloat64(ts.metrics.hostPortDropped) - before; got != float64(5*len(targets)) {
		t.Errorf("turnkey_peer_denied_total{reason=host_port} rose by %v, want %d", got, 5*len(targets))
	}
}

// TestTCPConnectToHostPortRefused: an RFC 6062 Connect to this host's API
// port is refused rather than opening a connection to it.
func TestTCPConnectToHostPortRefused(t *testing.T) {
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer apiLn.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := apiLn.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	apiPort := apiLn.Addr().(*net.TCPAddr).Port
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{}
		c.ProtectedPorts = []int{apiPort}
	})
	user, pass := creds("carol", time.Hour)
	client := dialClient(t, "tcp", ts.addr("turn", "tcp", 0), user, pass, testRealm)
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatalf("allocate TCP: %v", err)
	}
	defer alloc.Close()
	if _, err := alloc.Connect(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: apiPort}); err == nil {
		t.Fatal("Connect to the API port succeeded")
	}
	select {
	case <-accepted:
		t.Fatal("the API listener accepted a connection through the relay")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestAllocationQuotas(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Quotas = Quotas{PerIdentity: 2, PerAccount: 100, Total: 100}
	})
	server := ts.addr("turn", "udp", 0)
	var held []net.PacketConn
	for i := range 2 {
		user, pass := creds("dave", time.Hour)
		conn, err := dialClient(t, "udp", server, user, pass, testRealm).Allocate()
		if err != nil {
			t.Fatalf("allocation %d of dave: %v", i+1, err)
		}
		held = append(held, conn)
	}
	user, pass := creds("dave", time.Hour)
	if code := rawAllocate(t, "udp", server, user, pass, testRealm); code != 486 {
		t.Fatalf("third allocation of dave: code %d, want 486", code)
	}
	if v := testutil.ToFloat64(ts.metrics.quotaRejections.WithLabelValues("identity")); v != 1 {
		t.Errorf("turnkey_quota_rejections_total{kind=identity} = %v", v)
	}
	// Another identity still allocates.
	other, otherPass := creds("erin", time.Hour)
	if code := rawAllocate(t, "udp", server, other, otherPass, testRealm); code != 0 {
		t.Fatalf("erin refused with %d while dave is at quota", code)
	}
	// Releasing one of dave's frees a slot.
	held[0].Close()
	testenv.WaitFor(t, "dave's slot freed", 5*time.Second, func() bool {
		u, p := creds("dave", time.Hour)
		return rawAllocate(t, "udp", server, u, p, testRealm) == 0
	})
}

func TestDrainRefusesNewAllocations(t *testing.T) {
	ts := startServer(t, nil)
	server := ts.addr("turn", "udp", 0)
	user, pass := creds("frank", time.Hour)
	live, err := dialClient(t, "udp", server, user, pass, testRealm).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- ts.Drain(time.Now().Add(10 * time.Second)) }()
	testenv.WaitFor(t, "draining", time.Second, func() bool { return !ts.Ready() })
	if code := rawAllocate(t, "udp", server, user, pass, testRealm); code == 0 {
		t.Fatal("new allocation accepted while draining")
	}
	live.Close()
	select {
	case left := <-done:
		if left != 0 {
			t.Fatalf("drain ended with %d allocations", left)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end after the last allocation was released")
	}
}

// exchange sends from one relayed connection and waits for it at the other.
func exchange(t *testing.T, from, to net.PacketConn, payload []byte) {
	t.Helper()
	sendUntilHeard(t, from, to.LocalAddr(), to, from.LocalAddr(), payload, 200*time.Millisecond, false)
}

// udpSink counts datagrams and bytes arriving at a local port.
type udpSink struct {
	pc    *net.UDPConn
	n     chan struct{}
	bytes atomic.Int64
}

func listenUDPSink(t *testing.T) *udpSink {
	t.Helper()
	return listenUDPSinkAt(t, "127.0.0.1:0")
}

func listenUDPSinkAt(t *testing.T, addr string) *udpSink {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{pc: pc, n: make(chan struct{}, 1024)}
	t.Cleanup(func() { pc.Close() })
	testnet.Serve(pc, func(p []byte, _ netip.AddrPort) {
		s.bytes.Add(int64(len(p)))
		select {
		case s.n <- struct{}{}:
		default:
		}
	})
	return s
}

func (s *udpSink) addr() *net.UDPAddr { return s.pc.LocalAddr().(*net.UDPAddr) }
func (s *udpSink) port() int          { return s.addr().Port }
func (s *udpSink) received() int      { return len(s.n) }

// TestBandwidthLimitCutsFloodToTheLimit floods an allocation far above its
// per-allocation limit and checks what reaches the peer: at most the limit
// over the flood's duration plus the burst, and most of that (excess is
// dropped, not queued).
func TestBandwidthLimitCutsFloodToTheLimit(t *testing.T) {
	const rate = 50_000 // bytes per second
	ts := startServer(t, func(c *Config) { c.BandwidthBPS = rate })
	sink := listenUDPSink(t)
	user, pass := creds("flooder", time.Hour)
	_, conn := allocatedAs(t, "udp", ts.addr("turn", "udp", 0), user, pass, sink.addr())
	payload := make([]byte, 1000)
	start := time.Now()
	sent := 0
	// 1,500 packets of 1,000 bytes, paced over about a second: 30x the limit.
	for i := range 1500 {
		if _, err := conn.WriteTo(payload, sink.addr()); err != nil {
			t.Fatal(err)
		}
		sent += len(payload)
		if i%15 == 14 {
			// Pacing the flood, not polling: 15 packets every 10 ms.
			time.Sleep(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	// Everything the relay sent must land: wait until the peer's count
	// matches turnkey's own client→peer byte counter.
	counted := func() int64 { all, _, _ := ts.stats.totals(""); return int64(all.BytesUp) }
	testenv.WaitFor(t, "the peer to receive every byte turnkey relayed", 3*time.Second, func() bool {
		return sink.bytes.Load() == counted()
	})
	got := sink.bytes.Load()
	burst := int64(rate / 2)
	upper := int64(float64(rate)*elapsed.Seconds()) + burst + int64(len(payload))
	lower := int64(float64(rate)*elapsed.Seconds()) / 2
	t.Logf("sent %d bytes in %v; peer received %d (limit allows %d)", sent, elapsed, got, upper)
	if got > upper {
		t.Errorf("peer received %d bytes, more than the limit allows (%d)", got, upper)
	}
	if got < lower {
		t.Errorf("peer received %d bytes, far below the limit (%d): the limiter drops too much", got, lower)
	}
	if all, _, _ := ts.stats.totals(""); all.DroppedUp == 0 {
		t.Error("no packet counted as dropped over the limit")
	}
}

// TestRelayToRelayBehindOneToOneNAT: with a public IP advertised that differs
// from the bound relay IP (a cloud VM), two allocations still reach each
// other by their advertised addresses.
func TestRelayToRelayBehindOneToOneNAT(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{}
		// Any address other than the bound one stands in for the NAT's
		// public side; 127.0.0.5 is never bound here.
		c.PublicIPs = []netip.Addr{netip.MustParseAddr("127.0.0.5")}
	})
	ra, rb := twoAllocations(t, ts.addr("turn", "udp", 0))
	if got := ra.LocalAddr().(*net.UDPAddr).IP.String(); got != "127.0.0.5" {
		t.Fatalf("advertised relay address %s, want the public IP", ra.LocalAddr())
	}
	exchange(t, ra, rb, []byte("alice to bob via the public address"))
	exchange(t, rb, ra, []byte("bob to alice via the public address"))
}

// twoAllocations makes alice's and bob's allocations on server, each with a
// permission for the other's relay address, as two browsers relaying
// through the same server have.
func twoAllocations(t *testing.T, server string) (ra, rb net.PacketConn) {
	t.Helper()
	ua, pa := creds("alice", time.Hour)
	ub, pb := creds("bob", time.Hour)
	alice := dialClient(t, "udp", server, ua, pa, testRealm)
	bob := dialClient(t, "udp", server, ub, pb, testRealm)
	ra, err := alice.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	rb, err = bob.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	if err := alice.CreatePermission(rb.LocalAddr()); err != nil {
		t.Fatalf("permission for bob's relay address: %v", err)
	}
	if err := bob.CreatePermission(ra.LocalAddr()); err != nil {
		t.Fatalf("permission for alice's relay address: %v", err)
	}
	return ra, rb
}
