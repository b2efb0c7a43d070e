package relay

import (
	"net"
	"net/netip"
)

// hostAddrs is the set of this host's own addresses. A relayed packet to one
// of them is only delivered to a port in the relay range: anything else
// would let a client reach our own listeners (TURN, API, admin) or other
// local services through the relay.
type hostAddrs struct {
	addrs            []netip.Addr
	minPort, maxPort uint16
	// services are this process's own listening ports (TURN, API, admin):
	// never reachable through the relay, whatever the allow-list says.
	services map[uint16]bool
}

func newHostAddrs(extra []netip.Addr, minPort, maxPort int) hostAddrs {
	h := hostAddrs{minPort: uint16(minPort), maxPort: uint16(maxPort), services: map[uint16]bool{}} //nolint:gosec // validated ports
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !seen[a] && !a.IsLoopback() && !a.IsUnspecified() {
			seen[a] = true
			h.addrs = append(h.addrs, a)
		}
	}
	for _, a := range extra {
		add(a)
	}
	if ifAddrs, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range ifAddrs {
			if p, err := netip.ParsePrefix(ia.String()); err == nil {
				add(p.Addr())
			}
		}
	}
	return h
}

// isLocal reports whether a is an address of this host. Loopback and
// unspecified addresses always are.
func (h *hostAddrs) isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	for _, x := range h.addrs {
		if x == a {
			return true
		}
	}
	return false
}

// protect adds one of our own listening ports.
func (h *hostAddrs) protect(port int) {
	if port > 0 && port < 65536 {
		h.services[uint16(port)] = true //nolint:gosec // checked above
	}
}

// blocked reports whether a relayed packet to ap must not be delivered: ap
// is this host, on one of our service ports, or on any other port outside
// the relay range unless the operator allow-listed the address.
func (h *hostAddrs) blocked(ap netip.AddrPort, allowListed func(netip.Addr) bool) bool {
	p := ap.Port()
	if p >= h.minPort && p <= h.maxPort {
		return false
	}
	if !h.isLocal(ap.Addr()) {
		return false
	}
	if h.services[p] {
		return true
	}
	return !allowListed(ap.Addr())
}
