package relay

import "net/netip"

// ipSet is a relay socket's set of permitted peer IPs. Nearly every
// allocation permits one or two peers, so those live inline and only a
// larger set takes a map: an idle allocation's permission costs no heap
// (a one-entry Go map is about 350 bytes, which at tens of thousands of
// allocations is a measurable part of a relay's memory).
type ipSet struct {
	few  [2]netip.Addr
	n    uint8
	more map[netip.Addr]struct{}
}

func (s *ipSet) has(ip netip.Addr) bool {
	for i := range s.n {
		if s.few[i] == ip {
			return true
		}
	}
	if s.more == nil {
		return false
	}
	_, ok := s.more[ip]
	return ok
}

func (s *ipSet) add(ip netip.Addr) {
	if s.has(ip) {
		return
	}
	if int(s.n) < len(s.few) {
		s.few[s.n] = ip
		s.n++
		return
	}
	if s.more == nil {
		s.more = map[netip.Addr]struct{}{}
	}
	s.more[ip] = struct{}{}
}

func (s *ipSet) remove(ip netip.Addr) {
	for i := range s.n {
		if s.few[i] == ip {
			s.n--
			s.few[i] = s.few[s.n]
			s.few[s.n] = netip.Addr{}
			return
		}
	}
	delete(s.more, ip)
}

func (s *ipSet) len() int { return int(s.n) + len(s.more) }

// all lists the set's IPs, in no order.
func (s *ipSet) all() []netip.Addr {
	out := make([]netip.Addr, 0, s.len())
	out = append(out, s.few[:s.n]...)
	for ip := range s.more {
		out = append(out, ip)
	}
	return out
}
