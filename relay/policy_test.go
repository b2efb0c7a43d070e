package relay

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPeerPolicyOnCreatePermissionAndChannelBind sends every address form
// through a real allocation: CreatePermission and ChannelBind must both be
// refused for denied forms and both succeed for public or allow-listed ones.
// IPv4 forms (and IPv4 written as IPv4-mapped IPv6) use an IPv4 allocation on
// 127.0.0.2; IPv6 forms an IPv6 allocation on ::1. The relay's own address
// is exempt by design (relay to relay), so neither relay address is listed.
func TestPeerPolicyOnCreatePermissionAndChannelBind(t *testing.T) {
	cases := []struct {
		addr    string
		allowed bool
	}{
		// IPv4 deny-list, range edges and the metadata address.
		{"0.0.0.0", false}, {"0.255.255.255", false},
		{"10.0.0.0", false}, {"10.255.255.255", false},
		{"100.64.0.0", false}, {"100.127.255.255", false},
		{"127.0.0.1", false}, {"127.255.255.254", false},
		{"169.254.0.1", false}, {"169.254.169.254", false}, {"169.254.255.255", false},
		{"172.16.0.0", false}, {"172.31.255.255", false},
		{"192.0.0.1", false}, {"192.0.2.1", false}, {"192.88.99.1", false},
		{"192.168.0.1", false}, {"192.168.255.255", false},
		{"198.18.0.1", false}, {"198.19.255.255", false},
		{"198.51.100.7", false}, {"203.0.113.9", false},
		{"224.0.0.1", false}, {"239.255.255.255", false},
		{"240.0.0.1", false}, {"255.255.255.255", false},
		// IPv4 written as IPv4-mapped IPv6 (16 bytes on the wire).
		{"::ffff:127.0.0.1", false}, {"::ffff:10.9.2.4", false}, {"::ffff:169.254.169.254", false},
		{"::ffff:0.0.0.0", false}, {"::ffff:192.168.1.1", false}, {"::ffff:172.16.5.4", false},
		// Just outside each IPv4 range, and public addresses.
		{"9.255.255.255", true}, {"11.0.0.0", true}, {"100.63.255.255", true}, {"100.128.0.0", true},
		{"126.255.255.255", true}, {"128.0.0.0", true}, {"169.253.255.255", true}, {"169.255.0.0", true},
		{"172.15.255.255", true}, {"172.32.0.0", true}, {"192.167.255.255", true}, {"192.169.0.0", true},
		{"198.17.255.255", true}, {"198.20.0.0", true}, {"223.255.255.255", true},
		{"8.8.8.8", true}, {"::ffff:8.8.4.4", true},
		// Allow-listed private addresses, plain and mapped.
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true},
		// IPv6 deny-list and embedded IPv4 forms.
		{"::", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"fe80::1", false}, {"febf:ffff::1", false}, {"fec0::1", false},
		{"ff02::1", false}, {"ff0e::1", false}, {"100::1", false},
		{"2001::1", false}, {"2001:db8::1", false},
		{"2002:7f00:1::1", false}, {"2002:a9fe:a9fe::1", false}, {"2002:808:808::1", false},
		{"64:ff9b::7f00:1", false}, {"64:ff9b::a9fe:a9fe", false}, {"64:ff9b::808:808", false},
		{"::127.0.0.1", false}, {"::10.0.0.1", false}, {"::169.254.169.254", false},
		// IPv6 public.
		{"2606:4700::1111", true}, {"2001:4860:4860::8888", true}, {"2a00:1450::1", true}, {"fe7f::1", true},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d forms", len(cases))
	}
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}
	v4 := startServer(t, func(c *Config) {
		c.ListenIPs, c.RelayIPs = []netip.Addr{netip.MustParseAddr("127.0.0.2")}, []netip.Addr{netip.MustParseAddr("127.0.0.2")}
		c.PeerPolicy = PeerPolicy{Allow: allow}
		c.TCPPort = -1
	})
	v6 := startServer(t, func(c *Config) {
		c.ListenIPs, c.RelayIPs = []netip.Addr{netip.MustParseAddr("::1")}, []netip.Addr{netip.MustParseAddr("::1")}
		c.PeerPolicy = PeerPolicy{Allow: allow}
		c.TCPPort = -1
	})
	user, pass := creds("policy", time.Hour)
	c4 := newRawClient(t, "udp", v4.addr("turn", "udp", 0), user, pass, testRealm)
	c6 := newRawClient(t, "udp", v6.addr("turn", "udp", 0), user, pass, testRealm)
	for _, c := range []*rawClient{c4, c6} {
		if code := c.allocate(); code != 0 {
			t.Fatalf("allocate: error %d", code)
		}
	}
	for i, tc := range cases {
		addr := netip.MustParseAddr(tc.addr)
		client, server := c4, v4
		if addr.Is6() && !addr.Is4In6() {
			client, server = c6, v6
		}
		peer := netip.AddrPortFrom(addr, uint16(5000+i))
		t.Run(strings.ReplaceAll(tc.addr, ":", "_"), func(t *testing.T) {
			before := sumCounter(server.metrics.peerDenied)
			perm := client.createPermission(peer)
			bind := client.channelBind(uint16(0x4000+i), peer)
			after := sumCounter(server.metrics.peerDenied)
			if tc.allowed {
				if perm != 0 || bind != 0 {
					t.Errorf("%s refused: CreatePermission %d, ChannelBind %d", tc.addr, perm, bind)
				}
				return
			}
			if perm == 0 || bind == 0 {
				t.Errorf("%s allowed: CreatePermission %d, ChannelBind %d", tc.addr, perm, bind)
			}
			if after-before != 2 {
				t.Errorf("%s: turnkey_peer_denied_total rose by %v, want 2", tc.addr, after-before)
			}
		})
	}
}
