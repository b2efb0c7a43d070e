package relay

import (
	"net"
	"sync"
	"sync/atomic"
)

// pion asks the QuotaHandler (admit) before it creates an allocation, and
// several of its checks come after: a LIFETIME of 0, a 5-tuple that races
// another Allocate, a relay port that cannot be opened. Each of those ends in
// a 508 without an event naming the allocation, so the quota slot taken in
// admit is held as a reservation on the client's transport address until the
// request has been handled: the allocation-created event turns it into the
// allocation's slot, and the next read on the same socket or connection (pion
// handles one request at a time per socket) gives back any reservation still
// open. No failure path can keep a slot, whichever one pion takes.

type pendingKey struct {
	transport string // transportUDP or transportTCP (by address type)
	src       string
}

type reservation struct {
	quotaKey, account, userID string
	reason                    string // why the allocation failed, when known
}

type admissions struct {
	mu sync.Mutex
	m  map[pendingKey]*reservation
	n  atomic.Int32 // len(m), read without the lock on every request
}

func keyOf(addr net.Addr) pendingKey {
	t := transportTCP
	if _, ok := addr.(*net.UDPAddr); ok {
		t = transportUDP
	}
	return pendingKey{transport: t, src: addrString(addr)}
}

// reserve records the slot admit just took for client.
func (s *Server) reserve(client net.Addr, r *reservation) {
	k := keyOf(client)
	s.pending.mu.Lock()
	if s.pending.m == nil {
		s.pending.m = map[pendingKey]*reservation{}
	}
	old := s.pending.m[k]
	s.pending.m[k] = r
	s.pending.n.Store(int32(len(s.pending.m))) //nolint:gosec // bounded by sockets
	s.pending.mu.Unlock()
	if old != nil {
		s.giveBack(old)
	}
}

// claim takes client's reservation for the allocation just created; nil
// when there is none.
func (s *Server) claim(client net.Addr) *reservation {
	if s.pending.n.Load() == 0 {
		return nil
	}
	k := keyOf(client)
	s.pending.mu.Lock()
	r := s.pending.m[k]
	delete(s.pending.m, k)
	s.pending.n.Store(int32(len(s.pending.m))) //nolint:gosec // bounded by sockets
	s.pending.mu.Unlock()
	return r
}

// settleAdmission gives back a reservation whose Allocate did not produce
// an allocation; called before each read of a client socket. transport is
// unused for the key (the address type decides) but documents the caller.
func (s *Server) settleAdmission(client net.Addr, _ string) {
	if client == nil {
		return
	}
	s.wants.settle(client)
	s.registry.settleGrant(client)
	if s.pending.n.Load() == 0 {
		return
	}
	if r := s.claim(client); r != nil {
		s.giveBack(r)
	}
}

func (s *Server) giveBack(r *reservation) {
	reason := r.reason
	if reason == "" {
		reason = "insufficient_capacity"
	}
	s.metrics.allocationFailures.WithLabelValues(reason).Inc()
	s.quota.Release(r.quotaKey, r.account)
	s.log.Info("relay: allocation failed after admission; quota slot given back", "user", r.userID, "reason", reason)
}

// noteFailure records why userID's admitted allocation failed, for the
// metric counted when its reservation is given back.
func (s *Server) noteFailure(userID, reason string) {
	s.pending.mu.Lock()
	for _, r := range s.pending.m {
		if r.userID == userID && r.reason == "" {
			r.reason = reason
		}
	}
	s.pending.mu.Unlock()
}
