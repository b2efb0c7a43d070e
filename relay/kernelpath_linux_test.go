package relay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// The kernel path's test network: the test's own namespace is the relay;
// a client namespace and a peer namespace hang off it on veth pairs, in
// the documentation ranges, the relay routing between them.
var (
	kpListen   = netip.MustParseAddr("198.51.100.1") // relay side of the client link
	kpClient   = netip.MustParseAddr("198.51.100.2")
	kpRelay    = netip.MustParseAddr("203.0.113.1") // relay side of the peer link
	kpPeer     = netip.MustParseAddr("203.0.113.2")
	kpStranger = netip.MustParseAddr("203.0.113.3") // a second peer, never permitted

	// The same links carry IPv6 too.
	kpListen6 = netip.MustParseAddr("2001:db8:c::1")
	kpClient6 = netip.MustParseAddr("2001:db8:c::2")
	kpRelay6  = netip.MustParseAddr("2001:db8:e::1")
	kpPeer6   = netip.MustParseAddr("2001:db8:e::2")
)

// kpNet is the topology: the names of the client and peer namespaces.
type kpNet struct{ client, peer string }

// kernelNet builds the topology from inside the test's namespace (see
// testenv.InNetns) and removes the two namespaces it adds at the end.
func kernelNet(t *testing.T) kpNet {
	t.Helper()
	id := strconv.Itoa(os.Getpid())
	n := kpNet{client: "tkc-" + id, peer: "tkp-" + id}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{n.client, n.peer} {
		run("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	link := func(ns, here, there string, local, remote netip.Addr, extra ...netip.Addr) {
		run("link", "add", here, "type", "veth", "peer", "name", there, "netns", ns)
		run("addr", "add", local.String()+"/24", "dev", here)
		run("link", "set", here, "up")
		for _, a := range append([]netip.Addr{remote}, extra...) {
			run("-n", ns, "addr", "add", a.String()+"/24", "dev", there)
		}
		run("-n", ns, "link", "set", there, "up")
		run("-n", ns, "route", "add", "default", "via", local.String())
	}
	link(n.client, "kpc", "eth0", kpListen, kpClient)
	link(n.peer, "kpp", "eth0", kpRelay, kpPeer, kpStranger)
	for _, l := range []struct {
		ns, here      string
		local, remote netip.Addr
	}{{n.client, "kpc", kpListen6, kpClient6}, {n.peer, "kpp", kpRelay6, kpPeer6}} {
		run("addr", "add", l.local.String()+"/64", "dev", l.here, "nodad")
		run("-n", l.ns, "addr", "add", l.remote.String()+"/64", "dev", "eth0", "nodad")
		run("-n", l.ns, "-6", "route", "add", "default", "via", l.local.String())
	}
	for _, ns := range []string{n.client, n.peer} {
		inNetns(t, ns, func() error { return txChecksumOff("eth0") })
	}
	// bpf_fib_lookup answers only where forwarding is on.
	for _, f := range []string{"/proc/sys/net/ipv4/conf/all/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// kernelTest starts a kernel-path test: in the parent it runs the test in a
// namespace of its own (testenv.InNetns) and returns false, in that child it
// builds the topology and returns true.
func kernelTest(t *testing.T) (kpNet, bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "root, for network namespaces and BPF")
	}
	if !testenv.InNetns(t) {
		return kpNet{}, false
	}
	return kernelNet(t), true
}

// inNetns runs f on a thread switched into network namespace ns; what
// f opens (sockets) stays in ns whichever thread uses it later.
func inNetns(t *testing.T, ns string, f func() error) {
	t.Helper()
	done := make(chan error)
	go func() {
		// A thread that cannot switch back stays locked and dies with
		// this goroutine.
		runtime.LockOSThread()
		here, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer here.Close()
		there, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer there.Close()
		if err := unix.Setns(int(there.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		err = f()
		if unix.Setns(int(here.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// listenIn opens a UDP socket at addr inside network namespace ns.
func listenIn(t *testing.T, ns string, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// txChecksumOff turns off checksum offload on ifname (ethtool -K tx off):
// its packets then carry a full checksum, computed by the sender, and
// arrive CHECKSUM_NONE, so the receiver verifies the checksum the kernel
// path rewrote instead of trusting an offload that never happens on veth.
func txChecksumOff(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	value := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM, data: 0}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&value)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&value)
	if errno != 0 {
		return fmt.Errorf("ethtool tx off %s: %w", ifname, errno)
	}
	return nil
}

// startKernelServer is a relay with the kernel path on (start-up fails
// without it), listening on the client link, relaying on the peer link.
func startKernelServer(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	ts := startServer(t, func(c *Config) {
		c.ListenIPs = []netip.Addr{kpListen}
		c.RelayIPs = []netip.Addr{kpRelay}
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")}}
		c.KernelOffload = OffloadOn
		if mutate != nil {
			mutate(c)
		}
	})
	if ts.kernel == nil {
		t.Fatal("kernel path not attached with KernelOffload on")
	}
	return ts
}

// kernelClient is a UDP client in the client namespace with channel
// 0x4000 bound to peer.
func kernelClient(t *testing.T, n kpNet, ts *testServer, user, pass string, peer *net.UDPConn) *chanClient {
	t.Helper()
	return kernelClientAt(t, n, kpClient, netip.MustParseAddrPort(ts.addr("turn", "udp", 0)), user, pass, peer)
}

// kernelClientAt is kernelClient on local, sending to server.
func kernelClientAt(t *testing.T, n kpNet, local netip.Addr, server netip.AddrPort, user, pass string, peer *net.UDPConn) *chanClient {
	t.Helper()
	conn := listenIn(t, n.client, local)
	c := &rawClient{t: t, conn: conn, to: net.UDPAddrFromAddrPort(server), user: user, password: pass, realm: testRealm}
	return allocateChan(t, c, server, false, peer)
}

// kernelUser is kernelClient for user, with credentials for an hour, and
// its channel to a new peer at kpPeer.
func kernelUser(t *testing.T, n kpNet, ts *testServer, user string) *chanClient {
	t.Helper()
	name, pass := creds(user, time.Hour)
	return kernelClient(t, n, ts, name, pass, listenIn(t, n.peer, kpPeer))
}

// waitEntries waits until the kernel has want entries installed.
func waitEntries(t *testing.T, ts *testServer, want int, what string) {
	t.Helper()
	testenv.WaitFor(t, what, 5*time.Second, func() bool {
		_, entries := kernelTotals(ts)
		return entries == want
	})
}

// kernelTotals is what the kernel relayed, live and removed, and the
// number of entries installed now.
func kernelTotals(ts *testServer) (usage, int) {
	c, n := ts.kernel.totals()
	return usage{BytesUp: c.UpBytes, BytesDown: c.DownBytes, PacketsUp: c.UpPackets, PacketsDown: c.DownPackets}, n
}

// kernelRelays round-trips each payload (chanRoundTrip) on c, the server's
// one kernel entry, and fails unless the kernel relayed every one both ways.
func kernelRelays(t *testing.T, ts *testServer, c *chanClient, payloads ...[]byte) {
	t.Helper()
	k0, entries := kernelTotals(ts)
	if entries != 1 {
		t.Fatalf("%d kernel entries, want 1", entries)
	}
	for _, p := range payloads {
		chanRoundTrip(t, c, p)
	}
	n := uint64(len(payloads))
	if k, _ := kernelTotals(ts); k.PacketsUp != k0.PacketsUp+n || k.PacketsDown != k0.PacketsDown+n {
		t.Fatalf("the kernel counted %+v after %+v, want %d packets more each way", k, k0, n)
	}
}

// TestKernelPath runs the kernel fast path in a topology of namespaces
// the test creates: client, relay (the test's own) and peer on veth.
func TestKernelPath(t *testing.T) {
	n, ok := kernelTest(t)
	if !ok {
		return
	}

	// Both ways through the kernel: the peer sees the relay address, the
	// client ChannelData on its channel; the kernel counted every packet
	// and byte, and the userspace path none (the allocation's totals are
	// the kernel's). The totals survive the entry's removal.
	t.Run("relays both ways in the kernel", func(t *testing.T) {
		ts := startKernelServer(t, nil)
		c := kernelUser(t, n, ts, "kernel")
		if _, entries := kernelTotals(ts); entries != 1 {
			t.Fatalf("%d kernel entries after a channel bind, want 1", entries)
		}
		var bytesSent uint64
		sizes := []int{1, 3, 4, 5, 8, 9, 159, 160, 1200, 1400}
		for _, size := range sizes {
			chanRoundTrip(t, c, bytes.Repeat([]byte{byte(size)}, size))
			bytesSent += uint64(size)
		}
		pkts := uint64(len(sizes))
		want := usage{BytesUp: bytesSent, BytesDown: bytesSent, PacketsUp: pkts, PacketsDown: pkts}
		k, _ := kernelTotals(ts)
		if k != want {
			t.Fatalf("kernel counted %+v, want %+v", k, want)
		}
		all, _, _ := ts.stats.totals("")
		all.Unpermitted, all.DroppedUp, all.DroppedDown = 0, 0, 0
		if all != want {
			t.Fatalf("relay totals %+v, want the kernel's %+v (the userspace path relayed some)", all, want)
		}
		// The live allocation's own view counts the kernel's traffic too.
		page, err := ts.Allocations(AllocationFilter{}, "", 10)
		if err != nil || len(page.Allocations) != 1 {
			t.Fatalf("Allocations: %+v, %v", page, err)
		}
		if a := page.Allocations[0]; a.PacketsClientToPeer != pkts || a.PacketsPeerToClient != pkts ||
			a.BytesClientToPeer != bytesSent || a.BytesPeerToClient != bytesSent {
			t.Fatalf("the allocation's view %+v, want %d packets and %d bytes each way", a, pkts, bytesSent)
		}
		if code := c.refresh(0); code != 0 {
			t.Fatalf("refresh 0: %d", code)
		}
		waitEntries(t, ts, 0, "entry removed with the allocation")
		all, _, _ = ts.stats.totals("")
		all.Unpermitted, all.DroppedUp, all.DroppedDown = 0, 0, 0
		if all != want {
			t.Fatalf("after the allocation ended: totals %+v, want %+v", all, want)
		}
		// The peer's next datagram finds no entry and no allocation.
		if _, err := c.peer.WriteToUDPAddrPort([]byte("late"), c.relay); err != nil {
			t.Fatal(err)
		}
		if got, _, _, ok := c.recv(300 * time.Millisecond); ok {
			t.Fatalf("relayed %q after the allocation was deleted", got)
		}
	})

	// A permission that expires takes the entry with it: the next packets
	// either way go to userspace, which drops and counts them as pion
	// would.
	t.Run("permission expiry removes the entry", func(t *testing.T) {
		ts := startKernelServer(t, expireSoon("permission"))
		c := kernelUser(t, n, ts, "kernel-perm")
		chanRoundTrip(t, c, []byte("while permitted"))
		waitEntries(t, ts, 0, "entry removed with the permission")
		before, _, _ := ts.stats.totals("")
		expectChannelCut(t, c, false)
		testenv.WaitFor(t, "both counted unpermitted", 3*time.Second, func() bool {
			after, _, _ := ts.stats.totals("")
			return after.Unpermitted-before.Unpermitted == 2
		})
		if code := c.createPermission(c.peer.LocalAddr().(*net.UDPAddr).AddrPort()); code != 0 {
			t.Fatalf("CreatePermission: %d", code)
		}
		kernelRelays(t, ts, c, []byte("permitted again"))
	})

	// A channel that expires takes the entry with it: the peer's data
	// reaches the client as a Data indication from userspace, the client's
	// ChannelData on the gone channel reaches no one.
	t.Run("channel expiry removes the entry", func(t *testing.T) {
		ts := startKernelServer(t, expireSoon("channel"))
		c := kernelUser(t, n, ts, "kernel-chan")
		chanRoundTrip(t, c, []byte("while bound"))
		waitEntries(t, ts, 0, "entry removed with the channel")
		expectChannelCut(t, c, true)
	})

	// Revoking the key that issued the credentials closes its live
	// allocations (the revocation feed calls CloseRevoked) and their
	// entries go with them; a Refresh with those credentials is refused.
	t.Run("revocation ends the allocation and the entry", func(t *testing.T) {
		key := "SK" + strings.Repeat("7", 32)
		revoked := &revocation{key: key}
		ts := startKernelServer(t, func(c *Config) { c.Revoked = revoked.revoked })
		user, pass := issuedCreds(t, "AC"+strings.Repeat("7", 32), key, "kernel-revoked")
		c := kernelClient(t, n, ts, user, pass, listenIn(t, n.peer, kpPeer))
		chanRoundTrip(t, c, []byte("before revocation"))
		revoked.set.Store(true)
		if code := c.refresh(1); code == 0 {
			t.Fatal("refresh accepted after revocation")
		}
		if n := ts.CloseRevoked(key); n != 1 {
			t.Fatalf("CloseRevoked closed %d allocations, want 1", n)
		}
		testenv.WaitFor(t, "entry removed with the revoked allocation", 5*time.Second, func() bool {
			_, entries := kernelTotals(ts)
			return entries == 0 && ts.AllocationCount() == 0
		})
		c.send([]byte("after revocation"))
		if got, _, ok := peerRecv(t, c.peer, 300*time.Millisecond); ok {
			t.Fatalf("relayed %q after the allocation ran out", got)
		}
	})

	// ChannelData padded to a multiple of 4 (pion's clients pad over UDP
	// too): the padding is dropped, the payload relayed and counted.
	t.Run("padded ChannelData", func(t *testing.T) {
		ts := startKernelServer(t, nil)
		c := kernelUser(t, n, ts, "kernel-padded")
		var sent uint64
		sizes := []int{1, 2, 3, 5, 6, 7, 161}
		for _, size := range sizes {
			payload := bytes.Repeat([]byte{0xa5}, size)
			frame := binary.BigEndian.AppendUint16(nil, c.number)
			frame = binary.BigEndian.AppendUint16(frame, uint16(size)) //nolint:gosec
			frame = append(frame, payload...)
			for len(frame)%4 != 0 {
				frame = append(frame, 0xff) // padding need not be zero to be dropped
			}
			if _, err := c.conn.WriteTo(frame, c.to); err != nil {
				t.Fatal(err)
			}
			got, _, ok := peerRecv(t, c.peer, 3*time.Second)
			if !ok || !bytes.Equal(got, payload) {
				t.Fatalf("padded %d bytes: the peer got %d (ok %v)", size, len(got), ok)
			}
			sent += uint64(size)
		}
		if k, _ := kernelTotals(ts); k.PacketsUp != uint64(len(sizes)) || k.BytesUp != sent {
			t.Fatalf("the kernel counted %+v, want %d packets, %d bytes up", k, len(sizes), sent)
		}
	})

	// IPv6 throughout: listener, client, relay and peer.
	t.Run("IPv6", func(t *testing.T) {
		ts := startKernelServer(t, func(c *Config) {
			c.ListenIPs = []netip.Addr{kpListen6}
			c.RelayIPs = []netip.Addr{kpRelay6}
			c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}
		})
		user, pass := creds("kernel-v6", time.Hour)
		server := netip.MustParseAddrPort(ts.addr("turn", "udp", 0))
		cc := kernelClientAt(t, n, kpClient6, server, user, pass, listenIn(t, n.peer, kpPeer6))
		if _, entries := kernelTotals(ts); entries != 1 {
			t.Fatalf("%d entries, want 1", entries)
		}
		var sent uint64
		sizes := []int{1, 3, 5, 160, 1200, 1400}
		for _, size := range sizes {
			chanRoundTrip(t, cc, bytes.Repeat([]byte{byte(size)}, size))
			sent += uint64(size)
		}
		want := usage{BytesUp: sent, BytesDown: sent, PacketsUp: uint64(len(sizes)), PacketsDown: uint64(len(sizes))}
		if k, _ := kernelTotals(ts); k != want {
			t.Fatalf("the kernel counted %+v, want %+v", k, want)
		}
	})

	// A second peer, never permitted, sends to the relay address: nothing
	// reaches the client, userspace counts it unpermitted, the kernel
	// counts nothing.
	t.Run("peer without a permission never reaches the client", func(t *testing.T) {
		ts := startKernelServer(t, nil)
		c := kernelUser(t, n, ts, "kernel-stranger")
		expectStrangerDropped(t, ts, c, listenIn(t, n.peer, kpStranger))
		if k, _ := kernelTotals(ts); k != (usage{}) {
			t.Fatalf("the kernel relayed %+v", k)
		}
	})

	// Under a bandwidth limit the allocation stays in userspace, where
	// the token bucket is exact.
	t.Run("bandwidth-limited allocations stay in userspace", func(t *testing.T) {
		ts := startKernelServer(t, func(c *Config) { c.BandwidthBPS = 1 << 20 })
		c := kernelUser(t, n, ts, "kernel-limited")
		if _, entries := kernelTotals(ts); entries != 0 {
			t.Fatalf("%d kernel entries for a limited allocation", entries)
		}
		chanRoundTrip(t, c, []byte("limited"))
		// The relay counts right after its send: the count may trail
		// the packet's arrival.
		testenv.WaitFor(t, "userspace counted both ways", 3*time.Second, func() bool {
			all, _, _ := ts.stats.totals("")
			return all.PacketsUp == 1 && all.PacketsDown == 1
		})
	})

	// A listener on the wildcard address answers from the address the
	// client sent to, which the kernel learns from the client's first
	// ChannelData.
	t.Run("wildcard listener", func(t *testing.T) {
		ts := startKernelServer(t, func(c *Config) { c.ListenIPs = []netip.Addr{netip.IPv4Unspecified()} })
		user, pass := creds("kernel-wildcard", time.Hour)
		port := netip.MustParseAddrPort(ts.addr("turn", "udp", 0)).Port()
		server := netip.AddrPortFrom(kpListen, port)
		cc := kernelClientAt(t, n, kpClient, server, user, pass, listenIn(t, n.peer, kpPeer))
		kernelRelays(t, ts, cc, []byte("via the wildcard listener"))
	})

	// On loopback (client, relay and peer on 127.0.0.1, as the benchmark
	// runs) the rewritten datagrams are delivered on this host.
	t.Run("loopback", func(t *testing.T) {
		ts := startServer(t, func(c *Config) { c.KernelOffload = OffloadOn })
		peer := udpPeer(t)
		c := newChanClient(t, ts, "udp", peer)
		kernelRelays(t, ts, c, bytes.Repeat([]byte{7}, 1), bytes.Repeat([]byte{7}, 160), bytes.Repeat([]byte{7}, 1200))

		// And on ::1.
		v6 := netip.IPv6Loopback()
		ts6 := startServer(t, func(c *Config) {
			c.KernelOffload = OffloadOn
			c.ListenIPs = []netip.Addr{v6}
			c.RelayIPs = []netip.Addr{v6}
			c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.PrefixFrom(v6, 128)}}
		})
		peer6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Fatal(err)
		}
		defer peer6.Close()
		c6 := newChanClient(t, ts6, "udp", peer6)
		kernelRelays(t, ts6, c6, []byte("on ::1"))
	})

	// Relay to relay on this server: two clients, each with a channel to
	// the other's relay address; the kernel hands one's ChannelData to
	// the other's client directly, counting it on both allocations.
	t.Run("relay to relay", func(t *testing.T) {
		// Our own relay address needs no allow-list entry (and must
		// have none here: an allow-listed local address is reachable on
		// every port but our services).
		ts := startKernelServer(t, func(c *Config) {
			c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.PrefixFrom(kpPeer, 32)}}
		})
		ua, pa := creds("kernel-a", time.Hour)
		ub, pb := creds("kernel-b", time.Hour)
		a := kernelClient(t, n, ts, ua, pa, listenIn(t, n.peer, kpPeer))
		b := kernelClient(t, n, ts, ub, pb, listenIn(t, n.peer, kpPeer))
		if code := a.channelBind(0x4001, b.relay); code != 0 {
			t.Fatalf("a binds b's relay: %d", code)
		}
		if code := b.channelBind(0x4002, a.relay); code != 0 {
			t.Fatalf("b binds a's relay: %d", code)
		}
		a.number, b.number = 0x4001, 0x4002
		k0, _ := kernelTotals(ts)
		a.send([]byte("a to b"))
		got, _, _, ok := b.recv(3 * time.Second)
		if !ok || string(got) != "a to b" {
			t.Fatalf("b got %q (%v)", got, ok)
		}
		b.send([]byte("b to a"))
		got, _, _, ok = a.recv(3 * time.Second)
		if !ok || string(got) != "b to a" {
			t.Fatalf("a got %q (%v)", got, ok)
		}
		if k, _ := kernelTotals(ts); k.PacketsUp != k0.PacketsUp+2 || k.PacketsDown != k0.PacketsDown+2 {
			t.Fatalf("the kernel counted %+v after %+v, want two packets more each way", k, k0)
		}
		// b's allocation ends: its port is no longer a live relay port,
		// so the host-port guard now blocks a's channel to it and its
		// entry goes with b's own; a's channel to its peer stays.
		if _, entries := kernelTotals(ts); entries != 4 {
			t.Fatalf("%d entries with two channels each, want 4", entries)
		}
		if code := b.refresh(0); code != 0 {
			t.Fatalf("b refresh 0: %d", code)
		}
		waitEntries(t, ts, 1, "b's entries and a's entry to b removed")
		a.send([]byte("to a closed relay port"))
		if got, _, _, ok := b.recv(300 * time.Millisecond); ok {
			t.Fatalf("b got %q after its allocation ended", got)
		}
	})
}
