package relay

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
)

const (
	testRealm  = "turnkey"
	testSecret = "test-secret-0123456789abcdef"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testServer is a relay on ephemeral loopback ports.
type testServer struct {
	*Server
	reg *prometheus.Registry
	log *syncBuffer
}

// udpAddr, tcpAddr and altAddr name the listeners.
func (ts *testServer) addr(scheme, transport string, nth int) string {
	for _, l := range ts.Listeners() {
		if l.Scheme == scheme && l.Transport == transport {
			if nth == 0 {
				return l.Addr.String()
			}
			nth--
		}
	}
	return ""
}

func startServer(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Realm:           testRealm,
		ListenIP:        loopback,
		UDPPort:         0,
		TCPPort:         0,
		AltTCPPort:      0,
		SocketsPerPort:  2,
		RelayIP:         loopback,
		MinPort:         40000,
		MaxPort:         40999,
		Secrets:         [][]byte{[]byte(testSecret)},
		MaxTTL:          24 * time.Hour,
		ClockSkew:       time.Minute,
		PeerPolicy:      PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		Quotas:          Quotas{PerIdentity: 10, PerAccount: 100, Total: 1000},
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:         reg,
		TrackedAccounts: 10,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	// Port 0 asks the kernel; New's listeners must still bind.
	if cfg.UDPPort == 0 {
		cfg.UDPPort = freeUDPPort(t)
	}
	if cfg.TCPPort == 0 {
		cfg.TCPPort = freeTCPPort(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, reg: reg, log: logs}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// echoPeer is a UDP peer on loopback that sends every datagram back.
func echoPeer(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}

// creds mints credentials with the test secret.
func creds(user string, ttl time.Duration) (string, string) {
	return credentials.MintTURN([]byte(testSecret), time.Now().Add(ttl), user)
}

// dialClient connects a pion TURN client over udp or tcp.
func dialClient(t *testing.T, transport, server, username, password, realm string) *turn.Client {
	t.Helper()
	c, _ := dialClientConn(t, transport, server, username, password, realm)
	return c
}

// dialClientConn is dialClient that also returns the client's socket, for
// tests that write raw messages on the allocation's 5-tuple.
func dialClientConn(t *testing.T, transport, server, username, password, realm string) (*turn.Client, net.PacketConn) {
	t.Helper()
	var conn net.PacketConn
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	default:
		t.Fatalf("transport %q", transport)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          realm,
		RTO:            200 * time.Millisecond,
		LoggerFactory:  logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); conn.Close() })
	return client, conn
}

// roundTrip sends payload through relay to the echo peer and waits for it
// to come back.
func roundTrip(t *testing.T, relayConn net.PacketConn, peer net.Addr, payload []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		if _, err := relayConn.WriteTo(payload, peer); err != nil {
			t.Fatalf("write through relay: %v", err)
		}
		_ = relayConn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, from, err := relayConn.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			t.Fatalf("read through relay: %v", err)
		}
		if from.String() != peer.String() || !bytes.Equal(buf[:n], payload) {
			t.Fatalf("got %q from %s, want %q from %s", buf[:n], from, payload, peer)
		}
		return
	}
	t.Fatalf("no echo from %s through the relay within the deadline", peer)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)

func itoa(i int) string { return strconv.Itoa(i) }

// rawAllocate performs an authenticated Allocate by hand, sending exactly the
// realm given (pion's client adopts the server's realm), and returns the
// STUN error code, or 0 on success.
func rawAllocate(t *testing.T, transport, server, username, password, realm string) int {
	t.Helper()
	var conn net.PacketConn
	var to net.Addr
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
		to = mustResolveUDP(t, server)
	default:
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	defer conn.Close()
	exchange := func(setters ...stun.Setter) *stun.Message {
		req, err := stun.Build(append([]stun.Setter{stun.TransactionID,
			stun.NewType(stun.MethodAllocate, stun.ClassRequest)}, setters...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.WriteTo(req.Raw, to); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer to Allocate: %v", err)
		}
		res := &stun.Message{Raw: buf[:n]}
		if err := res.Decode(); err != nil {
			t.Fatal(err)
		}
		return res
	}
	transportAttr := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	first := exchange(transportAttr)
	var nonce stun.Nonce
	if err := nonce.GetFrom(first); err != nil {
		t.Fatalf("first Allocate answered without a nonce: %v", first)
	}
	res := exchange(transportAttr, stun.NewUsername(username), stun.NewRealm(realm), nonce,
		stun.NewLongTermIntegrity(username, realm, password), stun.Fingerprint)
	if res.Type.Class == stun.ClassSuccessResponse {
		// Release it so counts stay clean.
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		t.Fatalf("error response without ERROR-CODE: %v", res)
	}
	return int(code.Code)
}
