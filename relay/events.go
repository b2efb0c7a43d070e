package relay

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// allocKey identifies an allocation by its client 5-tuple. pion reports the
// protocol of every 5-tuple as UDP, so the transport comes from the address
// type: a UDP and a TCP client on the same address and port are two
// allocations.
type allocKey struct{ transport, src, dst string }

func allocKeyOf(src, dst net.Addr) allocKey {
	t := transportTCP
	if _, ok := dst.(*net.UDPAddr); ok {
		t = transportUDP
	}
	return allocKey{transport: t, src: addrString(src), dst: addrString(dst)}
}

// allocInfo is what the server remembers of a live allocation.
type allocInfo struct {
	transport string
	quotaKey  string
	account   string
	// reserved: the allocation holds the quota slot admit took for it.
	reserved bool
	stream   *streamConn // the TCP/TLS control connection, or nil
}

type allocTable struct {
	mu sync.Mutex
	m  map[allocKey]allocInfo
	// relays finds a UDP relay socket by the relay address pion reports in
	// permission and channel events. Created on first use.
	relays map[netip.AddrPort]*relayConn
}

// trackRelay registers a relay socket under the relay address pion was
// given for it, so permission events reach it.
func (s *Server) trackRelay(addr net.Addr, c *relayConn) {
	ap, ok := addrPort(addr)
	if !ok {
		return
	}
	c.relayAddr = ap
	s.allocs.mu.Lock()
	if s.allocs.relays == nil {
		s.allocs.relays = map[netip.AddrPort]*relayConn{}
	}
	s.allocs.relays[ap] = c
	s.allocs.mu.Unlock()
}

// untrackRelay forgets a closed relay socket.
func (s *Server) untrackRelay(c *relayConn) {
	s.allocs.mu.Lock()
	if s.allocs.relays[c.relayAddr] == c {
		delete(s.allocs.relays, c.relayAddr)
	}
	s.allocs.mu.Unlock()
}

// relayFor returns the relay socket behind a relay address, or nil (a TCP
// allocation, or a socket already closed).
func (s *Server) relayFor(relayAddr net.Addr) *relayConn {
	ap, ok := addrPort(relayAddr)
	if !ok {
		return nil
	}
	s.allocs.mu.Lock()
	defer s.allocs.mu.Unlock()
	return s.allocs.relays[ap]
}

// linearMax is the set size up to which a scan beats a map lookup; past it
// an index is built, so a client with thousands of permissions costs its
// own relay socket one hash lookup per packet, not a scan.
const linearMax = 16

// addrSet is an immutable set of addresses: changes return a copy.
type addrSet[T comparable] struct {
	list  []T
	index map[T]struct{} // set when len(list) > linearMax
}

func (s *addrSet[T]) has(v T) bool {
	if s.index != nil {
		_, ok := s.index[v]
		return ok
	}
	for _, x := range s.list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *addrSet[T]) with(v T) addrSet[T] {
	if s.has(v) {
		return *s
	}
	return newAddrSet(append(append(make([]T, 0, len(s.list)+1), s.list...), v))
}

func (s *addrSet[T]) without(v T) addrSet[T] {
	if !s.has(v) {
		return *s
	}
	out := make([]T, 0, len(s.list)-1)
	for _, x := range s.list {
		if x != v {
			out = append(out, x)
		}
	}
	return newAddrSet(out)
}

func newAddrSet[T comparable](list []T) addrSet[T] {
	s := addrSet[T]{list: list}
	if len(list) > linearMax {
		s.index = make(map[T]struct{}, len(list))
		for _, x := range list {
			s.index[x] = struct{}{}
		}
	}
	return s
}

// permSet mirrors which peers pion relays to the client from one relay
// socket: pion forwards a datagram when its source has a channel (by
// address) or a permission (by IP). It is immutable and swapped whole on
// each change, so the per-packet check is one atomic load and no lock.
type permSet struct {
	ips   addrSet[netip.Addr]
	chans addrSet[netip.AddrPort]
}

// allows reports whether pion will relay a datagram from src.
func (p *permSet) allows(src netip.AddrPort) bool {
	return p != nil && (p.ips.has(src.Addr()) || p.chans.has(src))
}

// updatePerms applies change to c's permission set. Writers are pion's
// request handlers and timers, rare next to packets; a compare-and-swap
// loop keeps concurrent changes from losing one another.
func (c *relayConn) updatePerms(change func(permSet) permSet) {
	for {
		old := c.perms.Load()
		var cur permSet
		if old != nil {
			cur = *old
		}
		next := change(cur)
		if c.perms.CompareAndSwap(old, &next) {
			return
		}
	}
}

// permissionEvent applies a permission or channel event to the relay socket
// of relayAddr.
func (s *Server) permissionEvent(relayAddr net.Addr, change func(permSet) permSet) {
	if c := s.relayFor(relayAddr); c != nil {
		c.updatePerms(change)
	}
}

// ipOf converts a peer IP as pion reports it; IPv4-mapped addresses are
// unmapped, as relay sockets see the peers of an IPv4 allocation.
func ipOf(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func (s *Server) eventHandler() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _ string, method string, verdict bool) {
			if !verdict {
				s.noteRefusal(src)
				s.metrics.authFailures.WithLabelValues("bad_hmac").Inc()
				if method == stun.MethodAllocate.String() {
					s.metrics.allocationFailures.WithLabelValues("auth").Inc()
				}
				s.log.Debug("relay: credentials refused", "reason", "bad_hmac", "client", addrString(src),
					"method", method, "username", username)
			}
		},
		OnAllocationCreated: func(src, dst net.Addr, _, userID, _ string, relayAddr net.Addr, _ int) {
			transport := s.transportOf(src, dst)
			info := allocInfo{transport: transport}
			if r := s.claim(src); r != nil {
				info.quotaKey, info.account, info.reserved = r.quotaKey, r.account, true
			} else if e, err := s.parseUser(userID); err == nil {
				info.account = e.user.AccountSID
			}
			if _, udp := dst.(*net.UDPAddr); !udp {
				if v, ok := s.streamConns.Load(addrString(src)); ok {
					info.stream = v.(*streamConn)
					info.stream.allocated.Add(1)
				}
			}
			s.allocs.mu.Lock()
			s.allocs.m[allocKeyOf(src, dst)] = info
			s.allocs.mu.Unlock()
			s.metrics.allocationsTotal.WithLabelValues(transport).Inc()
			s.metrics.allocationsActive.WithLabelValues(transport).Inc()
			s.log.Info("allocation created", "client", addrString(src), "transport", transport,
				"relay", addrString(relayAddr), "user", userID)
		},
		OnAllocationDeleted: func(src, dst net.Addr, _, userID, _ string) {
			k := allocKeyOf(src, dst)
			s.allocs.mu.Lock()
			info, ok := s.allocs.m[k]
			delete(s.allocs.m, k)
			s.allocs.mu.Unlock()
			if !ok {
				return
			}
			if info.reserved {
				s.quota.Release(info.quotaKey, info.account)
			}
			if info.stream != nil {
				info.stream.allocationEnded()
			}
			s.metrics.allocationsActive.WithLabelValues(info.transport).Dec()
			s.log.Info("allocation deleted", "client", addrString(src), "transport", info.transport, "user", userID)
			s.allocationGone()
		},
		// Permissions and channels are mirrored into the relay socket so it
		// counts (and drops) exactly what pion will not relay. pion reports
		// a permission after storing it, so a datagram racing the very
		// first CreatePermission may be dropped here that pion would have
		// relayed; before the response reaches the client no peer can rely
		// on it.
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			if ip, ok := ipOf(peer); ok {
				s.permissionEvent(relayAddr, func(p permSet) permSet { p.ips = p.ips.with(ip); return p })
			}
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			if ip, ok := ipOf(peer); ok {
				s.permissionEvent(relayAddr, func(p permSet) permSet { p.ips = p.ips.without(ip); return p })
			}
		},
		OnChannelCreated: func(_, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, _ uint16) {
			if ap, ok := addrPort(peer); ok {
				s.permissionEvent(relayAddr, func(p permSet) permSet { p.chans = p.chans.with(ap); return p })
			}
		},
		OnChannelDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, _ uint16) {
			if ap, ok := addrPort(peer); ok {
				s.permissionEvent(relayAddr, func(p permSet) permSet { p.chans = p.chans.without(ap); return p })
			}
		},
	}
}

// transportOf names the client transport of a 5-tuple.
func (s *Server) transportOf(src, dst net.Addr) string {
	if _, ok := dst.(*net.UDPAddr); ok {
		return transportUDP
	}
	if v, ok := s.streamConns.Load(addrString(src)); ok {
		return v.(*streamConn).in.transport
	}
	return transportTCP
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
