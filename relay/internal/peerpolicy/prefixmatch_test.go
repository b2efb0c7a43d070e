package peerpolicy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestMaskedPrefixMatchesNetip checks the pre-computed masks against the
// standard library on prefix edges and on random addresses.
func TestMaskedPrefixMatchesNetip(t *testing.T) {
	prefixes := append(DefaultDeny(),
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("::/0"),
		netip.MustParsePrefix("8.8.8.8/32"),
		netip.MustParsePrefix("2001:db8::/64"),
		netip.MustParsePrefix("2001:db8::/65"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("2001:db8::/1"),
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var addrs []netip.Addr
	for _, p := range prefixes {
		first := p.Masked().Addr()
		addrs = append(addrs, first, first.Prev(), first.Next())
	}
	for range 2000 {
		var b16 [16]byte
		for i := range b16 {
			b16[i] = byte(rng.Uint32())
		}
		addrs = append(addrs, netip.AddrFrom16(b16), netip.AddrFrom4([4]byte(b16[:4])))
	}
	for _, p := range prefixes {
		set := newPrefixSet([]netip.Prefix{p})
		for _, a := range addrs {
			if !a.IsValid() {
				continue
			}
			if got, want := set.contains(a), p.Contains(a); got != want {
				t.Fatalf("prefix %s contains %s: got %v, netip says %v", p, a, got, want)
			}
		}
	}
}

func TestPrefixSetNormalises(t *testing.T) {
	tests := []struct {
		name   string
		prefix netip.Prefix
		addr   string
		want   bool
	}{
		{"mapped prefix matches plain IPv4", netip.MustParsePrefix("::ffff:10.0.0.0/104"), "10.9.9.9", true},
		{"host bits are masked", netip.MustParsePrefix("192.168.1.77/24"), "192.168.1.1", true},
		{"zone is dropped", netip.PrefixFrom(netip.MustParseAddr("fe80::1%eth0"), 64), "fe80::2", true},
		{"short mapped prefix stays IPv6", netip.MustParsePrefix("::ffff:0:0/80"), "10.0.0.1", false},
		{"invalid prefix is skipped", netip.Prefix{}, "10.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := newPrefixSet([]netip.Prefix{tt.prefix})
			if got := set.contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("contains(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}
