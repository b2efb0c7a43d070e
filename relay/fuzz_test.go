package relay

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// The fuzz targets here feed attacker-shaped bytes to a running relay and
// then check that a well-behaved client is still served: a crash is the
// obvious failure, but a read loop that wedges, a listener that closes, or
// an allocation that a stranger can break are failures too.
//
// One relay is started per fuzz process, lazily, on first use: starting a
// server per input would cost milliseconds and relay ports per input. It is
// thrown away and rebuilt only after a failed liveness check, so that the
// fuzzer's minimisation of a failing input runs against a fresh server
// rather than one already broken by an earlier input.

const (
	// fuzzSecondSecret makes the relay run with two secrets: only then does
	// the inspector decode requests and check their MESSAGE-INTEGRITY, which
	// is turnkey's own parsing of untrusted bytes and what most needs fuzzing.
	fuzzSecondSecret = "fuzz-previous-secret-0123456789"

	// maxFuzzDatagram keeps inputs sendable as one UDP datagram while
	// staying above pion's 1600-byte inbound MTU, so the truncation path is
	// reached too.
	maxFuzzDatagram = 4096
	// maxFuzzStream is one maximal STUN frame and a bit.
	maxFuzzStream = stunMaxFrameLen + 64

	// livenessBudget bounds each check; a healthy loopback relay answers in
	// well under a millisecond, resendEvery retransmits a lost probe.
	livenessBudget = 3 * time.Second
	resendEvery    = 250 * time.Millisecond
)

// livenessPrefix starts every probe relayAlive sends; the echo peer returns
// nothing else.
var livenessPrefix = []byte("alive-")

// fuzzRig is a relay with the well-behaved clients the fuzz targets watch.
type fuzzRig struct {
	srv     *Server
	udpAddr *net.UDPAddr
	tcpAddr string
	peer    *net.UDPAddr

	// stranger sends raw inputs from an address with no allocation, then a
	// Binding request on the same socket: the server reads one socket's
	// datagrams in order, so the answer proves the input was handled.
	stranger net.PacketConn

	// The UDP client: an allocation with a permission to the echo peer.
	// Inputs are also written on its own socket (its 5-tuple), where an
	// unauthenticated message must not disturb its allocation.
	udpClient *turn.Client
	udpSock   net.PacketConn
	udpRelay  net.PacketConn

	// The TCP client. Its own stream cannot carry fuzz input (any bytes
	// that break its framing end the connection by design), so stream
	// inputs come on fresh connections beside it.
	tcpClient *turn.Client
	tcpSock   net.PacketConn
	tcpRelay  net.PacketConn

	seq     atomic.Uint64
	closers []func()
}

var (
	rigMu     sync.Mutex
	sharedRig *fuzzRig
)

// getRig returns this process's rig, starting it on first use.
func getRig(tb testing.TB) *fuzzRig {
	tb.Helper()
	rigMu.Lock()
	defer rigMu.Unlock()
	if sharedRig == nil {
		r, err := newFuzzRig()
		if err != nil {
			tb.Fatalf("start fuzz relay: %v", err)
		}
		sharedRig = r
	}
	return sharedRig
}

// closeRigAtEnd closes the rig when the fuzz target ends, so a plain
// `go test` run (seeds only) leaves no relay behind for the tests after it.
func closeRigAtEnd(f *testing.F) {
	f.Cleanup(func() {
		rigMu.Lock()
		r := sharedRig
		sharedRig = nil
		rigMu.Unlock()
		if r != nil {
			r.close()
		}
	})
}

// fail reports a liveness failure after input and drops the rig so the
// next input starts on a fresh relay.
func (r *fuzzRig) fail(t *testing.T, input []byte, format string, args ...any) {
	t.Helper()
	rigMu.Lock()
	if sharedRig == r {
		sharedRig = nil
	}
	rigMu.Unlock()
	r.close()
	t.Fatalf("after input %s: %s", hex.EncodeToString(input), fmt.Sprintf(format, args...))
}

func (r *fuzzRig) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

func newFuzzRig() (_ *fuzzRig, err error) {
	r := &fuzzRig{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	tcpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	ring, err := credentials.NewKeyring([][]byte{[]byte(testSecret), []byte(fuzzSecondSecret)})
	if err != nil {
		return nil, err
	}
	srv, err := New(withDefaults(Config{
		Realm:          testRealm,
		ListenIPs:      []netip.Addr{loopback},
		UDPPort:        udpPort,
		TCPPort:        tcpPort,
		SocketsPerPort: 2,
		RelayIPs:       []netip.Addr{loopback},
		MinPort:        60000,
		MaxPort:        60999,
		Keyring:        credentials.NewKeyringHolder(ring),
		MaxTTL:         24 * time.Hour,
		ClockSkew:      time.Minute,
		PeerPolicy:     PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		Quotas:         Quotas{PerIdentity: 10, PerAccount: 100, Total: 1000},
		// Debug level so the log calls that quote client input are run;
		// the output itself is of no use here.
		Logger:          slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:         prometheus.NewRegistry(),
		TrackedAccounts: 10,
	}))
	if err != nil {
		return nil, fmt.Errorf("relay.New: %w", err)
	}
	r.srv = srv
	r.closers = append(r.closers, func() { srv.Close() })
	r.udpAddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: udpPort}
	r.tcpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))

	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("echo peer: %w", err)
	}
	r.closers = append(r.closers, func() { peer.Close() })
	r.peer = peer.LocalAddr().(*net.UDPAddr)
	// The peer echoes only the liveness probes. A fuzz input written on a
	// client's 5-tuple may be valid ChannelData or a Send indication, which
	// the server rightly relays to this peer; echoed back, it would reach
	// the pion client, whose read loop (v5.1.3) ends for good on a
	// ChannelData payload that starts with the STUN magic cookie (it takes
	// the datagram for STUN and fails to decode it). That is the client's
	// flaw, not the server's: TestChannelDataPayloadLookingLikeSTUN shows the
	// server relays such a payload intact both ways.
	testnet.Serve(peer, func(p []byte, from netip.AddrPort) {
		if bytes.HasPrefix(p, livenessPrefix) {
			_, _ = peer.WriteToUDPAddrPort(p, from)
		}
	})

	if r.stranger, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("stranger socket: %w", err)
	}
	r.closers = append(r.closers, func() { r.stranger.Close() })

	if r.udpClient, r.udpSock, r.udpRelay, err = r.allocatedClient("udp", "fuzz-udp"); err != nil {
		return nil, err
	}
	if r.tcpClient, r.tcpSock, r.tcpRelay, err = r.allocatedClient("tcp", "fuzz-tcp"); err != nil {
		return nil, err
	}
	return r, nil
}

// allocatedClient connects a pion client, allocates and permits the echo
// peer, and proves the path once.
func (r *fuzzRig) allocatedClient(transport, user string) (*turn.Client, net.PacketConn, net.PacketConn, error) {
	var sock net.PacketConn
	server := r.udpAddr.String()
	if transport == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, fmt.Errorf("client socket: %w", err)
		}
		sock = c
	} else {
		server = r.tcpAddr
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("client connection: %w", err)
		}
		sock = turn.NewSTUNConn(c)
	}
	r.closers = append(r.closers, func() { sock.Close() })
	username, password := credentials.MintTURN([]byte(testSecret), time.Now().Add(24*time.Hour), user)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           sock,
		Username:       username,
		Password:       password,
		Realm:          testRealm,
		RTO:            100 * time.Millisecond,
		// The server's answers to fuzz inputs arrive on this client's
		// socket; pion would log each unknown transaction.
		LoggerFactory: &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled},
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s client: %w", transport, err)
	}
	r.closers = append(r.closers, client.Close)
	if err := client.Listen(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s client listen: %w", transport, err)
	}
	relayConn, err := client.Allocate()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s allocate: %w", transport, err)
	}
	r.closers = append(r.closers, func() { relayConn.Close() })
	if err := client.CreatePermission(r.peer); err != nil {
		return nil, nil, nil, fmt.Errorf("%s permission: %w", transport, err)
	}
	if err := r.relayAlive(relayConn); err != nil {
		return nil, nil, nil, fmt.Errorf("%s first round trip: %w", transport, err)
	}
	return client, sock, relayConn, nil
}

// freePort is a port of network ("udp" or "tcp") on 127.0.0.1 that the
// kernel just handed out and took back.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free UDP port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free TCP port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// bindingOn sends a Binding request on conn and waits for its answer,
// skipping whatever else arrives (answers to earlier inputs).
func bindingOn(conn net.PacketConn, to net.Addr) error {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return fmt.Errorf("build binding request: %w", err)
	}
	return resendUntil(conn, to, req.Raw, "Binding answer", func(p []byte, _ net.Addr) bool {
		res := &stun.Message{Raw: p}
		return res.Decode() == nil && res.TransactionID == req.TransactionID && res.Type == stun.BindingSuccess
	})
}

// relayAlive sends a fresh payload through relayConn to the echo peer and
// waits for it to come back. Other payloads are skipped: fuzz inputs written
// on the client's socket may be valid Send or ChannelData messages whose
// echoes arrive here too.
func (r *fuzzRig) relayAlive(relayConn net.PacketConn) error {
	payload := append(append([]byte(nil), livenessPrefix...), strconv.FormatUint(r.seq.Add(1), 10)...)
	return resendUntil(relayConn, r.peer, payload, "echo through the relay", func(p []byte, from net.Addr) bool {
		return bytes.Equal(p, payload) && from.String() == r.peer.String()
	})
}

// resendUntil writes msg on conn to to, again every resendEvery, until conn
// reads a datagram that match accepts (others are skipped), for up to
// livenessBudget; what names the awaited datagram in errors.
func resendUntil(conn net.PacketConn, to net.Addr, msg []byte, what string, match func(p []byte, from net.Addr) bool) error {
	buf := make([]byte, 2048)
	deadline := time.Now().Add(livenessBudget)
	for time.Now().Before(deadline) {
		if _, err := conn.WriteTo(msg, to); err != nil {
			return fmt.Errorf("send to %s for the %s: %w", to, what, err)
		}
		resend := time.Now().Add(resendEvery)
		for {
			_ = conn.SetReadDeadline(earliest(resend, deadline))
			n, from, err := conn.ReadFrom(buf)
			if isTimeout(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("read the %s: %w", what, err)
			}
			if match(buf[:n], from) {
				return nil
			}
		}
	}
	return fmt.Errorf("no %s from %s within %v", what, to, livenessBudget)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// FuzzSTUNDatagram sends each input as one UDP datagram, first from a
// socket with no allocation, then from the allocated client's own socket,
// and checks after each that the server answers Binding on that path; then
// that the client still relays.
func FuzzSTUNDatagram(f *testing.F) {
	closeRigAtEnd(f)
	for _, seed := range stunSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := getRig(t)
		if len(data) > maxFuzzDatagram {
			data = data[:maxFuzzDatagram]
		}
		if _, err := r.stranger.WriteTo(data, r.udpAddr); err != nil {
			r.fail(t, data, "send from a stranger: %v", err)
		}
		if err := bindingOn(r.stranger, r.udpAddr); err != nil {
			r.fail(t, data, "stranger: %v", err)
		}
		if _, err := r.udpSock.WriteTo(data, r.udpAddr); err != nil {
			r.fail(t, data, "send on the client's 5-tuple: %v", err)
		}
		// The client's own Binding request follows the input on the same
		// 5-tuple, so its answer also means the input was handled.
		if _, err := r.udpClient.SendBindingRequest(); err != nil {
			r.fail(t, data, "client's Binding request: %v", err)
		}
		if err := r.relayAlive(r.udpRelay); err != nil {
			r.fail(t, data, "client relay: %v", err)
		}
	})
}

// FuzzSTUNStream writes each input as the whole byte stream of a fresh TCP
// connection, half-closes it and waits for the server to close its side
// (proof that the input was read to the end and the connection's goroutine
// ended), then checks the TCP client still gets Binding answers and relays.
func FuzzSTUNStream(f *testing.F) {
	closeRigAtEnd(f)
	seeds := stunSeeds(f)
	for _, seed := range seeds {
		f.Add(seed)
	}
	// Streams carry several frames back to back, and ChannelData padding
	// matters only there.
	f.Add(bytes.Join(seeds[:4], nil))
	f.Add(append(channelData(0x4000, []byte("odd")), 0, stunSeedBinding(f)[0]))
	f.Add(append(append(channelData(0x4000, []byte("pad")), 0), stunSeedBinding(f)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := getRig(t)
		if len(data) > maxFuzzStream {
			data = data[:maxFuzzStream]
		}
		conn, err := net.DialTimeout("tcp", r.tcpAddr, livenessBudget)
		if err != nil {
			r.fail(t, data, "connect: %v", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(livenessBudget))
		// A write may fail once the server has given up on a stream that
		// is not TURN; that is its right, and the read below still applies.
		// Likewise a reset while reading (the server closed with our input
		// unread) is a close; only a timeout means the server held on.
		_, _ = conn.Write(data)
		_ = conn.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, conn); err != nil && isTimeout(err) {
			r.fail(t, data, "server kept the connection open after the client's EOF: %v", err)
		}
		if _, err := r.tcpClient.SendBindingRequest(); err != nil {
			r.fail(t, data, "TCP client's Binding request: %v", err)
		}
		if err := r.relayAlive(r.tcpRelay); err != nil {
			r.fail(t, data, "TCP client relay: %v", err)
		}
	})
}

// xorPeer is an XOR-PEER-ADDRESS setter.
type xorPeer stun.XORMappedAddress

func (p xorPeer) AddTo(m *stun.Message) error {
	if err := stun.XORMappedAddress(p).AddToAs(m, stun.AttrXORPeerAddress); err != nil {
		return fmt.Errorf("XOR-PEER-ADDRESS: %w", err)
	}
	return nil
}

func dataAttr(s string) stun.RawAttribute {
	return stun.RawAttribute{Type: stun.AttrData, Value: []byte(s)}
}

// stunSeeds are valid and broken messages of every kind the relay handles.
func stunSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	tid := [stun.TransactionIDSize]byte{'t', 'u', 'r', 'n', 'k', 'e', 'y', 'f', 'u', 'z', 'z', '!'}
	peer := stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	build := func(setters ...stun.Setter) []byte {
		m, err := stun.Build(append([]stun.Setter{stun.NewTransactionIDSetter(tid)}, setters...)...)
		if err != nil {
			tb.Fatalf("build seed: %v", err)
		}
		return append([]byte(nil), m.Raw...)
	}
	peerAttr := xorPeer(peer)
	channel := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x00, 0, 0}}
	lifetime := func(secs uint32) stun.Setter {
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, secs)
		return stun.RawAttribute{Type: stun.AttrLifetime, Value: v}
	}
	// Authenticated with a real credential but a nonce the server never
	// issued: the inspector's MESSAGE-INTEGRITY check succeeds, pion's
	// nonce check refuses it.
	user, pass := credentials.MintTURN([]byte(fuzzSecondSecret), time.Now().Add(24*time.Hour), "fuzz-seed")
	auth := []stun.Setter{stun.NewUsername(user), stun.NewRealm(testRealm), stun.NewNonce("bm9uY2U"),
		stun.NewLongTermIntegrity(user, testRealm, pass), stun.Fingerprint}
	withAuth := func(setters ...stun.Setter) []byte { return build(append(setters, auth...)...) }

	binding := stunSeedBinding(tb)
	allocate := build(stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, stun.Fingerprint)
	send := build(stun.NewType(stun.MethodSend, stun.ClassIndication), peerAttr, dataAttr("hello"))
	seeds := [][]byte{
		binding,
		allocate,
		send,
		channelData(0x4000, []byte("channel data")),
		withAuth(stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, lifetime(600)),
		withAuth(stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetime(0)),
		build(stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetime(0)),
		withAuth(stun.NewType(stun.MethodCreatePermission, stun.ClassRequest), peerAttr),
		withAuth(stun.NewType(stun.MethodChannelBind, stun.ClassRequest), channel, peerAttr),
		build(stun.NewType(stun.MethodChannelBind, stun.ClassRequest), channel, peerAttr),
		// The pion/turn v3 crash: DATA and a zero-length XOR-PEER-ADDRESS,
		// 32 bytes in all.
		build(stun.NewType(stun.MethodSend, stun.ClassIndication), dataAttr("boom"),
			stun.RawAttribute{Type: stun.AttrXORPeerAddress}),
		// XOR-PEER-ADDRESS claiming IPv6 with an IPv4-sized value, and an
		// IPv4-mapped IPv6 peer (CVE-2026-27624's form).
		build(stun.NewType(stun.MethodSend, stun.ClassIndication), dataAttr("x"),
			stun.RawAttribute{Type: stun.AttrXORPeerAddress, Value: []byte{0, 2, 0x21, 0x12, 0x5e, 0x12, 0xa4, 0x43}}),
		build(stun.NewType(stun.MethodSend, stun.ClassIndication), dataAttr("x"),
			peerAddr(netip.MustParseAddrPort("[::ffff:127.0.0.1]:9"))),
		// Truncated headers.
		binding[:1],
		binding[:10],
		binding[:19],
		{},
		// Lengths larger than the message: in the header, in an attribute.
		withLength(binding, 0xffff),
		withLength(allocate, uint16(len(allocate)-stunHeaderLen+4)),
		append(build(stun.NewType(stun.MethodAllocate, stun.ClassRequest)), 0x00, 0x19, 0xff, 0xfc),
		// A length that is not a multiple of 4.
		withLength(binding, 3),
		// A bad magic cookie.
		withCookie(binding, 0xdeadbeef),
		withCookie(allocate, 0),
		// A wrong FINGERPRINT.
		flipLast(binding),
		// ChannelData: an unbound channel, a reserved number, a length past
		// the end, an empty one.
		channelData(0x4001, []byte("unbound")),
		channelData(0x7fff, []byte("reserved")),
		withLength(channelData(0x4000, []byte("short")), 0xffff)[:12],
		channelData(0x4000, nil),
		// A response and an error class sent to the server.
		build(stun.BindingSuccess),
		build(stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized),
		// A full-size datagram of zeros.
		make([]byte, 1600),
	}
	return seeds
}

func stunSeedBinding(tb testing.TB) []byte {
	tb.Helper()
	m, err := stun.Build(stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
		stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		tb.Fatalf("build binding seed: %v", err)
	}
	return append([]byte(nil), m.Raw...)
}

// channelData frames payload for channel number ch, unpadded.
func channelData(ch uint16, payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint16(b, ch)
	binary.BigEndian.PutUint16(b[2:], uint16(len(payload))) //nolint:gosec // seeds are small
	copy(b[4:], payload)
	return b
}

func withLength(msg []byte, n uint16) []byte {
	b := append([]byte(nil), msg...)
	binary.BigEndian.PutUint16(b[2:], n)
	return b
}

func withCookie(msg []byte, cookie uint32) []byte {
	b := append([]byte(nil), msg...)
	binary.BigEndian.PutUint32(b[4:], cookie)
	return b
}

func flipLast(msg []byte) []byte {
	b := append([]byte(nil), msg...)
	b[len(b)-1] ^= 0xff
	return b
}
