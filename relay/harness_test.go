package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

const (
	testRealm  = "turnkey"
	testSecret = "test-secret-0123456789abcdef"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testSecretID is testSecret's ID, carried in issued usernames.
var testSecretID = credentials.SecretID([]byte(testSecret))

// testRing holds a keyring of secrets, the first signing.
func testRing(t testing.TB, secrets ...string) *credentials.KeyringHolder {
	t.Helper()
	list := make([][]byte, len(secrets))
	for i, s := range secrets {
		list[i] = []byte(s)
	}
	k, err := credentials.NewKeyring(list)
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewKeyringHolder(k)
}

// testServer is a relay on ephemeral loopback ports.
type testServer struct {
	*Server
	reg *prometheus.Registry
	log *logbuf.Buffer
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

func startServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	logs := &logbuf.Buffer{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Realm:           testRealm,
		ListenIPs:       []netip.Addr{loopback},
		UDPPort:         0,
		TCPPort:         0,
		AltTCPPort:      0,
		SocketsPerPort:  2,
		RelayIPs:        []netip.Addr{loopback},
		MinPort:         61000,
		MaxPort:         61999,
		Keyring:         testRing(t, testSecret),
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
	switch cfg.TCPPort {
	case 0:
		cfg.TCPPort = freeTCPPort(t)
	case -1: // the test wants no TCP listener
		cfg.TCPPort = 0
	}
	s, err := New(withDefaults(cfg))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, reg: reg, log: logs}
}

// clientPorts are the local UDP ports this test binary has handed to TURN
// clients. A server keeps an allocation after its client's socket closes, so a
// later client the kernel gives the same ephemeral port would inherit that
// 5-tuple and be answered 437 (Allocation Mismatch).
var clientPorts struct {
	sync.Mutex
	used map[string]bool
}

// clientUDP opens a UDP socket on local whose address no earlier client of
// this test binary had.
func clientUDP(t testing.TB, network, local string) net.PacketConn {
	t.Helper()
	clientPorts.Lock()
	defer clientPorts.Unlock()
	if clientPorts.used == nil {
		clientPorts.used = map[string]bool{}
	}
	var held []net.PacketConn // reused addresses stay bound until a fresh one is found
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 1000 {
		pc, err := net.ListenPacket(network, local)
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		if !clientPorts.used[addr] {
			clientPorts.used[addr] = true
			return pc
		}
		held = append(held, pc)
	}
	t.Fatal("no fresh client UDP port in 1000 tries")
	return nil
}

func freeUDPPort(t testing.TB) int { return freePortOf(t, "udp") }
func freeTCPPort(t testing.TB) int { return freePortOf(t, "tcp") }

// freePortOf is freePort failing the test.
func freePortOf(t testing.TB, network string) int {
	t.Helper()
	port, err := freePort(network)
	if err != nil {
		t.Fatal(err)
	}
	return port
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
		conn = clientUDP(t, "udp4", "127.0.0.1:0")
	case "tcp":
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	default:
		t.Fatalf("transport %q", transport)
	}
	client := listeningClient(t, conn, server, username, password, realm)
	t.Cleanup(func() { conn.Close() })
	return client, conn
}

// listeningClient starts a pion client on conn, closed when the test ends.
func listeningClient(t *testing.T, conn net.PacketConn, server, username, password, realm string) *turn.Client {
	t.Helper()
	return startClient(t, turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          realm,
	})
}

// startClient starts a pion client with cfg, retransmitting and logging as
// the tests want, closed when the test ends.
func startClient(t *testing.T, cfg turn.ClientConfig) *turn.Client {
	t.Helper()
	cfg.RTO = 200 * time.Millisecond
	cfg.LoggerFactory = logging.NewDefaultLoggerFactory()
	client, err := turn.NewClient(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// roundTrip sends payload through relay to the echo peer and waits for it
// to come back.
func roundTrip(t *testing.T, relayConn net.PacketConn, peer net.Addr, payload []byte) {
	t.Helper()
	sendUntilHeard(t, relayConn, peer, relayConn, peer, payload, 300*time.Millisecond, true)
}

// sendUntilHeard writes payload on out to dst, again after each wait, until
// in reads it from src, for up to 5 seconds. Anything else in reads fails
// the test when strict and is passed over otherwise.
func sendUntilHeard(t *testing.T, out net.PacketConn, dst net.Addr, in net.PacketConn, src net.Addr, payload []byte, wait time.Duration, strict bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		if _, err := out.WriteTo(payload, dst); err != nil {
			t.Fatalf("write to %s: %v", dst, err)
		}
		_ = in.SetReadDeadline(time.Now().Add(wait))
		n, from, err := in.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			t.Fatalf("read at %s: %v", in.LocalAddr(), err)
		}
		if from.String() == src.String() && bytes.Equal(buf[:n], payload) {
			return
		}
		if strict {
			t.Fatalf("got %q from %s, want %q from %s", buf[:n], from, payload, src)
		}
	}
	t.Fatalf("%q sent to %s never reached %s from %s within the deadline", payload, dst, in.LocalAddr(), src)
}

func itoa(i int) string { return strconv.Itoa(i) }

// rawClient speaks TURN by hand, for requests pion's client will not make
// (a foreign realm, a peer the policy must refuse, a ChannelBind on demand).
type rawClient struct {
	t                     testing.TB
	conn                  net.PacketConn
	to                    net.Addr
	user, password, realm string
	nonce                 stun.Nonce
	last                  *stun.Message // the last answer
	// silenceIsRefusal makes an unanswered request return -1 instead of
	// failing the test: pion drops, rather than answers, requests for an
	// allocation made by another user.
	silenceIsRefusal bool
}

func newRawClient(t testing.TB, transport, server, user, password, realm string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, user: user, password: password, realm: realm}
	switch transport {
	case "udp":
		local := "127.0.0.1:0"
		if strings.HasPrefix(server, "[") {
			local = "[::1]:0"
		}
		c.conn = clientUDP(t, "udp", local)
		c.to = mustResolveUDP(t, server)
	default:
		tc, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.conn = turn.NewSTUNConn(tc)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

// exchange sends one request and returns the answer.
func (c *rawClient) exchange(method stun.Method, setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	req, err := stun.Build(append([]stun.Setter{stun.TransactionID,
		stun.NewType(method, stun.ClassRequest)}, setters...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(req.Raw, c.to); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.readTimeout()))
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			if c.silenceIsRefusal {
				return nil
			}
			c.t.Fatalf("no answer to %s: %v", method, err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
			continue // a Data indication or a stale answer
		}
		return res
	}
}

// do sends an authenticated request, fetching a nonce first when needed,
// and returns the STUN error code (0 on success).
func (c *rawClient) do(method stun.Method, setters ...stun.Setter) int {
	c.t.Helper()
	for range 3 {
		var res *stun.Message
		if len(c.nonce) == 0 {
			if res = c.exchange(method, setters...); res == nil {
				return -1
			}
		} else {
			all := append(append([]stun.Setter{}, setters...), stun.NewUsername(c.user), stun.NewRealm(c.realm), c.nonce,
				stun.NewLongTermIntegrity(c.user, c.realm, c.password), stun.Fingerprint)
			res = c.exchange(method, all...)
		}
		if res == nil {
			return -1
		}
		c.last = res
		if res.Type.Class == stun.ClassSuccessResponse {
			return 0
		}
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(res); err != nil {
			c.t.Fatalf("error response without ERROR-CODE: %v", res)
		}
		if code.Code == stun.CodeUnauthorized || code.Code == stun.CodeStaleNonce {
			var nonce stun.Nonce
			if nonce.GetFrom(res) == nil && (len(c.nonce) == 0 || code.Code == stun.CodeStaleNonce) {
				c.nonce = nonce
				continue
			}
		}
		return int(code.Code)
	}
	return int(stun.CodeUnauthorized)
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func (c *rawClient) allocate() int { return c.do(stun.MethodAllocate, udpTransport) }

// lifetime is the LIFETIME of the last answer, in seconds.
func (c *rawClient) lifetime() uint32 {
	v, err := c.last.Get(stun.AttrLifetime)
	if err != nil || len(v) != 4 {
		c.t.Fatalf("no LIFETIME in %v", c.last)
	}
	return binary.BigEndian.Uint32(v)
}

func (c *rawClient) refresh(seconds uint32) int {
	lt := stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, seconds)}
	return c.do(stun.MethodRefresh, lt)
}

func (c *rawClient) createPermission(peer netip.AddrPort) int {
	return c.do(stun.MethodCreatePermission, peerAddr(peer))
}

func (c *rawClient) channelBind(number uint16, peer netip.AddrPort) int {
	ch := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(number >> 8), byte(number), 0, 0}}
	return c.do(stun.MethodChannelBind, ch, peerAddr(peer))
}

// peerAddr encodes XOR-PEER-ADDRESS exactly as given: an IPv4-mapped IPv6
// address goes out with the IPv6 family and 16 bytes, the form behind
// CVE-2026-27624, which a library encoder would turn into plain IPv4.
type peerAddr netip.AddrPort

func (p peerAddr) AddTo(m *stun.Message) error {
	ap := netip.AddrPort(p)
	ip := ap.Addr().AsSlice()
	family := byte(0x01)
	if len(ip) == 16 {
		family = 0x02
	}
	// The XOR key is the magic cookie followed by the transaction ID.
	key := make([]byte, 16)
	binary.BigEndian.PutUint32(key, magicCookie)
	copy(key[4:], m.TransactionID[:])
	v := make([]byte, 4+len(ip))
	v[1] = family
	binary.BigEndian.PutUint16(v[2:], ap.Port()^uint16(magicCookie>>16))
	for i := range ip {
		v[4+i] = ip[i] ^ key[i]
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

// rawAllocate performs an authenticated Allocate by hand, sending exactly the
// realm given (pion's client adopts the server's realm), and returns the
// STUN error code, or 0 on success.
func rawAllocate(t *testing.T, transport, server, username, password, realm string) int {
	t.Helper()
	return newRawClient(t, transport, server, username, password, realm).allocate()
}

// sumCounter adds up every series of a counter vector.
func sumCounter(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	total := 0.0
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err == nil {
			total += pb.GetCounter().GetValue()
		}
	}
	return total
}

// magicCookie is the fixed STUN value (RFC 8489 section 5).
const magicCookie = 0x2112A442

// readTimeout is short where silence is the expected answer.
func (c *rawClient) readTimeout() time.Duration {
	if c.silenceIsRefusal {
		return 500 * time.Millisecond
	}
	return 3 * time.Second
}
