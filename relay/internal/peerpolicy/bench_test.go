package peerpolicy

import (
	"net"
	"net/netip"
	"testing"
)

func BenchmarkCheck(b *testing.B) {
	p := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, []netip.Prefix{netip.MustParsePrefix("8.8.4.0/24")}, true)
	cases := []struct{ name, addr string }{
		{"public_v4", "8.8.8.8"},
		{"private_v4", "192.168.1.1"},
		{"mapped_loopback", "::ffff:127.0.0.1"},
		{"public_v6", "2606:4700::1111"},
		{"teredo", "2001:0:4136:e378::f7f7:f7f7"},
		{"zoned_link_local", "fe80::1%eth0"},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.addr)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Check(ip)
			}
		})
	}
}

func BenchmarkCheckIP(b *testing.B) {
	p := New(nil, nil, true)
	ip := net.ParseIP("203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		p.CheckIP(ip)
	}
}
