package relay

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

func TestRelayEchoThroughEveryTransport(t *testing.T) {
	ts := startServer(t, nil)
	peer := testnet.UDPEcho(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			user, pass := creds("alice-"+transport, time.Hour)
			_, relayConn := allocatedAs(t, transport, ts.addr("turn", transport, 0), user, pass, peer)
			roundTrip(t, relayConn, peer, []byte("hello over "+transport))
			if got := ts.AllocationCount(); got != 1 {
				t.Errorf("allocations = %d, want 1", got)
			}
			if v := testutil.ToFloat64(ts.metrics.allocationsActive.WithLabelValues(transport, familyIPv4)); v != 1 {
				t.Errorf("allocations_active{%s} = %v, want 1", transport, v)
			}
			relayConn.Close()
			testenv.WaitFor(t, "allocation count back to 0", 5*time.Second, func() bool { return ts.AllocationCount() == 0 })
			testenv.WaitFor(t, "active gauge back to 0", 5*time.Second, func() bool {
				return testutil.ToFloat64(ts.metrics.allocationsActive.WithLabelValues(transport, familyIPv4)) == 0
			})
			if !strings.Contains(ts.log.String(), "allocation created") || !strings.Contains(ts.log.String(), "allocation deleted") {
				t.Errorf("missing allocation log lines:\n%s", ts.log.String())
			}
		})
	}
}

func TestRefusedCredentials(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Revoked = func(id string) bool { return id == "SK"+strings.Repeat("e", 32) }
	})
	acct := "AC" + strings.Repeat("a", 32)
	expiredUser, expiredPass := creds("alice", -10*time.Minute)
	farUser, farPass := creds("alice", 48*time.Hour)
	goodUser, _ := creds("alice", time.Hour)
	revUser, revPass := issuedCreds(t, acct, "SK"+strings.Repeat("e", 32), "bob")
	cases := []struct {
		name, user, pass, realm, reason string
	}{
		{"expired", expiredUser, expiredPass, testRealm, "expired"},
		{"too far ahead", farUser, farPass, testRealm, "too_far_ahead"},
		{"wrong password", goodUser, "d3JvbmcgcGFzc3dvcmQ=", testRealm, "bad_hmac"},
		{"wrong realm", goodUser, credentials.TURNPassword([]byte(testSecret), goodUser), "evil.example", "bad_realm"},
		{"malformed username", "alice", credentials.TURNPassword([]byte(testSecret), "alice"), testRealm, "malformed"},
		{"non-numeric expiry", "12x4:alice", credentials.TURNPassword([]byte(testSecret), "12x4:alice"), testRealm, "malformed"},
		{"revoked key", revUser, revPass, testRealm, "revoked"},
	}
	for _, transport := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				before := testutil.ToFloat64(ts.metrics.authFailures.WithLabelValues(tc.reason))
				// 401 as RFC 8489 and coturn answer (pion alone would say 400).
				if code := rawAllocate(t, transport, ts.addr("turn", transport, 0), tc.user, tc.pass, tc.realm); code != 401 {
					t.Fatalf("bad credentials answered with %d, want 401", code)
				}
				if after := testutil.ToFloat64(ts.metrics.authFailures.WithLabelValues(tc.reason)); after <= before {
					t.Errorf("turnkey_auth_failures_total{reason=%q} did not move (%v)", tc.reason, after)
				}
				if n := ts.AllocationCount(); n != 0 {
					t.Errorf("allocations = %d after a refusal", n)
				}
			})
		}
	}
	// Control: the same hand-made request with good credentials succeeds,
	// so the refusals above are the server's doing.
	for _, transport := range []string{"udp", "tcp"} {
		user, pass := creds("control", time.Hour)
		if code := rawAllocate(t, transport, ts.addr("turn", transport, 0), user, pass, testRealm); code != 0 {
			t.Errorf("%s: good credentials refused with %d", transport, code)
		}
	}
	if strings.Contains(ts.log.String(), testSecret) {
		t.Error("the TURN secret appears in the log")
	}
}

func TestSecretRotationEverySecretVerifies(t *testing.T) {
	older := "older-secret-0123456789abcdef"
	ts := startServer(t, func(c *Config) {
		c.Keyring = testRing(t, testSecret, older)
	})
	peer := testnet.UDPEcho(t)
	for _, transport := range []string{"udp", "tcp"} {
		for i, secret := range []string{testSecret, older} {
			t.Run(transport+"/secret"+itoa(i), func(t *testing.T) {
				user, pass := credentials.MintTURN([]byte(secret), time.Now().Add(time.Hour), "rot"+itoa(i))
				_, relayConn := allocatedAs(t, transport, ts.addr("turn", transport, 0), user, pass, peer)
				roundTrip(t, relayConn, peer, []byte("rotated"))
			})
		}
	}
	// A secret that was never configured still fails.
	user, pass := credentials.MintTURN([]byte("unknown-secret-0123456789"), time.Now().Add(time.Hour), "x")
	client := dialClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
	if _, err := client.Allocate(); err == nil {
		t.Fatal("allocation with an unknown secret succeeded")
	}
}

func TestBindingAnsweredWithoutAuthentication(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AltTCPPort = 0 })
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			client := dialClient(t, transport, ts.addr("turn", transport, 0), "", "", "")
			before := testutil.ToFloat64(ts.metrics.binding(transport))
			mapped, err := client.SendBindingRequest()
			if err != nil {
				t.Fatalf("binding: %v", err)
			}
			if !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
				t.Errorf("mapped address %s", mapped)
			}
			if after := testutil.ToFloat64(ts.metrics.binding(transport)); after != before+1 {
				t.Errorf("turnkey_stun_binding_requests_total{%s} %v → %v", transport, before, after)
			}
		})
	}
}

// TestZeroLengthPeerAddressSendIndication is the regression test for the
// pion/turn v3 crash: a 32-byte Send indication with a DATA attribute and a
// zero-length XOR-PEER-ADDRESS, after a valid allocation, must leave the
// server answering Binding requests and relaying.
func TestZeroLengthPeerAddressSendIndication(t *testing.T) {
	ts := startServer(t, nil)
	peer := testnet.UDPEcho(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			server := ts.addr("turn", transport, 0)
			// The poison message travels on the allocation's own 5-tuple, so
			// it is written on the client's own socket.
			user, pass := creds("victim-"+transport, time.Hour)
			client, sock := dialClientConn(t, transport, server, user, pass, testRealm)
			relayConn, err := client.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relayConn.Close()
			if err := client.CreatePermission(peer); err != nil {
				t.Fatal(err)
			}
			poison := sendIndicationZeroPeer(t)
			if len(poison) != 32 {
				t.Fatalf("poison message is %d bytes, want 32", len(poison))
			}
			serverAddr := mustResolveUDP(t, server)
			for range 3 {
				if _, err := sock.WriteTo(poison, serverAddr); err != nil {
					t.Fatal(err)
				}
			}
			probe := dialClient(t, transport, server, "", "", "")
			if _, err := probe.SendBindingRequest(); err != nil {
				t.Fatalf("server stopped answering Binding after the poison message: %v", err)
			}
			roundTrip(t, relayConn, peer, []byte("still relaying"))
		})
	}
}

// sendIndicationZeroPeer builds the 32-byte message: header (20) + DATA with
// 4 bytes (8) + XOR-PEER-ADDRESS with no value (4).
func sendIndicationZeroPeer(t *testing.T) []byte {
	t.Helper()
	m := stun.New()
	m.Type = stun.NewType(stun.MethodSend, stun.ClassIndication)
	if err := m.NewTransactionID(); err != nil {
		t.Fatal(err)
	}
	m.WriteHeader()
	m.Add(stun.AttrData, []byte("boom"))
	m.Add(stun.AttrXORPeerAddress, nil)
	return append([]byte(nil), m.Raw...)
}

func mustResolveUDP(t testing.TB, s string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRevocationRefusesNewAllocationsAndRefreshes: once the key that issued
// credentials is revoked, a live allocation's Refresh and any new Allocate
// with those credentials are refused.
func TestRevocationRefusesNewAllocationsAndRefreshes(t *testing.T) {
	key := "SK" + strings.Repeat("1", 32)
	revoked := &revocation{key: key}
	ts := startServer(t, func(c *Config) { c.Revoked = revoked.revoked })
	user, pass := issuedCreds(t, "AC"+strings.Repeat("2", 32), key, "grace")
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			revoked.set.Store(false)
			server := ts.addr("turn", transport, 0)
			live := newRawClient(t, transport, server, user, pass, testRealm)
			if code := live.allocate(); code != 0 {
				t.Fatalf("allocate before revocation: %d", code)
			}
			if code := live.refresh(600); code != 0 {
				t.Fatalf("refresh before revocation: %d", code)
			}
			revoked.set.Store(true)
			if code := live.refresh(600); code == 0 {
				t.Error("refresh accepted after revocation")
			}
			if code := rawAllocate(t, transport, server, user, pass, testRealm); code == 0 {
				t.Error("new allocation accepted after revocation")
			}
		})
	}
}

// TestAllocationLifetimeIsCapped: no allocation lives longer than 3600 s
// between refreshes, whatever LIFETIME the client asks for.
func TestAllocationLifetimeIsCapped(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AllocationLifetime = 10 * time.Minute })
	user, pass := creds("hog", time.Hour)
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
	lt := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0x1c, 0x20}} // 7200 s
	if code := c.do(stun.MethodAllocate, udpTransport, lt); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if got := c.lifetime(); got > 3600 {
		t.Errorf("granted %d s for a 7200 s request", got)
	}
	for _, ask := range []uint32{86400, 3600, 900} {
		if code := c.refresh(ask); code != 0 {
			t.Fatalf("refresh %d: %d", ask, code)
		}
		if got := c.lifetime(); got > 3600 || (ask < 3600 && got != ask) {
			t.Errorf("refresh asking %d s granted %d s", ask, got)
		}
	}
}

// TestOnlyTheCreatorMayUseAnAllocation: on an allocation's own 5-tuple,
// Refresh, CreatePermission and ChannelBind signed with another user's valid
// credentials are refused; the creator's still work.
func TestOnlyTheCreatorMayUseAnAllocation(t *testing.T) {
	ts := startServer(t, nil)
	peer := netip.MustParseAddrPort(testnet.UDPEcho(t).String())
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			owner, ownerPass := creds("owner-"+transport, time.Hour)
			intruder, intruderPass := creds("intruder-"+transport, time.Hour)
			c := newRawClient(t, transport, ts.addr("turn", transport, 0), owner, ownerPass, testRealm)
			if code := c.allocate(); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			c.user, c.password = intruder, intruderPass
			// 441 Wrong Credentials (RFC 8656), where pion alone is silent.
			if code := c.refresh(600); code != 441 {
				t.Errorf("Refresh by another user: %d, want 441", code)
			}
			if code := c.createPermission(peer); code != 441 {
				t.Errorf("CreatePermission by another user: %d, want 441", code)
			}
			if code := c.channelBind(0x4001, peer); code != 441 {
				t.Errorf("ChannelBind by another user: %d, want 441", code)
			}
			c.user, c.password = owner, ownerPass
			if code := c.createPermission(peer); code != 0 {
				t.Errorf("the creator's CreatePermission refused: %d", code)
			}
			if code := c.refresh(0); code != 0 {
				t.Errorf("the creator's release refused: %d", code)
			}
		})
	}
}

// TestIPv6ClientGetsAnIPv4Relay: on a dual-stack listener an IPv6 client
// that names no address family gets an IPv4 relay (RFC 6156's default);
// one that asks for IPv6 on an IPv4-only relay is refused and counted.
func TestIPv6ClientGetsAnIPv4Relay(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.ListenIPs = []netip.Addr{netip.MustParseAddr("::")}
		c.TCPPort = -1
	})
	port := strings.TrimPrefix(ts.addr("turn", "udp", 0), "[::]:")
	server := "[::1]:" + port
	user, pass := creds("v6client", time.Hour)
	c := newRawClient(t, "udp", server, user, pass, testRealm)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate from ::1 without REQUESTED-ADDRESS-FAMILY: %d", code)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(c.last, stun.AttrXORRelayedAddress); err != nil || relayed.IP.To4() == nil {
		t.Fatalf("relayed address %v (%v), want IPv4", relayed, err)
	}
	before := testutil.ToFloat64(ts.metrics.allocationFailures.WithLabelValues("address_family"))
	other, otherPass := creds("v6only", time.Hour)
	c6 := newRawClient(t, "udp", server, other, otherPass, testRealm)
	family6 := stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{0x02, 0, 0, 0}}
	if code := c6.do(stun.MethodAllocate, udpTransport, family6); code == 0 {
		t.Fatal("an IPv6 allocation on an IPv4-only relay succeeded")
	}
	// The failure is counted when its quota reservation is settled, as pion
	// goes back to reading that socket, just after it has answered.
	testenv.WaitFor(t, "allocation_failures{reason=address_family} to count the refusal", 5*time.Second, func() bool {
		return testutil.ToFloat64(ts.metrics.allocationFailures.WithLabelValues("address_family")) == before+1
	})
}
