package relay

import (
	"net"
	"net/netip"

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
			a := s.newLiveAlloc(src, dst, userID, relayAddr)
			if rc := a.rc; rc != nil {
				if s.wants.has(src) {
					// ADDITIONAL-ADDRESS-FAMILY: the IPv6 half (dual.go).
					if d := s.openDual(rc, userID); d.conn != nil {
						a.family = familyDual
					}
				}
				// Without a way to reach the client (a stream no longer
				// registered) the path stays unset and pion answers it.
				var path *clientPath
				switch ap, _ := addrPort(src); {
				case a.stream != nil:
					path = &clientPath{stream: a.stream}
				case rc.listener != nil && a.transport == transportUDP:
					path = &clientPath{udp: rc.listener, addr: ap}
				}
				s.chans.setClient(src, rc, path)
			}
			s.allocationAdded(a, src, relayAddr)
			s.metrics.allocationsTotal.WithLabelValues(a.transport, a.family).Inc()
			s.metrics.allocationsActive.WithLabelValues(a.transport, a.family).Inc()
			s.log.Info("allocation created", "client", a.client, "transport", a.transport,
				"family", a.family, "relay", a.relay, "user", userID)
		},
		OnAllocationDeleted: func(src, dst net.Addr, _, userID, _ string) {
			a := s.registry.unlink(allocKeyOf(src, dst))
			s.chans.dropClient(src)
			if a == nil {
				return
			}
			// Last: a close waiting on the registry (allocations.go) returns
			// once the quota slot and the gauge are given back.
			defer s.registry.deleted(a)
			if a.slot.reserved {
				s.quota.Release(a.slot.quotaKey, a.slot.account)
			}
			if a.stream != nil {
				a.stream.allocationEnded()
			}
			s.metrics.allocationsActive.WithLabelValues(a.transport, a.family).Dec()
			s.log.Info("allocation deleted", "client", a.client, "transport", a.transport, "user", userID)
			s.allocationGone()
		},
		// Permissions and channels go into the channel table
		// (channeltable.go), which the relay socket consults to count (and
		// drop) exactly what pion will not relay, and the fast path to relay
		// channel data itself. pion reports a permission after storing it,
		// so a datagram racing the very first CreatePermission may be
		// dropped here that pion would have relayed; before the response
		// reaches the client no peer can rely on it. Removals are reported
		// in the same call that removes the state from pion.
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			if ip, ok := ipOf(peer); ok {
				if rc := s.chans.relay(relayAddr); rc != nil {
					s.chans.permit(rc, rc.fromPion(ip, +1), true)
				}
			}
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			if ip, ok := ipOf(peer); ok {
				if rc := s.chans.relay(relayAddr); rc != nil {
					s.chans.permit(rc, rc.fromPion(ip, -1), false)
				}
			}
		},
		OnChannelCreated: func(src, dst net.Addr, _, _, _ string, relayAddr, peer net.Addr, number uint16) {
			if ap, ok := addrPort(peer); ok {
				if rc := s.chans.relay(relayAddr); rc != nil {
					ap = netip.AddrPortFrom(rc.fromPion(ap.Addr(), +1), ap.Port())
					s.chans.bind(s, chanKeyOf(src, dst, number), rc, ap)
				}
			}
		},
		OnChannelDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, _ uint16) {
			if ap, ok := addrPort(peer); ok {
				if rc := s.chans.relay(relayAddr); rc != nil {
					s.chans.unbind(rc, netip.AddrPortFrom(rc.fromPion(ap.Addr(), -1), ap.Port()))
				}
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
