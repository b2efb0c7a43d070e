package relay

// The attack suite: each test sends what an attacker sent against turnkey
// (issue #14), on loopback, and asserts that the server's cost stays bounded
// and that other clients keep their service. SECURITY.md lists them.

import (
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
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
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
	waitFor(t, "goroutines to end", 10*time.Second, func() bool { return runtime.NumGoroutine() <= n })
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
	pad := make([]byte, DefaultMaxFrame-stunHeaderLen-4)
	for i := range pad {
		pad[i] = 'x'
	}
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: 0x8055, Value: pad})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Raw) != DefaultMaxFrame {
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
	waitFor(t, "the server to read every byte", 10*time.Second, func() bool { return drained(ts) })
	grown := int64(stackBytes()) - int64(base)
	if limit := int64(conns * 64 << 10); grown > limit {
		t.Errorf("stacks grew by %d bytes for %d trickled frames; want at most %d", grown, conns, limit)
	}
	// The frames still complete and are answered.
	buf := make([]byte, 2*DefaultMaxFrame)
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
