package peerpolicy

import (
	"net"
	"net/netip"
)

// Policy is an immutable peer-address policy. Build one with New; the zero
// value and a nil *Policy both apply the default deny-list with no allow- or
// extra deny-list, which is the safe default if wiring forgets to set one.
type Policy struct {
	allow, deny prefixSet
	// skipDefault is the negation of New's defaultDeny so that the zero
	// value applies the default deny-list.
	skipDefault bool
}

// defaultPolicy backs nil *Policy receivers.
var defaultPolicy Policy

// New builds a Policy. allow overrides both the default deny-list and
// extraDeny; extraDeny adds denials on top of the default deny-list;
// defaultDeny turns the built-in deny-list on or off. The slices are copied,
// so the caller may reuse them. Invalid prefixes are skipped (config
// validation is the place to reject them), host bits are masked, and
// IPv4-mapped prefixes (::ffff:10.0.0.0/104) are turned into their IPv4 form
// so they match both spellings of the address. Lookups scan the lists
// linearly, which is the right trade-off for the tens of entries an operator
// configures.
func New(allow, extraDeny []netip.Prefix, defaultDeny bool) *Policy {
	return &Policy{
		allow:       newPrefixSet(allow),
		deny:        newPrefixSet(extraDeny),
		skipDefault: !defaultDeny,
	}
}

// Check reports whether the relay may send to ip, and why. Order:
//  1. the allow-list, against the address as given and its embedded IPv4;
//  2. extraDeny, against the same two forms and, for Teredo, the embedded
//     server address;
//  3. the default deny-list against the embedded IPv4 (so
//     ::ffff:127.0.0.1 is reported as loopback), then against the IPv6
//     address itself (so 6to4/NAT64/Teredo wrapping a public IPv4 is still
//     denied by its transition range).
//
// For Teredo the embedded IPv4 matched by the allow-list is the client's
// (the packets' real destination); the server address only adds denials.
// Zones are ignored. Check does not allocate.
func (p *Policy) Check(ip netip.Addr) (ok bool, reason Reason) {
	if p == nil {
		p = &defaultPolicy
	}
	if !ip.IsValid() {
		return false, ReasonInvalid
	}
	ip = ip.WithZone("")
	// A 4-in-6 mapped address is the IPv4 address; unmapping first means the
	// "original" form seen by the lists is already the canonical one.
	orig := ip.Unmap()
	primary, secondary := embeddedIPv4(orig)

	if p.allow.contains(orig) || (primary.IsValid() && p.allow.contains(primary)) {
		return true, ReasonAllowed
	}
	if p.deny.contains(orig) ||
		(primary.IsValid() && p.deny.contains(primary)) ||
		(secondary.IsValid() && p.deny.contains(secondary)) {
		return false, ReasonDeniedExtra
	}
	if p.skipDefault {
		return true, ReasonAllowed
	}
	for _, embedded := range [2]netip.Addr{primary, secondary} {
		if !embedded.IsValid() {
			continue
		}
		if r, denied := defaultReason(embedded); denied {
			return false, r
		}
	}
	if r, denied := defaultReason(orig); denied {
		return false, r
	}
	return true, ReasonAllowed
}

// CheckIP is Check for the net.IP values pion/turn hands to its callbacks.
func (p *Policy) CheckIP(ip net.IP) (ok bool, reason Reason) {
	return p.Check(FromIP(ip))
}

// FromIP converts a net.IP to a netip.Addr without allocating. The 16-byte
// form of an IPv4 address (which net.ParseIP and pion produce) is unmapped so
// logs and labels show a.b.c.d. A nil or malformed IP yields the zero Addr,
// which Check denies as ReasonInvalid.
func FromIP(ip net.IP) netip.Addr {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// AllowListed reports whether the operator's allow-list names ip (in its
// given or embedded IPv4 form). The relay uses it to tell an address the
// operator deliberately opened (a media server on this host, a test peer on
// loopback) from one merely not denied.
func (p *Policy) AllowListed(ip netip.Addr) bool {
	if p == nil || !ip.IsValid() {
		return false
	}
	orig := ip.WithZone("").Unmap()
	if p.allow.contains(orig) {
		return true
	}
	primary, _ := embeddedIPv4(orig)
	return primary.IsValid() && p.allow.contains(primary)
}
