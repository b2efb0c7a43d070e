package relay

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// hostAddrs is the set of this host's own addresses. A relayed packet to one
// of them is delivered only to a relay port of a live allocation of this
// server on the relay address (relay to relay): anything else would let a
// client reach our own listeners (TURN, API, admin) or other local services
// through the relay, including ones listening inside the relay port range.
//
// The set is read per relayed packet, so it is an immutable snapshot behind
// an atomic pointer; it is taken again whenever the kernel reports an
// address added or removed (hostaddrs_linux.go), so an address that appears
// after start (floating IP, DHCP, SLAAC) is guarded as soon as it is
// configured.
type hostAddrs struct {
	snapshot atomic.Pointer[map[netip.Addr]struct{}]
	extra    []netip.Addr // configured addresses, always local
	// relayAddrs are the relay's bound and advertised addresses: the only
	// local addresses a relay-to-relay packet goes to.
	relayAddrs       []netip.Addr
	minPort, maxPort uint16
	// services are this process's own listening ports (TURN, API, admin):
	// never reachable through the relay, whatever the allow-list says.
	services map[uint16]bool
	// udpLive and tcpLive mark the relay ports of live allocations.
	udpLive, tcpLive portBits
	// changed, if set, is called after each new snapshot (the kernel fast
	// path checks its entries to this host again).
	changed atomic.Pointer[func()]
}

func newHostAddrs(extra, relayAddrs []netip.Addr, minPort, maxPort int) *hostAddrs {
	h := &hostAddrs{minPort: uint16(minPort), maxPort: uint16(maxPort), services: map[uint16]bool{}} //nolint:gosec // validated ports
	for _, a := range relayAddrs {
		h.relayAddrs = append(h.relayAddrs, a.Unmap().WithZone(""))
	}
	h.extra = extra
	h.refresh()
	return h
}

// refresh takes the snapshot of this host's addresses again.
func (h *hostAddrs) refresh() {
	m := map[netip.Addr]struct{}{}
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !a.IsLoopback() && !a.IsUnspecified() {
			m[a] = struct{}{}
		}
	}
	for _, a := range h.extra {
		add(a)
	}
	if ifAddrs, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range ifAddrs {
			if p, err := netip.ParsePrefix(ia.String()); err == nil {
				add(p.Addr())
			}
		}
	}
	h.snapshot.Store(&m)
	if f := h.changed.Load(); f != nil {
		(*f)()
	}
}

// isLocal reports whether a is an address of this host. Loopback and
// unspecified addresses always are.
func (h *hostAddrs) isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	_, ok := (*h.snapshot.Load())[a]
	return ok
}

// protect adds one of our own listening ports.
func (h *hostAddrs) protect(port int) {
	if port > 0 && port < 65536 {
		h.services[uint16(port)] = true //nolint:gosec // checked above
	}
}

// blocked reports whether a relayed packet (or a TCP Connect, stream) to
// ap must not be delivered: ap is this host, and not a live relay port of
// ours on the relay address. A local address the operator allow-listed is
// reachable except on our service ports.
func (h *hostAddrs) blocked(ap netip.AddrPort, stream bool, allowListed func(netip.Addr) bool) bool {
	a := ap.Addr()
	if !h.isLocal(a) {
		return false
	}
	p := ap.Port()
	if h.services[p] {
		return true
	}
	if p >= h.minPort && p <= h.maxPort && h.isRelayAddr(a) {
		live := &h.udpLive
		if stream {
			live = &h.tcpLive
		}
		if live.has(p) {
			return false
		}
	}
	return !allowListed(a)
}

func (h *hostAddrs) isRelayAddr(a netip.Addr) bool {
	for _, r := range h.relayAddrs {
		if r == a {
			return true
		}
	}
	return false
}

// portBits is a set of ports, read without a lock.
type portBits [1024]atomic.Uint64

func (b *portBits) set(p uint16)      { b[p>>6].Or(1 << (p & 63)) }
func (b *portBits) clear(p uint16)    { b[p>>6].And(^(uint64(1) << (p & 63))) }
func (b *portBits) has(p uint16) bool { return b[p>>6].Load()&(1<<(p&63)) != 0 }
