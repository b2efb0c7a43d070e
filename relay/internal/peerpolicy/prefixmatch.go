package peerpolicy

import (
	"encoding/binary"
	"net/netip"
)

// maskedPrefix is a prefix pre-computed as a 128-bit value and mask, so a
// membership test is two ANDs and two compares. netip.Prefix.Contains
// re-derives the mask on every call, which made a scan of the deny-list
// several times slower.
//
// IPv4 prefixes are stored in their IPv4-mapped form (::ffff:a.b.c.d/96+n);
// callers keep IPv4 and IPv6 prefixes in separate lists, so a mapped IPv6
// address never meets an IPv4 prefix by accident.
type maskedPrefix struct {
	hi, lo         uint64
	maskHi, maskLo uint64
}

// newMaskedPrefix converts a valid prefix.
func newMaskedPrefix(p netip.Prefix) maskedPrefix {
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	var m maskedPrefix
	switch {
	case bits >= 128:
		m.maskHi, m.maskLo = ^uint64(0), ^uint64(0)
	case bits > 64:
		m.maskHi, m.maskLo = ^uint64(0), ^uint64(0)<<(128-bits)
	case bits > 0:
		m.maskHi = ^uint64(0) << (64 - bits)
	}
	hi, lo := addrWords(p.Addr())
	m.hi, m.lo = hi&m.maskHi, lo&m.maskLo
	return m
}

// contains reports whether the address with words hi, lo is in m.
func (m maskedPrefix) contains(hi, lo uint64) bool {
	return hi&m.maskHi == m.hi && lo&m.maskLo == m.lo
}

// addrWords splits an address into two big-endian 64-bit words; an IPv4
// address is taken in its IPv4-mapped form.
func addrWords(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// prefixSet holds prefixes split by family so a lookup only scans those
// that can match.
type prefixSet struct {
	v4, v6 []maskedPrefix
}

// newPrefixSet normalises prefixes: invalid ones are skipped (config
// validation is the place to reject them), zones dropped, host bits masked,
// and IPv4-mapped prefixes (::ffff:10.0.0.0/104) turned into their IPv4 form
// so they match both spellings of an address.
func newPrefixSet(in []netip.Prefix) prefixSet {
	var s prefixSet
	for _, p := range in {
		if !p.IsValid() {
			continue
		}
		addr, bits := p.Addr().WithZone(""), p.Bits()
		if addr.Is4In6() && bits >= 96 {
			addr, bits = addr.Unmap(), bits-96
		}
		m := newMaskedPrefix(netip.PrefixFrom(addr, bits))
		if addr.Is4() {
			s.v4 = append(s.v4, m)
		} else {
			s.v6 = append(s.v6, m)
		}
	}
	return s
}

// contains reports whether ip, which must be zone-free and unmapped, is in
// the set.
func (s *prefixSet) contains(ip netip.Addr) bool {
	list := s.v6
	if ip.Is4() {
		list = s.v4
	}
	hi, lo := addrWords(ip)
	for i := range list {
		if list[i].contains(hi, lo) {
			return true
		}
	}
	return false
}
