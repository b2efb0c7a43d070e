package relay

import (
	"net"
	"sync"

	"github.com/pion/turn/v5"
)

// allocKey identifies an allocation by its client 5-tuple (pion fixes the
// protocol, so source and destination suffice).
type allocKey struct{ src, dst string }

// allocInfo is what the server remembers of a live allocation.
type allocInfo struct {
	transport string
	quotaKey  string
	account   string
}

type allocTable struct {
	mu sync.Mutex
	m  map[allocKey]allocInfo
}

func (s *Server) eventHandler() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _ string, method string, verdict bool) {
			if !verdict {
				s.metrics.authFailures.WithLabelValues("bad_hmac").Inc()
				s.log.Debug("relay: credentials refused", "reason", "bad_hmac", "client", addrString(src),
					"method", method, "username", username)
			}
		},
		OnAllocationCreated: func(src, dst net.Addr, _, userID, _ string, relayAddr net.Addr, _ int) {
			transport := s.transportOf(src, dst)
			u, _ := parseUser(userID)
			info := allocInfo{transport: transport, quotaKey: u.QuotaKey(), account: u.AccountSID}
			s.allocs.mu.Lock()
			s.allocs.m[allocKey{src.String(), dst.String()}] = info
			s.allocs.mu.Unlock()
			s.metrics.allocationsTotal.WithLabelValues(transport).Inc()
			s.metrics.allocationsActive.WithLabelValues(transport).Inc()
			s.log.Info("allocation created", "client", addrString(src), "transport", transport,
				"relay", addrString(relayAddr), "user", userID)
		},
		OnAllocationDeleted: func(src, dst net.Addr, _, userID, _ string) {
			k := allocKey{src.String(), dst.String()}
			s.allocs.mu.Lock()
			info, ok := s.allocs.m[k]
			delete(s.allocs.m, k)
			s.allocs.mu.Unlock()
			if !ok {
				return
			}
			s.quota.Release(info.quotaKey, info.account)
			s.metrics.allocationsActive.WithLabelValues(info.transport).Dec()
			s.log.Info("allocation deleted", "client", addrString(src), "transport", info.transport, "user", userID)
			s.allocationGone()
		},
	}
}

// transportOf names the client transport of a 5-tuple.
func (s *Server) transportOf(src, dst net.Addr) string {
	if _, ok := dst.(*net.UDPAddr); ok {
		return transportUDP
	}
	if t, ok := s.streamTransport.Load(src.String()); ok {
		return t.(string)
	}
	return transportTCP
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
