package peerpolicy

import (
	"net"
	"net/netip"
	"testing"
)

func TestCheckDefaultPolicy(t *testing.T) {
	p := New(nil, nil, true)
	tests := []checkCase{
		// 0.0.0.0/8
		{"0.0.0.0", false, ReasonUnspecified},
		{"0.255.255.255", false, ReasonUnspecified},
		{"1.0.0.0", true, ReasonAllowed},
		// 10.0.0.0/8
		{"9.255.255.255", true, ReasonAllowed},
		{"10.0.0.0", false, ReasonPrivate},
		{"10.255.255.255", false, ReasonPrivate},
		{"11.0.0.0", true, ReasonAllowed},
		// 100.64.0.0/10
		{"100.63.255.255", true, ReasonAllowed},
		{"100.64.0.0", false, ReasonCGNAT},
		{"100.127.255.255", false, ReasonCGNAT},
		{"100.128.0.0", true, ReasonAllowed},
		// 127.0.0.0/8
		{"126.255.255.255", true, ReasonAllowed},
		{"127.0.0.0", false, ReasonLoopback},
		{"127.0.0.1", false, ReasonLoopback},
		{"127.255.255.255", false, ReasonLoopback},
		{"128.0.0.0", true, ReasonAllowed},
		// 169.254.0.0/16
		{"169.253.255.255", true, ReasonAllowed},
		{"169.254.0.0", false, ReasonLinkLocal},
		{"169.254.169.254", false, ReasonLinkLocal},
		{"169.254.255.255", false, ReasonLinkLocal},
		{"169.255.0.0", true, ReasonAllowed},
		// 172.16.0.0/12
		{"172.15.255.255", true, ReasonAllowed},
		{"172.16.0.0", false, ReasonPrivate},
		{"172.31.255.255", false, ReasonPrivate},
		{"172.32.0.0", true, ReasonAllowed},
		// 192.0.0.0/24 and 192.0.2.0/24
		{"191.255.255.255", true, ReasonAllowed},
		{"192.0.0.0", false, ReasonReserved},
		{"192.0.0.255", false, ReasonReserved},
		{"192.0.1.0", true, ReasonAllowed},
		{"192.0.1.255", true, ReasonAllowed},
		{"192.0.2.0", false, ReasonDocumentation},
		{"192.0.2.255", false, ReasonDocumentation},
		{"192.0.3.0", true, ReasonAllowed},
		// 192.88.99.0/24
		{"192.88.98.255", true, ReasonAllowed},
		{"192.88.99.0", false, ReasonIPv6Transition},
		{"192.88.99.255", false, ReasonIPv6Transition},
		{"192.88.100.0", true, ReasonAllowed},
		// 192.168.0.0/16
		{"192.167.255.255", true, ReasonAllowed},
		{"192.168.0.0", false, ReasonPrivate},
		{"192.168.255.255", false, ReasonPrivate},
		{"192.169.0.0", true, ReasonAllowed},
		// 198.18.0.0/15
		{"198.17.255.255", true, ReasonAllowed},
		{"198.18.0.0", false, ReasonBenchmarking},
		{"198.19.255.255", false, ReasonBenchmarking},
		{"198.20.0.0", true, ReasonAllowed},
		// 198.51.100.0/24
		{"198.51.99.255", true, ReasonAllowed},
		{"198.51.100.0", false, ReasonDocumentation},
		{"198.51.100.255", false, ReasonDocumentation},
		{"198.51.101.0", true, ReasonAllowed},
		// 203.0.113.0/24
		{"203.0.112.255", true, ReasonAllowed},
		{"203.0.113.0", false, ReasonDocumentation},
		{"203.0.113.255", false, ReasonDocumentation},
		{"203.0.114.0", true, ReasonAllowed},
		// 224.0.0.0/4 and 240.0.0.0/4
		{"223.255.255.255", true, ReasonAllowed},
		{"224.0.0.0", false, ReasonMulticast},
		{"239.255.255.255", false, ReasonMulticast},
		{"240.0.0.0", false, ReasonReserved},
		{"255.255.255.255", false, ReasonReserved},
		// Public IPv4.
		{"8.8.8.8", true, ReasonAllowed},
		{"1.1.1.1", true, ReasonAllowed},

		// ::/128, ::1/128 and IPv4-compatible ::a.b.c.d
		{"::", false, ReasonUnspecified},
		{"::1", false, ReasonLoopback},
		{"::2", false, ReasonUnspecified},
		{"::127.0.0.1", false, ReasonLoopback},
		{"::10.0.0.1", false, ReasonPrivate},
		{"::8.8.8.8", true, ReasonAllowed},
		// IPv4-mapped and IPv4-translated.
		{"::ffff:0.0.0.0", false, ReasonUnspecified},
		{"::ffff:127.0.0.1", false, ReasonLoopback},
		{"::ffff:169.254.169.254", false, ReasonLinkLocal},
		{"::ffff:10.1.2.3", false, ReasonPrivate},
		{"::ffff:255.255.255.255", false, ReasonReserved},
		{"::ffff:8.8.8.8", true, ReasonAllowed},
		{"::ffff:0:127.0.0.1", false, ReasonLoopback},
		{"::ffff:0:8.8.8.8", true, ReasonAllowed},
		// fc00::/7
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"fc00::", false, ReasonPrivate},
		{"fd12:3456::1", false, ReasonPrivate},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonPrivate},
		{"fe00::", true, ReasonAllowed},
		// fe80::/10, fec0::/10, ff00::/8
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"fe80::", false, ReasonLinkLocal},
		{"fe80::1%eth0", false, ReasonLinkLocal},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonLinkLocal},
		{"fec0::", false, ReasonSiteLocal},
		{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonSiteLocal},
		{"ff00::", false, ReasonMulticast},
		{"ff02::1", false, ReasonMulticast},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonMulticast},
		// 100::/64
		{"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"100::", false, ReasonDiscard},
		{"100::ffff:ffff:ffff:ffff", false, ReasonDiscard},
		{"100:0:0:1::", true, ReasonAllowed},
		// Teredo 2001::/32: client = last 32 bits inverted, server = bits 32-63.
		{"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"2001::", false, ReasonReserved},                                    // client 255.255.255.255
		{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonUnspecified},   // client 0.0.0.0
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, ReasonDocumentation}, // RFC 4380 example, client 192.0.2.45
		{"2001:0:4136:e378::80ff:fffe", false, ReasonLoopback},               // client 127.0.0.1
		{"2001:0:a00:1::f7f7:f7f7", false, ReasonPrivate},                    // server 10.0.0.1
		{"2001:0:4136:e378::f7f7:f7f7", false, ReasonIPv6Transition},         // public client 8.8.8.8
		{"2001:1::", true, ReasonAllowed},
		// 2001:db8::/32
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"2001:db8::", false, ReasonDocumentation},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonDocumentation},
		{"2001:db9::", true, ReasonAllowed},
		// 6to4 2002::/16: IPv4 in bits 16-47.
		{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"2002::", false, ReasonUnspecified},
		{"2002:7f00:1::", false, ReasonLoopback},
		{"2002:c0a8:101::1", false, ReasonPrivate},
		{"2002:a9fe:a9fe::", false, ReasonLinkLocal},
		{"2002:808:808::1", false, ReasonIPv6Transition},
		{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, ReasonReserved},
		{"2003::", true, ReasonAllowed},
		// NAT64 64:ff9b::/96 (well-known) and 64:ff9b:1::/48 (local use).
		{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", true, ReasonAllowed},
		{"64:ff9b::", false, ReasonUnspecified},
		{"64:ff9b::a9fe:a9fe", false, ReasonLinkLocal},
		{"64:ff9b::7f00:1", false, ReasonLoopback},
		{"64:ff9b::808:808", false, ReasonIPv6Transition},
		{"64:ff9b::ffff:ffff", false, ReasonReserved},
		{"64:ff9b::1:0:0", true, ReasonAllowed},
		{"64:ff9b:1::a00:1", false, ReasonPrivate},
		{"64:ff9b:1:ffff:ffff:ffff:7f00:1", false, ReasonLoopback},
		{"64:ff9b:1::808:808", true, ReasonAllowed},
		// Public IPv6.
		{"2606:4700::1111", true, ReasonAllowed},
		{"2001:4860:4860::8888", true, ReasonAllowed},
	}
	if len(tests) < 60 {
		t.Fatalf("table has %d address forms, want at least 60", len(tests))
	}
	checkAll(t, p, tests)
}

// checkCase is an address and what Check must answer for it.
type checkCase struct {
	addr string
	ok   bool
	want Reason
}

// checkAll runs a subtest a case: Check's answer, and CheckIP's (the net.IP
// path pion uses), which must agree with it.
func checkAll(t *testing.T, p *Policy, tests []checkCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			ok, reason := p.Check(ip)
			if ok != tt.ok || reason != tt.want {
				t.Errorf("Check(%s) = %v, %s; want %v, %s", tt.addr, ok, reason, tt.ok, tt.want)
			}
			if ok2, reason2 := p.CheckIP(net.IP(ip.WithZone("").AsSlice())); ok2 != ok || reason2 != reason {
				t.Errorf("CheckIP(%s) = %v, %s; Check gave %v, %s", tt.addr, ok2, reason2, ok, reason)
			}
		})
	}
}

func TestCheckAllowAndExtraDeny(t *testing.T) {
	p := New(
		[]netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("10.1.0.0/16"),
			netip.MustParsePrefix("2002:808:808::/48"),
			netip.MustParsePrefix("::ffff:192.168.5.0/120"), // mapped form of 192.168.5.0/24
			netip.MustParsePrefix("fd00::7/128"),
			{}, // invalid entries are skipped, not fatal
		},
		[]netip.Prefix{
			netip.MustParsePrefix("8.8.4.0/24"),
			netip.MustParsePrefix("10.1.2.0/24"), // inside an allow range: allow wins
			netip.MustParsePrefix("2606:4700::/32"),
		},
		true,
	)
	tests := []checkCase{
		{"127.0.0.1", true, ReasonAllowed},
		{"::ffff:127.0.0.1", true, ReasonAllowed},
		{"::127.0.0.1", true, ReasonAllowed},
		{"64:ff9b::7f00:1", true, ReasonAllowed},
		{"2002:7f00:1::", true, ReasonAllowed},
		{"2001:0:4136:e378::80ff:fffe", true, ReasonAllowed}, // Teredo client 127.0.0.1
		{"127.0.0.2", false, ReasonLoopback},
		{"::ffff:127.0.0.2", false, ReasonLoopback},
		{"10.1.2.3", true, ReasonAllowed},
		{"10.2.0.1", false, ReasonPrivate},
		{"2002:808:808::1", true, ReasonAllowed},
		{"2002:808:404::1", false, ReasonDeniedExtra},
		{"2002:404:404::1", false, ReasonIPv6Transition},
		{"192.168.5.7", true, ReasonAllowed},
		{"::ffff:192.168.5.7", true, ReasonAllowed},
		{"192.168.6.7", false, ReasonPrivate},
		{"fd00::7", true, ReasonAllowed},
		{"fd00::8", false, ReasonPrivate},
		{"8.8.4.4", false, ReasonDeniedExtra},
		{"::ffff:8.8.4.4", false, ReasonDeniedExtra},
		{"64:ff9b::808:404", false, ReasonDeniedExtra},
		{"2001:0:808:404::f7f7:f7f7", false, ReasonDeniedExtra}, // Teredo server 8.8.4.4
		{"2606:4700::1111", false, ReasonDeniedExtra},
		{"8.8.8.8", true, ReasonAllowed},
	}
	checkAll(t, p, tests)
}

func TestCheckPolicyVariants(t *testing.T) {
	extraOnly := New(nil, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, false)
	var nilPolicy *Policy
	tests := []struct {
		name   string
		policy *Policy
		addr   netip.Addr
		ok     bool
		want   Reason
	}{
		{"default list off allows loopback", extraOnly, netip.MustParseAddr("127.0.0.1"), true, ReasonAllowed},
		{"default list off still applies extra", extraOnly, netip.MustParseAddr("::ffff:203.0.113.9"), false, ReasonDeniedExtra},
		{"nil policy denies loopback", nilPolicy, netip.MustParseAddr("127.0.0.1"), false, ReasonLoopback},
		{"nil policy allows public", nilPolicy, netip.MustParseAddr("8.8.8.8"), true, ReasonAllowed},
		{"zero value denies metadata", &Policy{}, netip.MustParseAddr("169.254.169.254"), false, ReasonLinkLocal},
		{"invalid address", New(nil, nil, true), netip.Addr{}, false, ReasonInvalid},
		{"invalid address with default off", extraOnly, netip.Addr{}, false, ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := tt.policy.Check(tt.addr)
			if ok != tt.ok || reason != tt.want {
				t.Errorf("Check(%s) = %v, %s; want %v, %s", tt.addr, ok, reason, tt.ok, tt.want)
			}
		})
	}
}

func TestNewCopiesInput(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	p := New(allow, nil, true)
	allow[0] = netip.MustParsePrefix("8.8.8.8/32")
	if ok, _ := p.Check(netip.MustParseAddr("127.0.0.1")); !ok {
		t.Fatal("mutating the caller's slice changed the policy")
	}
}

func TestFromIP(t *testing.T) {
	tests := []struct {
		name string
		in   net.IP
		want netip.Addr
	}{
		{"nil", nil, netip.Addr{}},
		{"short", net.IP{1, 2, 3}, netip.Addr{}},
		{"ipv4 16-byte form", net.ParseIP("192.0.2.1"), netip.MustParseAddr("192.0.2.1")},
		{"ipv4 4-byte form", net.IPv4(8, 8, 8, 8).To4(), netip.MustParseAddr("8.8.8.8")},
		{"ipv6", net.ParseIP("2606:4700::1111"), netip.MustParseAddr("2606:4700::1111")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromIP(tt.in); got != tt.want {
				t.Errorf("FromIP(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	p := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, []netip.Prefix{netip.MustParsePrefix("8.8.4.0/24")}, true)
	addrs := []netip.Addr{
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("2001:0:4136:e378::80ff:fffe"),
		netip.MustParseAddr("::ffff:127.0.0.1"),
	}
	ip := net.ParseIP("64:ff9b::a9fe:a9fe")
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			p.Check(a)
		}
		p.CheckIP(ip)
		_ = FromIP(ip)
	})
	if allocs != 0 {
		t.Fatalf("Check/CheckIP/FromIP allocate %.1f times per run, want 0", allocs)
	}
}
