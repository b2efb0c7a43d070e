package peerpolicy

import "net/netip"

// Prefixes of the IPv6 forms that carry an IPv4 address. Only the first
// bytes are compared, so they are kept as byte patterns to avoid
// netip.Prefix work on the hot path.
var (
	// ::ffff:0:0/96 IPv4-mapped and ::ffff:0:0:0/96 IPv4-translated (SIIT).
	mappedHead     = [12]byte{10: 0xff, 11: 0xff}
	translatedHead = [12]byte{8: 0xff, 9: 0xff}
	// 64:ff9b::/96 well-known NAT64 prefix (RFC 6052).
	nat64Head = [12]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b}
	// 64:ff9b:1::/48 local-use NAT64 prefix (RFC 8215).
	nat64LocalHead = [6]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 4: 0x00, 5: 0x01}
)

// embeddedIPv4 extracts the IPv4 addresses an IPv6 address stands for.
// primary is the address traffic is ultimately delivered to; secondary is
// only set for Teredo, whose server address is also an IPv4 the relay would
// make packets flow through. Both are the zero Addr when ip embeds nothing.
// ip must be zone-free.
//
// Local-use NAT64 (64:ff9b:1::/48) lets the operator choose the embedding
// length; the /96 layout (IPv4 in the last 32 bits) is the one in practical
// use and the only one decoded here. Deployments using RFC 6052 /48-/64
// layouts should add their translator prefix to extraDeny.
func embeddedIPv4(ip netip.Addr) (primary, secondary netip.Addr) {
	if !ip.Is6() {
		return netip.Addr{}, netip.Addr{}
	}
	b := ip.As16()
	last := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	var head [12]byte
	copy(head[:], b[:12])
	switch {
	case head == mappedHead, head == translatedHead, head == nat64Head:
		return last, netip.Addr{}
	case head == [12]byte{}:
		// IPv4-compatible ::a.b.c.d (deprecated). :: and ::1 are the IPv6
		// unspecified and loopback addresses, not IPv4 0.0.0.0 / 0.0.0.1.
		if b[12] == 0 && b[13] == 0 && b[14] == 0 && (b[15] == 0 || b[15] == 1) {
			return netip.Addr{}, netip.Addr{}
		}
		return last, netip.Addr{}
	case b[0] == 0x20 && b[1] == 0x02:
		// 6to4 2002:AABB:CCDD::/48: the IPv4 of the 6to4 router, which is
		// where the relay's packets would be tunnelled to.
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), netip.Addr{}
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		// Teredo 2001:0::/32: server IPv4 in bits 32-63, client's public
		// IPv4 in the last 32 bits, inverted (RFC 4380 section 4).
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		server := netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]})
		return client, server
	case [6]byte(b[:6]) == nat64LocalHead:
		return last, netip.Addr{}
	}
	return netip.Addr{}, netip.Addr{}
}
