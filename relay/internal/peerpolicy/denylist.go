package peerpolicy

import "net/netip"

// denyEntry ties one deny-list prefix to the reason reported for it.
type denyEntry struct {
	prefix netip.Prefix
	reason Reason
	match  maskedPrefix
}

// deny builds a denyEntry from a literal; the literals are constants, so a
// parse failure is a programming error caught by every test run.
func deny(prefix string, r Reason) denyEntry {
	p := netip.MustParsePrefix(prefix)
	return denyEntry{prefix: p, reason: r, match: newMaskedPrefix(p)}
}

// The default deny-list, split by family so a lookup only scans prefixes
// that can match. The ranges do not overlap, so order does not matter.
var (
	defaultDeny4 = []denyEntry{
		deny("0.0.0.0/8", ReasonUnspecified),
		deny("10.0.0.0/8", ReasonPrivate),
		deny("100.64.0.0/10", ReasonCGNAT),
		deny("127.0.0.0/8", ReasonLoopback),
		deny("169.254.0.0/16", ReasonLinkLocal),
		deny("172.16.0.0/12", ReasonPrivate),
		deny("192.0.0.0/24", ReasonReserved),
		deny("192.0.2.0/24", ReasonDocumentation),
		deny("192.88.99.0/24", ReasonIPv6Transition),
		deny("192.168.0.0/16", ReasonPrivate),
		deny("198.18.0.0/15", ReasonBenchmarking),
		deny("198.51.100.0/24", ReasonDocumentation),
		deny("203.0.113.0/24", ReasonDocumentation),
		deny("224.0.0.0/4", ReasonMulticast),
		deny("240.0.0.0/4", ReasonReserved),
	}
	defaultDeny6 = []denyEntry{
		deny("::/128", ReasonUnspecified),
		deny("::1/128", ReasonLoopback),
		deny("fc00::/7", ReasonPrivate),
		deny("fe80::/10", ReasonLinkLocal),
		deny("fec0::/10", ReasonSiteLocal),
		deny("ff00::/8", ReasonMulticast),
		deny("100::/64", ReasonDiscard),
		deny("2001::/32", ReasonIPv6Transition),
		deny("2001:db8::/32", ReasonDocumentation),
		deny("2002::/16", ReasonIPv6Transition),
		deny("64:ff9b::/96", ReasonIPv6Transition),
	}
)

// DefaultDeny returns a fresh copy of the default deny-list (IPv4 first, in
// the order of the reference), for documentation, config dumps and tests.
func DefaultDeny() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(defaultDeny4)+len(defaultDeny6))
	for _, e := range defaultDeny4 {
		out = append(out, e.prefix)
	}
	for _, e := range defaultDeny6 {
		out = append(out, e.prefix)
	}
	return out
}

// defaultReason reports which default deny-list entry, if any, contains ip.
// ip must be zone-free and unmapped.
func defaultReason(ip netip.Addr) (Reason, bool) {
	list := defaultDeny6
	if ip.Is4() {
		list = defaultDeny4
	}
	hi, lo := addrWords(ip)
	for i := range list {
		if list[i].match.contains(hi, lo) {
			return list[i].reason, true
		}
	}
	return ReasonAllowed, false
}
