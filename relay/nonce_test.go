package relay

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestNonceBoundToFiveTuple: a nonce verifies only on the 5-tuple it was
// issued to (transport, client address and port, listener address) and only
// within its lifetime.
func TestNonceBoundToFiveTuple(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	b, err := newNonceBinder(time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	udp := func(s string) net.Addr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	issued := tuple{transport: transportUDP, client: udp("192.0.2.1:5000"), local: udp("198.51.100.1:3478")}
	nonce := b.wrap(issued, "PIONNONCE")
	cases := []struct {
		name  string
		t     tuple
		nonce string
		age   time.Duration
		ok    bool
	}{
		{"same 5-tuple", issued, nonce, 0, true},
		{"same 5-tuple near the end of its life", issued, nonce, 59 * time.Second, true},
		{"expired", issued, nonce, 61 * time.Second, false},
		{"from the future", issued, nonce, -time.Minute, false},
		{"other client port", tuple{transportUDP, udp("192.0.2.1:5001"), issued.local}, nonce, 0, false},
		{"other client address", tuple{transportUDP, udp("192.0.2.2:5000"), issued.local}, nonce, 0, false},
		{"other listener", tuple{transportUDP, issued.client, udp("198.51.100.2:3478")}, nonce, 0, false},
		{"other transport", tuple{transportTCP, tcp("192.0.2.1:5000"), tcp("198.51.100.1:3478")}, nonce, 0, false},
		{"TLS instead of TCP", tuple{transportTLS, tcp("192.0.2.1:5000"), tcp("198.51.100.1:3478")},
			b.wrap(tuple{transportTCP, tcp("192.0.2.1:5000"), tcp("198.51.100.1:3478")}, "PIONNONCE"), 0, false},
		{"other pion nonce inside", issued, "PIONNONCF" + nonce[len("PIONNONCE"):], 0, false},
		{"pion's bare nonce", issued, "PIONNONCE", 0, false},
		{"truncated", issued, nonce[:len(nonce)-2], 0, false},
		{"empty", issued, "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			offset.Store(int64(tc.age))
			got, ok := b.unwrap(tc.t, tc.nonce)
			if ok != tc.ok || (ok && got != "PIONNONCE") {
				t.Errorf("unwrap = %q, %v; want ok=%v", got, ok, tc.ok)
			}
		})
	}
}

// sender is one way to reach the server: a UDP socket or a stream
// connection, as a PacketConn.
type sender struct {
	name string
	conn net.PacketConn
	to   net.Addr
}

func udpSender(t *testing.T, server string) sender {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return sender{name: "udp " + pc.LocalAddr().String(), conn: pc, to: mustResolveUDP(t, server)}
}

// senders are every transport: UDP and each kind of stream listener.
func senders(t *testing.T, ts *testServer) []sender {
	t.Helper()
	out := []sender{udpSender(t, ts.addr("turn", "udp", 0))}
	for _, d := range streamDialers(ts) {
		c := d.dial(t)
		out = append(out, sender{name: d.name + " " + c.LocalAddr().String(), conn: turn.NewSTUNConn(c), to: c.RemoteAddr()})
	}
	return out
}

// send writes raw and returns the answer with its transaction ID.
func (s sender) send(t *testing.T, raw []byte) *stun.Message {
	t.Helper()
	if _, err := s.conn.WriteTo(raw, s.to); err != nil {
		t.Fatalf("%s: write: %v", s.name, err)
	}
	var id [stun.TransactionIDSize]byte
	copy(id[:], raw[8:20])
	buf := make([]byte, 1500)
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: no answer: %v", s.name, err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.TransactionID == id {
			return m
		}
	}
}

// signed builds an authenticated request as a client would, with nonce.
func signed(t *testing.T, method stun.Method, user, pass string, nonce stun.Nonce, attrs ...stun.Setter) []byte {
	t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters, stun.NewUsername(user), stun.NewRealm(testRealm), nonce,
		stun.NewLongTermIntegrity(user, testRealm, pass), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// nonceFor asks the server for a nonce on s's 5-tuple.
func nonceFor(t *testing.T, s sender) stun.Nonce {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport)
	if err != nil {
		t.Fatal(err)
	}
	res := s.send(t, m.Raw)
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err != nil {
		t.Fatalf("%s: no NONCE in %v", s.name, res)
	}
	return nonce
}

// TestAttackNonceReplay (#14 M3): a captured Allocate and CreatePermission,
// replayed byte for byte from other ports, other transports (TCP, the
// shared port, TLS) and a burst of addresses, is answered 438 with a fresh
// nonce and allocates nothing; the victim's allocation and quota are
// untouched and its own requests keep working.
func TestAttackNonceReplay(t *testing.T) {
	ts := startStreamServer(t, func(c *Config) { c.Quotas = Quotas{PerIdentity: 3, PerAccount: 100, Total: 100} })
	peer := netip.MustParseAddrPort(testnet.UDPEcho(t).String())
	victims := senders(t, ts)
	for i, victim := range victims {
		t.Run(victim.name, func(t *testing.T) {
			user, pass := creds("victim-"+itoa(i), time.Hour)
			nonce := nonceFor(t, victim)
			alloc := signed(t, stun.MethodAllocate, user, pass, nonce, udpTransport)
			if res := victim.send(t, alloc); res.Type.Class != stun.ClassSuccessResponse {
				t.Fatalf("the victim's own Allocate: %v", res)
			}
			perm := signed(t, stun.MethodCreatePermission, user, pass, nonce, peerAddr(peer))
			if res := victim.send(t, perm); res.Type.Class != stun.ClassSuccessResponse {
				t.Fatalf("the victim's own CreatePermission: %v", res)
			}
			allocations, active := ts.AllocationCount(), ts.quota.Active()
			var replayers []sender
			for range 10 {
				replayers = append(replayers, udpSender(t, ts.addr("turn", "udp", 0)))
			}
			replayers = append(replayers, senders(t, ts)...)
			before := testutil.ToFloat64(ts.metrics.staleNonces)
			for _, r := range replayers {
				for _, raw := range [][]byte{alloc, perm} {
					res := r.send(t, raw)
					assertCode(t, res, int(stun.CodeStaleNonce))
					assertErrorAttrs(t, res, false)
				}
			}
			if got := testutil.ToFloat64(ts.metrics.staleNonces) - before; got != float64(2*len(replayers)) {
				t.Errorf("stale_nonce counted %v, want %d", got, 2*len(replayers))
			}
			if n, a := ts.AllocationCount(), ts.quota.Active(); n != allocations || a != active {
				t.Errorf("after the replays: %d allocations, %d quota slots; before %d, %d", n, a, allocations, active)
			}
			// The victim keeps working with its nonce.
			refresh := signed(t, stun.MethodRefresh, user, pass, nonce)
			if res := victim.send(t, refresh); res.Type.Class != stun.ClassSuccessResponse {
				t.Errorf("the victim's Refresh after the replays: %v", res)
			}
		})
	}
}

// TestPionClientThroughNonceRotation: pion's own client, on UDP and every
// stream listener, keeps its allocation working when its nonce expires: it
// gets 438, retries with the fresh nonce and goes on relaying.
func TestPionClientThroughNonceRotation(t *testing.T) {
	var offset atomic.Int64
	ts := startStreamServer(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	peerA, peerB := testnet.UDPEcho(t), testnet.UDPEcho(t)
	for i, s := range senders(t, ts) {
		t.Run(s.name, func(t *testing.T) {
			user, pass := creds("rotating-"+itoa(i), 2*time.Hour)
			client := listeningClient(t, s.conn, s.to.String(), user, pass, testRealm)
			relayConn, err := client.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			t.Cleanup(func() { relayConn.Close() })
			roundTrip(t, relayConn, peerA, []byte("before the rotation"))
			before := testutil.ToFloat64(ts.metrics.staleNonces)
			offset.Add(int64(nonceLifetime + time.Minute)) // the nonce is now stale
			// The CreatePermission goes out with the stale nonce. pion's
			// client takes the fresh nonce from the 438 and, on this call
			// path, leaves the retry to its caller ("try again"); its
			// WriteTo and Refresh paths retry by themselves.
			err = client.CreatePermission(peerB)
			if err != nil {
				err = client.CreatePermission(peerB)
			}
			if err != nil {
				t.Fatalf("CreatePermission after the rotation, retried: %v", err)
			}
			if testutil.ToFloat64(ts.metrics.staleNonces) == before {
				t.Error("no stale nonce was answered: the rotation did not happen")
			}
			roundTrip(t, relayConn, peerB, []byte("after the rotation"))
			roundTrip(t, relayConn, peerA, []byte("still relaying"))
		})
	}
}
