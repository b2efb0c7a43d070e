package peerpolicy

import (
	"net/netip"
	"testing"
)

// fuzzAllow is the allow-list FuzzCheck runs against, so the property
// "denied unless allow-listed" is exercised with a non-empty list.
var fuzzAllow = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("10.20.0.0/16"),
	netip.MustParsePrefix("fd00:1::/32"),
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",
		"2001:0:4136:e378::80ff:fffe", "::", "::1", "8.8.8.8", "2606:4700::1111", "10.20.1.1",
	} {
		f.Add(netip.MustParseAddr(s).AsSlice(), "")
	}
	f.Add([]byte{1, 2, 3}, "eth0")
	defaults := New(nil, nil, true)
	allowing := New(fuzzAllow, nil, true)

	f.Fuzz(func(t *testing.T, raw []byte, zone string) {
		ip, valid := netip.AddrFromSlice(raw)
		if valid && ip.Is6() {
			ip = ip.WithZone(zone)
		}
		for _, p := range []*Policy{defaults, allowing} {
			ok, reason := p.Check(ip)
			if ok != (reason == ReasonAllowed) {
				t.Fatalf("Check(%s) = %v, %s: ok and reason disagree", ip, ok, reason)
			}
			if !valid {
				if ok || reason != ReasonInvalid {
					t.Fatalf("Check(invalid %x) = %v, %s", raw, ok, reason)
				}
				continue
			}
			plain := ip.WithZone("").Unmap()
			if fast, slow := deniedFastAndSlow(plain); fast != slow {
				t.Fatalf("defaultReason(%s) disagrees with netip.Prefix.Contains", plain)
			}
			if ok2, reason2 := p.Check(plain); ok2 != ok || reason2 != reason {
				t.Fatalf("Check(%s) = %v, %s but its plain form %s gives %v, %s", ip, ok, reason, plain, ok2, reason2)
			}
			primary, secondary := embeddedIPv4(plain)
			allowListed := p == allowing && (inAny(fuzzAllow, plain) || (primary.IsValid() && inAny(fuzzAllow, primary)))
			if allowListed {
				if !ok {
					t.Fatalf("Check(%s) denied an allow-listed address: %s", ip, reason)
				}
				continue
			}
			for _, emb := range []netip.Addr{primary, secondary} {
				if !emb.IsValid() {
					continue
				}
				if _, denied := defaultReason(emb); denied && ok {
					t.Fatalf("Check(%s) allowed an address embedding denied IPv4 %s", ip, emb)
				}
			}
			if _, denied := defaultReason(plain); denied && ok {
				t.Fatalf("Check(%s) allowed an address in the default deny-list", ip)
			}
		}
	})
}

func inAny(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// deniedFastAndSlow answers "is ip in the default deny-list" both with the
// pre-computed masks and with netip.Prefix.Contains, to cross-check them.
func deniedFastAndSlow(ip netip.Addr) (fast, slow bool) {
	_, fast = defaultReason(ip)
	return fast, inAny(DefaultDeny(), ip)
}
