package relay

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
)

// The allocation path in-process: what turnkey itself does for one
// allocation's requests (four authentications, admit, the created and deleted
// events, the relay socket's accounting), without pion or sockets.

func newAuthBenchServer(tb testing.TB) *Server {
	tb.Helper()
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	s, err := New(withDefaults(Config{
		Realm: testRealm, ListenIPs: []netip.Addr{loopback}, UDPPort: port, SocketsPerPort: 1,
		RelayIPs: []netip.Addr{loopback}, MinPort: 62000, MaxPort: 62999,
		Keyring: testRing(tb, testSecret), MaxTTL: time.Hour,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: prometheus.NewRegistry(), TrackedAccounts: 10,
	}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAuthenticate is one authenticated request of a known user (the
// three after the first of every allocation).
func BenchmarkAuthenticate(b *testing.B) {
	s := newAuthBenchServer(b)
	user, _ := creds("bench", time.Hour)
	ra := &turn.RequestAttributes{Username: user, Realm: testRealm, Method: stun.MethodCreatePermission,
		SrcAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.authenticate(ra); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllocationPathTurnkey is turnkey's own work for one allocation.
func BenchmarkAllocationPathTurnkey(b *testing.B) {
	s := newAuthBenchServer(b)
	user, _ := creds("bench", time.Hour)
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	relayAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 62001}
	ev := s.eventHandler()
	ra := &turn.RequestAttributes{Username: user, Realm: testRealm, Method: stun.MethodAllocate, SrcAddr: src}
	b.ReportAllocs()
	for b.Loop() {
		for range 4 {
			if _, _, ok := s.authenticate(ra); !ok {
				b.Fatal("refused")
			}
		}
		if !s.admit(user, testRealm, src) {
			b.Fatal("not admitted")
		}
		st := s.openAlloc(user)
		ev.OnAllocationCreated(src, dst, "udp", user, testRealm, relayAddr, 0)
		ev.OnAllocationDeleted(src, dst, "udp", user, testRealm)
		s.closeAlloc(st)
	}
}

// TestAuthenticateKeyCache: the cached key is the key, for every secret in
// rotation, and expiry is still checked on a cached user.
func TestAuthenticateKeyCache(t *testing.T) {
	s := newAuthBenchServer(t)
	user, _ := creds("cache", time.Hour)
	ra := &turn.RequestAttributes{Username: user, Realm: testRealm, Method: stun.MethodAllocate,
		SrcAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}}
	want := func(secret string) []byte {
		return longTermKey(user, testRealm, credentials.TURNPassword([]byte(secret), user))
	}
	for i := range 3 {
		_, key, ok := s.authenticate(ra)
		if !ok || !bytes.Equal(key, want(testSecret)) {
			t.Fatalf("request %d: ok=%v key %x, want %x", i, ok, key, want(testSecret))
		}
	}
	// A new primary secret: the key follows at once.
	s.secrets.ring.Store(testRing(t, "other-secret-0123456789").Load())
	if _, key, ok := s.authenticate(ra); !ok || !bytes.Equal(key, want("other-secret-0123456789")) {
		t.Fatalf("after rotation: ok=%v key %x", ok, key)
	}
	// A cached user whose credential has expired since is refused.
	s.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
	if _, _, ok := s.authenticate(ra); ok {
		t.Fatal("expired credential accepted from the cache")
	}
}
