package relay

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// confDefaultLifetime is the allocation lifetime the conformance server
// grants by default.
const confDefaultLifetime = 600

// TestRFC8656Answers sends each request pion answers leniently (or not at
// all) and asserts turnkey's exact answer: the error code, and that an
// authenticated error carries MESSAGE-INTEGRITY, a 401 or 438 REALM and
// NONCE.
func TestRFC8656Answers(t *testing.T) {
	conf := func(c *Config) {
		c.AllocationLifetime = confDefaultLifetime * time.Second
		c.MaxPermissions = 4
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("2001:db8::/32")}}
	}
	ts := startServer(t, conf)
	// dualTS has an IPv6 relay address too (::1): dual allocations.
	dualTS := startServer(t, func(c *Config) {
		conf(c)
		c.RelayIPs = []netip.Addr{loopback, loopback6}
	})
	peer := netip.MustParseAddrPort(testnet.UDPEcho(t).String())
	lifetime := func(s uint32) stun.Setter {
		return stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, s)}
	}
	tcpTransport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{6, 0, 0, 0}}
	peers := func(n int) []stun.Setter {
		var out []stun.Setter
		for i := range n {
			out = append(out, peerAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 5000)))
		}
		return out
	}
	peers6 := func(n int) []stun.Setter {
		var out []stun.Setter
		for i := range n {
			ip := netip.MustParseAddr("2001:db8::").As16()
			ip[15] = byte(i + 1)
			out = append(out, peerAddr(netip.AddrPortFrom(netip.AddrFrom16(ip), 5000)))
		}
		return out
	}

	family := func(b byte) stun.Setter {
		return stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{b, 0, 0, 0}}
	}
	additional := func(b byte) stun.Setter {
		return stun.RawAttribute{Type: attrAdditionalAddressFamily, Value: []byte{b, 0, 0, 0}}
	}
	peer6 := netip.MustParseAddrPort("[::1]:9")

	type step func(c *rawClient) int
	allocate := func(c *rawClient) int { return c.allocate() }
	allocateDual := func(c *rawClient) int {
		return c.do(stun.MethodAllocate, udpTransport, additional(familyByteIPv6))
	}
	reservation := stun.RawAttribute{Type: stun.AttrReservationToken, Value: []byte("12345678")}
	evenPort := stun.RawAttribute{Type: stun.AttrEvenPort, Value: []byte{0x80}}
	// relayed checks a success's XOR-RELAYED-ADDRESS families and its
	// ADDRESS-ERROR-CODE for IPv6 (0: none).
	relayed := func(families []netip.Addr, addrErr int) func(*testing.T, *stun.Message) {
		return func(t *testing.T, m *stun.Message) {
			var got []netip.Addr
			for _, ap := range relayedAddrs(t, m) {
				got = append(got, ap.Addr())
			}
			if !slices.Equal(got, families) {
				t.Errorf("XOR-RELAYED-ADDRESS %v, want %v", got, families)
			}
			if f, code := addressError(m); code != addrErr || (code != 0 && f != familyByteIPv6) {
				t.Errorf("ADDRESS-ERROR-CODE family %d code %d, want IPv6 %d", f, code, addrErr)
			}
		}
	}
	cases := []struct {
		name       string
		transports []string
		setup      []step // each must succeed
		intruder   bool   // the request is signed by another user
		req        step
		code       int
		lifetime   int // LIFETIME the success must carry; -1 none checked
		gone       bool
		// unsigned: the answer cannot carry MESSAGE-INTEGRITY (a request
		// too large to read cannot be verified).
		unsigned bool
		dual     bool // on dualTS
		check    func(*testing.T, *stun.Message)
	}{
		{name: "ChannelBind 0x5000 out of range", setup: []step{allocate},
			req: func(c *rawClient) int { return c.channelBind(0x5000, peer) }, code: 400},
		{name: "ChannelBind 0x7FFF out of range", setup: []step{allocate},
			req: func(c *rawClient) int { return c.channelBind(0x7fff, peer) }, code: 400},
		{name: "ChannelBind 0x3FFF out of range", setup: []step{allocate},
			req: func(c *rawClient) int { return c.channelBind(0x3fff, peer) }, code: 400},
		{name: "ChannelBind 0x4FFF in range", setup: []step{allocate},
			req: func(c *rawClient) int { return c.channelBind(0x4fff, peer) }, code: 0, lifetime: -1},
		{name: "Allocate TCP on UDP", transports: []string{"udp"},
			req: func(c *rawClient) int { return c.do(stun.MethodAllocate, tcpTransport) }, code: 400},
		{name: "Refresh without allocation",
			req: func(c *rawClient) int { return c.refresh(600) }, code: 437},
		{name: "Refresh 0 without allocation",
			req: func(c *rawClient) int { return c.refresh(0) }, code: 437},
		{name: "CreatePermission without allocation",
			req: func(c *rawClient) int { return c.createPermission(peer) }, code: 437},
		{name: "ChannelBind without allocation",
			req: func(c *rawClient) int { return c.channelBind(0x4001, peer) }, code: 437},
		{name: "Refresh by another user", setup: []step{allocate}, intruder: true,
			req: func(c *rawClient) int { return c.refresh(600) }, code: 441},
		{name: "CreatePermission by another user", setup: []step{allocate}, intruder: true,
			req: func(c *rawClient) int { return c.createPermission(peer) }, code: 441},
		{name: "ChannelBind by another user", setup: []step{allocate}, intruder: true,
			req: func(c *rawClient) int { return c.channelBind(0x4001, peer) }, code: 441},
		{name: "Allocate LIFETIME 1 gets the default",
			req:      func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, lifetime(1)) },
			lifetime: confDefaultLifetime},
		{name: "Allocate LIFETIME 0 gets the default",
			req:      func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, lifetime(0)) },
			lifetime: confDefaultLifetime},
		{name: "Allocate LIFETIME 1200 granted",
			req:      func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, lifetime(1200)) },
			lifetime: 1200},
		{name: "Refresh LIFETIME 1 gets the default", setup: []step{allocate},
			req: func(c *rawClient) int { return c.refresh(1) }, lifetime: confDefaultLifetime},
		{name: "Refresh LIFETIME 0 deletes", setup: []step{allocate},
			req: func(c *rawClient) int { return c.refresh(0) }, lifetime: 0, gone: true},
		{name: "CreatePermission past the permission limit", setup: []step{allocate},
			req: func(c *rawClient) int { return c.do(stun.MethodCreatePermission, peers(5)...) }, code: 508},
		{name: "Allocate IPv6 without an IPv6 relay",
			req: func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, family(familyByteIPv6)) }, code: 440},
		{name: "Allocate ADDITIONAL-ADDRESS-FAMILY IPv4",
			req: func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, additional(familyByteIPv4)) }, code: 400},
		{name: "Allocate ADDITIONAL- and REQUESTED-ADDRESS-FAMILY",
			req: func(c *rawClient) int {
				return c.do(stun.MethodAllocate, udpTransport, family(familyByteIPv4), additional(familyByteIPv6))
			}, code: 400},
		{name: "CreatePermission IPv6 peer on IPv4", setup: []step{allocate},
			req: func(c *rawClient) int { return c.createPermission(peer6) }, code: 443},
		{name: "ChannelBind IPv6 peer on IPv4", setup: []step{allocate},
			req: func(c *rawClient) int { return c.channelBind(0x4001, peer6) }, code: 443},
		{name: "Refresh REQUESTED-ADDRESS-FAMILY IPv6 on IPv4", setup: []step{allocate},
			req: func(c *rawClient) int { return c.do(stun.MethodRefresh, family(familyByteIPv6)) }, code: 443},
		{name: "Allocate ADDITIONAL-ADDRESS-FAMILY with RESERVATION-TOKEN", transports: []string{"udp"}, dual: true,
			req: func(c *rawClient) int {
				return c.do(stun.MethodAllocate, udpTransport, additional(familyByteIPv6), reservation)
			}, code: 400},
		{name: "Allocate ADDITIONAL-ADDRESS-FAMILY with EVEN-PORT", dual: true,
			req: func(c *rawClient) int {
				return c.do(stun.MethodAllocate, udpTransport, additional(familyByteIPv6), evenPort)
			}, code: 400},
		{name: "Allocate ADDITIONAL-ADDRESS-FAMILY unknown family", dual: true,
			req: func(c *rawClient) int { return c.do(stun.MethodAllocate, udpTransport, additional(0x03)) }, code: 400},
		{name: "dual Allocate without an IPv6 relay: IPv4 and ADDRESS-ERROR-CODE 440",
			req: allocateDual, lifetime: confDefaultLifetime, check: relayed([]netip.Addr{loopback}, 440)},
		{name: "dual Allocate: IPv4 then IPv6", dual: true,
			req: allocateDual, lifetime: confDefaultLifetime, check: relayed([]netip.Addr{loopback, loopback6}, 0)},
		{name: "dual Allocate LIFETIME 1 gets the default", dual: true,
			req: func(c *rawClient) int {
				return c.do(stun.MethodAllocate, udpTransport, additional(familyByteIPv6), lifetime(1))
			}, lifetime: confDefaultLifetime, check: relayed([]netip.Addr{loopback, loopback6}, 0)},
		{name: "dual Allocate of a TCP relay: one family and ADDRESS-ERROR-CODE 440", transports: []string{"tcp"}, dual: true,
			req: func(c *rawClient) int {
				return c.do(stun.MethodAllocate, tcpTransport, additional(familyByteIPv6))
			}, lifetime: -1, check: relayed([]netip.Addr{loopback}, 440)},
		{name: "dual Allocate again on the 5-tuple", dual: true, setup: []step{allocateDual},
			req: allocateDual, code: 437},
		{name: "dual CreatePermission IPv6 and IPv4", dual: true, setup: []step{allocateDual},
			req:      func(c *rawClient) int { return c.do(stun.MethodCreatePermission, peerAddr(peer6), peerAddr(peer)) },
			lifetime: -1},
		{name: "dual ChannelBind IPv6", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.channelBind(0x4001, peer6) }, lifetime: -1},
		{name: "dual ChannelBind 0x5000 IPv6", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.channelBind(0x5000, peer6) }, code: 400},
		{name: "dual CreatePermission IPv6 peer the policy denies", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.createPermission(netip.MustParseAddrPort("[fd00::1]:9")) }, code: 403},
		{name: "dual CreatePermission in the stand-in range", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.createPermission(netip.MustParseAddrPort("240.0.0.1:9")) }, code: 403},
		{name: "dual CreatePermission past the permission limit", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.do(stun.MethodCreatePermission, peers6(5)...) }, code: 508},
		{name: "dual Refresh REQUESTED-ADDRESS-FAMILY IPv6", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int {
				return c.do(stun.MethodRefresh, family(familyByteIPv6), lifetime(1200))
			}, lifetime: 1200},
		{name: "dual Refresh REQUESTED-ADDRESS-FAMILY IPv4", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int {
				return c.do(stun.MethodRefresh, family(familyByteIPv4), lifetime(1200))
			}, lifetime: 1200},
		{name: "dual Refresh LIFETIME 0 deletes", dual: true, setup: []step{allocateDual},
			req: func(c *rawClient) int { return c.refresh(0) }, lifetime: 0, gone: true},
		{name: "dual Refresh by another user", dual: true, setup: []step{allocateDual}, intruder: true,
			req: func(c *rawClient) int { return c.refresh(600) }, code: 441},
		{name: "CreatePermission larger than a frame", setup: []step{allocate},
			req: func(c *rawClient) int { return c.do(stun.MethodCreatePermission, peers(400)...) }, code: 400, unsigned: true},
	}
	for _, tc := range cases {
		transports := tc.transports
		if transports == nil {
			transports = []string{"udp", "tcp"}
		}
		for _, transport := range transports {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				user, pass := creds("conf-"+transport+"-"+tc.name, time.Hour)
				server := ts
				if tc.dual {
					server = dualTS
				}
				c := newRawClient(t, transport, server.addr("turn", transport, 0), user, pass, testRealm)
				for i, s := range tc.setup {
					if code := s(c); code != 0 {
						t.Fatalf("setup step %d: code %d", i, code)
					}
				}
				if tc.intruder {
					c.user, c.password = creds("intruder", time.Hour)
				}
				code := tc.req(c)
				if code != tc.code {
					t.Fatalf("answered %d, want %d (%v)", code, tc.code, c.last)
				}
				if code != 0 {
					assertErrorAttrs(t, c.last, !tc.unsigned)
					return
				}
				if err := stun.NewLongTermIntegrity(user, testRealm, pass).Check(c.last); err != nil && !tc.intruder {
					t.Errorf("success without a valid MESSAGE-INTEGRITY: %v (%v)", err, c.last)
				}
				if tc.check != nil {
					tc.check(t, c.last)
				}
				if tc.lifetime >= 0 && tc.code == 0 {
					if got := c.lifetime(); got != uint32(tc.lifetime) { //nolint:gosec // test values
						t.Errorf("LIFETIME %d granted, want %d", got, tc.lifetime)
					}
				}
				if tc.gone {
					if code := c.refresh(600); code != 437 {
						t.Errorf("Refresh after deletion: %d, want 437", code)
					}
				}
			})
		}
	}
}

// assertErrorAttrs checks what an error response must carry: REALM and
// NONCE on a 401 or 438, MESSAGE-INTEGRITY on any other answer to an
// authenticated request.
func assertErrorAttrs(t *testing.T, m *stun.Message, authenticated bool) {
	t.Helper()
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil {
		t.Fatalf("no ERROR-CODE: %v", m)
	}
	switch code.Code {
	case stun.CodeUnauthorized, stun.CodeStaleNonce:
		if !m.Contains(stun.AttrRealm) || !m.Contains(stun.AttrNonce) {
			t.Errorf("%d without REALM and NONCE: %v", code.Code, m)
		}
		if m.Contains(stun.AttrMessageIntegrity) {
			t.Errorf("%d with MESSAGE-INTEGRITY: %v", code.Code, m)
		}
	default:
		if authenticated && !m.Contains(stun.AttrMessageIntegrity) {
			t.Errorf("%d to an authenticated request without MESSAGE-INTEGRITY: %v", code.Code, m)
		}
	}
}

// TestEvery401CarriesRealmAndNonce: unauthenticated requests and every kind
// of refused credential are answered 401 with REALM and NONCE, so a client
// can retry (RFC 8489 §9.2.4).
func TestEvery401CarriesRealmAndNonce(t *testing.T) {
	ts := startServer(t, nil)
	goodUser, goodPass := creds("alice", time.Hour)
	expiredUser, expiredPass := creds("alice", -10*time.Minute)
	cases := []struct{ name, user, pass, realm string }{
		{"expired", expiredUser, expiredPass, testRealm},
		{"wrong password", goodUser, "d3JvbmcgcGFzc3dvcmQ=", testRealm},
		{"wrong realm", goodUser, goodPass, "evil.example"},
		{"malformed username", "alice", "x", testRealm},
	}
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport+"/unauthenticated", func(t *testing.T) {
			c := newRawClient(t, transport, ts.addr("turn", transport, 0), goodUser, goodPass, testRealm)
			res := c.exchange(stun.MethodAllocate, udpTransport)
			assertCode(t, res, 401)
			assertErrorAttrs(t, res, false)
		})
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				c := newRawClient(t, transport, ts.addr("turn", transport, 0), tc.user, tc.pass, tc.realm)
				if code := c.allocate(); code != 401 {
					t.Fatalf("answered %d, want 401", code)
				}
				assertErrorAttrs(t, c.last, false)
			})
		}
	}
}

func assertCode(t *testing.T, m *stun.Message, want int) {
	t.Helper()
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil || int(code.Code) != want {
		t.Fatalf("answer %v, want error %d", m, want)
	}
}
