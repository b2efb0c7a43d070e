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
	family    string // of the relay address: familyIPv4 or familyIPv6
	user      string // pion's user ID: the username that allocated
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
	// byClient finds it by the client's transport address, which is all
	// pion's permission handler is told.
	byClient map[pendingKey]*relayConn
}

// relayOfClient is the UDP relay socket of client's allocation, or nil.
func (s *Server) relayOfClient(client net.Addr) *relayConn {
	k := keyOf(client)
	s.allocs.mu.Lock()
	defer s.allocs.mu.Unlock()
	return s.allocs.byClient[k]
}

// trackRelay registers a relay socket under the relay address pion was
// given for it, so permission events reach it.
func (s *Server) trackRelay(addr net.Addr, c *relayConn) {
	ap, ok := addrPort(addr)
	if !ok {
		return
	}
	c.relayAddr = ap
	s.hostAddrs.udpLive.set(ap.Port())
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
		s.hostAddrs.udpLive.clear(c.relayAddr.Port())
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

// permSet mirrors which peers pion relays to the client from one relay
// socket: pion forwards a datagram when its source has a channel (by
// address) or a permission (by IP). Adding or removing one is a map
// operation, O(1) whatever the size (a copy-on-write set cost 9 CPU-seconds
// for 10,000 permissions); the per-packet check takes an uncontended read
// lock, the socket's reader being its only frequent user.
type permSet struct {
	mu    sync.RWMutex
	ips   map[netip.Addr]struct{}
	chans map[netip.AddrPort]struct{}
}

// allows reports whether pion will relay a datagram from src.
func (p *permSet) allows(src netip.AddrPort) bool {
	if p == nil {
		return false
	}
	p.mu.RLock()
	_, ok := p.ips[src.Addr()]
	if !ok {
		_, ok = p.chans[src]
	}
	p.mu.RUnlock()
	return ok
}

func (p *permSet) addIP(ip netip.Addr) {
	p.mu.Lock()
	if p.ips == nil {
		p.ips = map[netip.Addr]struct{}{}
	}
	p.ips[ip] = struct{}{}
	p.mu.Unlock()
}

func (p *permSet) removeIP(ip netip.Addr) {
	p.mu.Lock()
	delete(p.ips, ip)
	p.mu.Unlock()
}

func (p *permSet) addChan(ap netip.AddrPort) {
	p.mu.Lock()
	if p.chans == nil {
		p.chans = map[netip.AddrPort]struct{}{}
	}
	p.chans[ap] = struct{}{}
	p.mu.Unlock()
}

func (p *permSet) removeChan(ap netip.AddrPort) {
	p.mu.Lock()
	delete(p.chans, ap)
	p.mu.Unlock()
}

// has reports whether ip holds a permission.
func (p *permSet) has(ip netip.Addr) bool {
	p.mu.RLock()
	_, ok := p.ips[ip]
	p.mu.RUnlock()
	return ok
}

// count is the number of permitted IPs.
func (p *permSet) count() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.ips)
}

// full reports whether one more permission, for an IP not yet permitted,
// would exceed limit (0: no limit).
func (p *permSet) full(ip netip.Addr, limit int) bool {
	if limit <= 0 {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, has := p.ips[ip]
	return !has && len(p.ips) >= limit
}

// permissionEvent applies a permission or channel event to the relay socket
// of relayAddr.
func (s *Server) permissionEvent(relayAddr net.Addr, change func(*permSet)) {
	if c := s.relayFor(relayAddr); c != nil {
		change(&c.perms)
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
			info := allocInfo{transport: transport, user: userID, family: familyIPv4}
			if ap, ok := addrPort(relayAddr); ok {
				info.family = familyName(ap.Addr())
			}
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
			rc := s.relayFor(relayAddr)
			s.allocs.mu.Lock()
			s.allocs.m[allocKeyOf(src, dst)] = info
			if rc != nil {
				if s.allocs.byClient == nil {
					s.allocs.byClient = map[pendingKey]*relayConn{}
				}
				s.allocs.byClient[keyOf(src)] = rc
			}
			s.allocs.mu.Unlock()
			s.metrics.allocationsTotal.WithLabelValues(transport, info.family).Inc()
			s.metrics.allocationsActive.WithLabelValues(transport, info.family).Inc()
			s.log.Info("allocation created", "client", addrString(src), "transport", transport,
				"family", info.family, "relay", addrString(relayAddr), "user", userID)
		},
		OnAllocationDeleted: func(src, dst net.Addr, _, userID, _ string) {
			k := allocKeyOf(src, dst)
			s.allocs.mu.Lock()
			info, ok := s.allocs.m[k]
			delete(s.allocs.m, k)
			delete(s.allocs.byClient, keyOf(src))
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
			s.metrics.allocationsActive.WithLabelValues(info.transport, info.family).Dec()
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
				s.permissionEvent(relayAddr, func(p *permSet) { p.addIP(ip) })
			}
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			if ip, ok := ipOf(peer); ok {
				s.permissionEvent(relayAddr, func(p *permSet) { p.removeIP(ip) })
			}
		},
		OnChannelCreated: func(_, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, _ uint16) {
			if ap, ok := addrPort(peer); ok {
				s.permissionEvent(relayAddr, func(p *permSet) { p.addChan(ap) })
			}
		},
		OnChannelDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, _ uint16) {
			if ap, ok := addrPort(peer); ok {
				s.permissionEvent(relayAddr, func(p *permSet) { p.removeChan(ap) })
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
