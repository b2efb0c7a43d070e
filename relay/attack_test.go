package relay

// The attack suite: each test sends what an attacker sent against turnkey
// (issue #14), on loopback, and asserts that the server's cost stays bounded
// and that other clients keep their service. SECURITY.md lists them.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// selfSigned is a throwaway certificate for the turns: listeners.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turnkey-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// startStreamServer is a relay with all three stream listeners: plain TCP,
// the shared port (plain and TLS) and TLS.
func startStreamServer(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	cert := selfSigned(t)
	return startServer(t, func(c *Config) {
		c.AltTCPPort = freeTCPPort(t)
		c.TLSPort = freeTCPPort(t)
		c.TLS = func() *tls.Config { return cert }
		if mutate != nil {
			mutate(c)
		}
	})
}

// streamDialers reach each kind of stream listener.
func streamDialers(ts *testServer) []struct {
	name string
	dial func(t *testing.T) net.Conn
} {
	plain := func(addr string) func(t *testing.T) net.Conn {
		return func(t *testing.T) net.Conn {
			t.Helper()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).SetNoDelay(true)
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	secure := func(addr string) func(t *testing.T) net.Conn {
		return func(t *testing.T) net.Conn {
			t.Helper()
			d := &net.Dialer{Timeout: 5 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test certificate
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	return []struct {
		name string
		dial func(t *testing.T) net.Conn
	}{
		{"tcp", plain(ts.addr("turn", "tcp", 0))},
		{"shared-plain", plain(ts.addr("turn", "tcp", 1))},
		{"shared-tls", secure(ts.addr("turns", "tcp", 0))},
		{"tls", secure(ts.addr("turns", "tcp", 1))},
	}
}

// expectClosed waits for the server to close c, reading whatever it sends.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept the connection open for %s", within)
	}
}

// bindingOK checks that a fresh client still gets a Binding answer over
// UDP: other clients keep their service.
func bindingOK(t *testing.T, ts *testServer) {
	t.Helper()
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), "", "", "")
	res := c.exchange(stun.MethodBinding)
	if res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("Binding answered %v", res.Type)
	}
}

func stunHeader(typ, length uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], typ)
	binary.BigEndian.PutUint16(b[2:], length)
	binary.BigEndian.PutUint32(b[4:], magicCookie)
	_, _ = rand.Read(b[8:])
	return b
}

func channelHeader(length uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], 0x4000)
	binary.BigEndian.PutUint16(b[2:], length)
	return b
}

// waitGoroutines polls until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	testenv.WaitFor(t, "goroutines to end", 10*time.Second, func() bool { return runtime.NumGoroutine() <= n })
}

// C1: one unauthenticated 20-byte frame declaring a length near 64 KB.
// pion v5.1.2 spun on it forever; the listener layer must refuse the length
// and close at once, on every stream listener.
func TestAttackOversizedFrameHeader(t *testing.T) {
	ts := startStreamServer(t, nil)
	frames := []struct {
		name  string
		frame []byte
	}{
		{"stun-0xFFEC", stunHeader(0x0001, 0xFFEC)},
		{"stun-0xFFFF", stunHeader(0x0001, 0xFFFF)},
		{"chandata-0xFFF9", channelHeader(0xFFF9)},
		{"chandata-0xFFFA", channelHeader(0xFFFA)},
		{"chandata-0xFFFB", channelHeader(0xFFFB)},
		{"chandata-0xFFFC", channelHeader(0xFFFC)},
	}
	before := runtime.NumGoroutine()
	sent := 0
	for _, l := range streamDialers(ts) {
		for _, f := range frames {
			t.Run(l.name+"/"+f.name, func(t *testing.T) {
				c := l.dial(t)
				if _, err := c.Write(f.frame); err != nil {
					t.Fatal(err)
				}
				sent++
				expectClosed(t, c, 5*time.Second)
				c.Close()
			})
		}
	}
	if got := sumCounter(ts.metrics.streamClosed); got < float64(sent) {
		t.Errorf("turnkey_stream_connections_closed_total = %v, want %d", got, sent)
	}
	waitGoroutines(t, before)
	bindingOK(t, ts)
}

// stackBytes is the memory in goroutine stacks now.
func stackBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// drained reports whether every server-side client connection has nothing
// left unread in its kernel receive queue.
func drained(ts *testServer) bool {
	ts.connMu.Lock()
	defer ts.connMu.Unlock()
	for c := range ts.clientConns {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return false
		}
		rc, err := tc.SyscallConn()
		if err != nil {
			return false
		}
		queued := 0
		_ = rc.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued != 0 {
			return false
		}
	}
	return true
}

// H4: a frame trickled one byte per segment. pion's STUNConn recursed once
// per read, ~10 MB of stack for a 64 KB frame. The longest frame the limit
// admits, trickled over many connections, must cost a bounded stack per
// connection; the 64 KB one is refused at its header.
func TestAttackTrickledFrame(t *testing.T) {
	const conns = 10
	ts := startServer(t, nil)
	addr := ts.addr("turn", "tcp", 0)

	// A Binding request of exactly the frame limit, padded with an unknown
	// comprehension-optional attribute.
	pad := make([]byte, ts.maxFrame-stunHeaderLen-4)
	for i := range pad {
		pad[i] = 'x'
	}
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: 0x8055, Value: pad})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Raw) != ts.maxFrame {
		t.Fatalf("frame is %d bytes", len(req.Raw))
	}

	base := stackBytes()
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetNoDelay(true)
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	// All but the last byte, one byte per write, round robin.
	for i := range len(req.Raw) - 1 {
		for _, c := range cs {
			if _, err := c.Write(req.Raw[i : i+1]); err != nil {
				t.Fatalf("byte %d: %v", i, err)
			}
		}
	}
	testenv.WaitFor(t, "the server to read every byte", 10*time.Second, func() bool { return drained(ts) })
	grown := int64(stackBytes()) - int64(base)
	if limit := int64(conns * 64 << 10); grown > limit {
		t.Errorf("stacks grew by %d bytes for %d trickled frames; want at most %d", grown, conns, limit)
	}
	// The frames still complete and are answered.
	buf := make([]byte, 2*ts.maxFrame)
	for _, c := range cs {
		if _, err := c.Write(req.Raw[len(req.Raw)-1:]); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAtLeast(c, buf, stunHeaderLen); err != nil {
			t.Fatalf("no Binding answer to the trickled frame: %v", err)
		}
	}

	// The 64 KB frame of the attack, trickled: closed after its header.
	big := stunHeader(0x0001, 0xFFEC)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	for i := range 4 {
		if _, err := c.Write(big[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	expectClosed(t, c, 5*time.Second)
	bindingOK(t, ts)
}

// H1: Allocate requests that pion refused after the quota handler admitted
// them (LIFETIME 0 was answered 508) gave their quota slot to no one: ten
// locked an identity until restart. LIFETIME 0 now gets the default
// lifetime (RFC 8656 §7.2, request.go), and every slot comes back.
func TestAttackZeroLifetimeAllocate(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Quotas = Quotas{PerIdentity: 10, PerAccount: 10, Total: 10} })
	server := ts.addr("turn", "udp", 0)
	user, pass := creds("victim", time.Hour)
	zero := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}
	for i := range 10 {
		c := newRawClient(t, "udp", server, user, pass, testRealm)
		if code := c.do(stun.MethodAllocate, udpTransport, zero); code != 0 {
			t.Fatalf("Allocate %d with LIFETIME 0: code %d", i, code)
		}
		if got := c.lifetime(); got != 600 {
			t.Fatalf("Allocate %d with LIFETIME 0 granted %d s, want the default 600", i, got)
		}
		if code := c.refresh(0); code != 0 {
			t.Fatalf("release %d: code %d", i, code)
		}
	}
	testenv.WaitFor(t, "every quota slot back", 5*time.Second, func() bool { return ts.quota.Active() == 0 })
	if code := rawAllocate(t, "udp", server, user, pass, testRealm); code != 0 {
		t.Fatalf("the identity's own Allocate after the attack: code %d", code)
	}
}

// M4: a UDP and a TCP allocation from the same address and port are two
// allocations: deleting one must not release the other's quota slot or
// miscount the gauges.
func TestAttackSamePortUDPAndTCP(t *testing.T) {
	ts := startServer(t, nil)
	user, pass := creds("alice", time.Hour)
	// The UDP socket's ephemeral port may be taken for TCP by another
	// socket on the machine; try other ports until one is free for both.
	var (
		u  *rawClient
		tc net.Conn
	)
	for attempt := 0; tc == nil; attempt++ {
		u = newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
		port := u.conn.LocalAddr().(*net.UDPAddr).Port
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
		c, err := d.Dial("tcp", ts.addr("turn", "tcp", 0))
		switch {
		case err == nil:
			tc = c
		case errors.Is(err, syscall.EADDRINUSE) && attempt < 50:
			u.conn.Close()
		default:
			t.Fatal(err)
		}
	}
	tcp := &rawClient{t: t, conn: turnSTUNConn(tc), user: user, password: pass, realm: testRealm}
	t.Cleanup(func() { tcp.conn.Close() })

	if code := u.allocate(); code != 0 {
		t.Fatalf("UDP Allocate: %d", code)
	}
	if code := tcp.allocate(); code != 0 {
		t.Fatalf("TCP Allocate: %d", code)
	}
	active := func(transport string) float64 {
		return gaugeValue(t, ts.metrics.allocationsActive.WithLabelValues(transport, familyIPv4))
	}
	if ts.quota.Active() != 2 || active("udp") != 1 || active("tcp") != 1 {
		t.Fatalf("two allocations: quota %d, udp %v, tcp %v", ts.quota.Active(), active("udp"), active("tcp"))
	}
	if code := u.refresh(0); code != 0 {
		t.Fatalf("UDP Refresh 0: %d", code)
	}
	testenv.WaitFor(t, "the UDP allocation to go", 5*time.Second, func() bool { return active("udp") == 0 })
	if ts.quota.Active() != 1 || active("tcp") != 1 {
		t.Fatalf("after deleting the UDP one: quota %d, tcp gauge %v", ts.quota.Active(), active("tcp"))
	}
	if code := tcp.refresh(0); code != 0 {
		t.Fatalf("TCP Refresh 0: %d", code)
	}
	testenv.WaitFor(t, "the TCP allocation to go", 5*time.Second, func() bool { return active("tcp") == 0 && ts.quota.Active() == 0 })
}

func gaugeValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var pb dto.Metric
	if err := (<-ch).Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetGauge().GetValue()
}

func openConns(ts *testServer) int {
	ts.connMu.Lock()
	defer ts.connMu.Unlock()
	return len(ts.clientConns)
}

// M5: 3,000 connections from one address, idle or with a half-sent header,
// were all kept forever. The per-source cap bounds what one address holds,
// the idle timeout reaps what it holds, and a client from another address
// keeps its service throughout.
func TestAttackConnectionFlood(t *testing.T) {
	const perSource = 100
	ts := startServer(t, func(c *Config) {
		c.MaxConnsPerSource = perSource
		c.IdleTimeout = 500 * time.Millisecond
	})
	addr := ts.addr("turn", "tcp", 0)
	base := runtime.NumGoroutine()

	// A victim on another loopback address, with an allocation.
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	vc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	user, pass := creds("victim", time.Hour)
	victim := &rawClient{t: t, conn: turnSTUNConn(vc), user: user, password: pass, realm: testRealm}
	t.Cleanup(func() { victim.conn.Close() })
	if code := victim.allocate(); code != 0 {
		t.Fatalf("victim Allocate: %d", code)
	}

	flood := make([]net.Conn, 0, 3000)
	t.Cleanup(func() {
		for _, c := range flood {
			c.Close()
		}
	})
	for i := range 3000 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 1 {
			_, _ = c.Write([]byte{0x00, 0x03, 0x00}) // a header never finished
		}
		flood = append(flood, c)
	}
	if n := openConns(ts); n > perSource+1 {
		t.Fatalf("server holds %d connections; cap is %d per source", n, perSource)
	}
	if g := runtime.NumGoroutine() - base; g > 4*(perSource+1) {
		t.Errorf("%d goroutines for a capped flood", g)
	}
	// The idle timeout reaps the flood but not the allocated victim.
	testenv.WaitFor(t, "the idle flood to be closed", 10*time.Second, func() bool { return openConns(ts) == 1 })
	if res := victim.exchange(stun.MethodBinding); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("victim Binding: %v", res.Type)
	}
	if code := victim.refresh(600); code != 0 {
		t.Fatalf("victim Refresh: %d", code)
	}
	if got := gaugeValue(t, ts.metrics.allocationsActive.WithLabelValues("tcp", familyIPv4)); got != 1 {
		t.Fatalf("victim allocation gauge %v", got)
	}
}

func turnSTUNConn(c net.Conn) net.PacketConn { return turn.NewSTUNConn(c) }

// H3: running out of file descriptors ended the accept loop for good,
// silently. In a child process with a low RLIMIT_NOFILE (the limit is
// process-wide), connections are opened until accept fails; the listener
// must then report itself down, and serve again once descriptors are free.
func TestAttackAcceptEMFILE(t *testing.T) {
	if os.Getenv("TURNKEY_EMFILE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAttackAcceptEMFILE$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TURNKEY_EMFILE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAttackAcceptEMFILE")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	ts := startServer(t, func(c *Config) { c.SocketsPerPort = 1 })
	addr := ts.addr("turn", "tcp", 0)
	tcpUp := func() float64 {
		return gaugeValue(t, ts.metrics.listenerUp.WithLabelValues("tcp:"+strconv.Itoa(ts.Listeners()[1].Port)))
	}
	if tcpUp() != 1 || ts.Health() != nil {
		t.Fatalf("listener not up at start: %v %v", tcpUp(), ts.Health())
	}

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(fds) + 40)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for range 200 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the client side ran out as well
		}
		clients = append(clients, c)
	}
	testenv.WaitFor(t, "the listener to report EMFILE", 10*time.Second, func() bool { return ts.Health() != nil && tcpUp() == 0 })
	if !ts.Ready() {
		t.Logf("not ready while out of descriptors: %v", ts.Health())
	} else {
		t.Fatal("Ready while the listener cannot accept")
	}

	for _, c := range clients {
		c.Close()
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// The next client is served, and the listener is healthy again.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, conn: turnSTUNConn(c)}
	t.Cleanup(func() { rc.conn.Close() })
	if res := rc.exchange(stun.MethodBinding); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("Binding after recovery: %v", res.Type)
	}
	if tcpUp() != 1 || ts.Health() != nil {
		t.Fatalf("listener still reported down: %v %v", tcpUp(), ts.Health())
	}
}

// L3: 10,000 permissions on one allocation cost 9 CPU-seconds, each one
// rebuilding a copy of the set. The allocation's permissions are capped and
// adding one costs the same whatever the set's size.
func TestAttackPermissionFlood(t *testing.T) {
	const limit = 200
	ts := startServer(t, func(c *Config) {
		c.MaxPermissions = limit
		c.PeerPolicy = PeerPolicy{DisableDefaultDeny: true}
	})
	server := ts.addr("turn", "udp", 0)
	user, pass := creds("flooder", time.Hour)
	c := newRawClient(t, "udp", server, user, pass, testRealm)
	if code := c.allocate(); code != 0 {
		t.Fatalf("Allocate: %d", code)
	}
	refused := 0
	for i := 0; i < 10000; i += 10 {
		peers := make([]stun.Setter, 0, 10)
		for j := i; j < i+10; j++ {
			peers = append(peers, peerAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(j >> 8), byte(j)}), 5000)))
		}
		// Past the limit: 508, a capacity limit (RFC 8656 §9.2), not 403.
		if code := c.do(stun.MethodCreatePermission, peers...); code == int(stun.CodeInsufficientCapacity) {
			refused++
		} else if code != 0 {
			t.Fatalf("CreatePermission %d: code %d", i, code)
		}
	}
	rc := ts.chans.relayOfClient(c.conn.LocalAddr())
	if rc == nil {
		t.Fatal("no relay socket for the client")
	}
	rc.perms.mu.RLock()
	n := rc.perms.ips.len()
	rc.perms.mu.RUnlock()
	if n > limit || refused == 0 {
		t.Fatalf("%d permissions held (limit %d), %d requests refused", n, limit, refused)
	}
	if got := testutil.ToFloat64(ts.metrics.peerDenied.WithLabelValues("permission_limit")); got == 0 {
		t.Error("permission_limit refusals not counted")
	}
	// A permission already held is refreshed, not refused.
	if code := c.createPermission(netip.MustParseAddrPort("10.1.0.0:5000")); code != 0 {
		t.Errorf("refreshing a held permission: %d", code)
	}
	bindingOK(t, ts)
	other, opass := creds("bystander", time.Hour)
	if code := rawAllocate(t, "udp", server, other, opass, testRealm); code != 0 {
		t.Fatalf("another client's Allocate: %d", code)
	}
}

// TestPermSetAddIsConstant: adding a permission to a large set allocates
// about what adding one to a small set does (the old copy-on-write set
// copied itself on every add).
func TestPermSetAddIsConstant(t *testing.T) {
	var p permSet
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range 10000 {
		p.setIP(ip(i), true)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 10000; i < 10100; i++ {
		p.setIP(ip(i), true)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("100 adds to a 10,000-entry set allocated %d bytes", grown)
	}
}

// H2: every identity-less credential of an account (Tokens.json) shared one
// per-identity quota, so the 11th allocation of the whole account got 486.
// Each such credential is its own identity; the account quota is the
// tenant's limit; and the default quotas let one identity take part in an
// 8-party mesh (7 peer connections × 3 TURN URLs).
func TestAttackSharedEmptyIdentity(t *testing.T) {
	def := config.Default().TURN.Quotas
	const account = 45
	ts := startServer(t, func(c *Config) {
		c.Quotas = Quotas{PerIdentity: def.PerIdentity, PerAccount: account, Total: def.Total}
	})
	server := ts.addr("turn", "udp", 0)
	acct := "AC" + strings.Repeat("a", 32)
	mint := func(identity string) (string, string) {
		return issuedCreds(t, acct, "SK"+strings.Repeat("b", 32), identity)
	}
	// One identity in a mesh call: 21 allocations with one credential.
	mu, mp := mint("alice")
	for i := range 21 {
		if code := rawAllocate(t, "udp", server, mu, mp, testRealm); code != 0 {
			t.Fatalf("mesh allocation %d of one identity: code %d", i, code)
		}
	}
	// Identity-less credentials, one allocation each, up to the account's
	// limit (which is above the per-identity one).
	for i := 21; i < account; i++ {
		u, p := mint("")
		if code := rawAllocate(t, "udp", server, u, p, testRealm); code != 0 {
			t.Fatalf("allocation %d of the account: code %d", i, code)
		}
	}
	u, p := mint("")
	if code := rawAllocate(t, "udp", server, u, p, testRealm); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("allocation past the account's limit: code %d, want 486", code)
	}
}
