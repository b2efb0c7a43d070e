package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/turnkey-dev/turnkey/relay/internal/peerpolicy"
	"github.com/turnkey-dev/turnkey/relay/internal/quota"
)

// admissionControl decides who may allocate (quotas, draining), to which
// peers (policy, permission limit) and how fast (bandwidth); Apply swaps
// what a reload changes.
type admissionControl struct {
	policy    atomic.Pointer[peerpolicy.Policy]
	quota     *quota.Counter
	bandwidth atomic.Int64
	draining  atomic.Bool
	pending   admissions
	maxPerms  int
}

func (a *admissionControl) init(cfg Config) {
	a.quota = quota.New(cfg.Quotas.limits())
	a.policy.Store(cfg.PeerPolicy.build())
	a.bandwidth.Store(cfg.BandwidthBPS)
	a.maxPerms = cfg.MaxPermissions
}

// PeerPolicy chooses which peers clients may relay to.
type PeerPolicy struct {
	// Allow overrides the deny-list.
	Allow []netip.Prefix
	// Deny adds to the built-in deny-list.
	Deny []netip.Prefix
	// DisableDefaultDeny turns the built-in deny-list off.
	DisableDefaultDeny bool
}

func (p PeerPolicy) build() *peerpolicy.Policy {
	return peerpolicy.New(p.Allow, p.Deny, !p.DisableDefaultDeny)
}

// Quotas limit concurrent allocations; 0 means unlimited.
type Quotas struct {
	PerIdentity, PerAccount, Total int
}

func (q Quotas) limits() quota.Limits {
	return quota.Limits{PerIdentity: q.PerIdentity, PerAccount: q.PerAccount, Total: q.Total}
}

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

// admit is pion's QuotaHandler, asked before each allocation. The slot taken
// here is reserved for the client's address until the allocation exists or
// the request has failed (admission.go).
func (s *Server) admit(username, _ string, client net.Addr) bool {
	if s.draining.Load() {
		s.metrics.allocationFailures.WithLabelValues("draining").Inc()
		return false
	}
	e, err := s.parseUser(username)
	if err != nil {
		return false
	}
	ok, kind := s.quota.Acquire(e.quotaKey, e.user.AccountSID)
	if !ok {
		s.metrics.quotaRejections.WithLabelValues(kind).Inc()
		s.metrics.allocationFailures.WithLabelValues("quota").Inc()
		s.log.Info("relay: allocation refused by quota", "client", addrString(client), "user", username, "quota", kind)
		return false
	}
	s.reserve(client, &reservation{quotaKey: e.quotaKey, account: e.user.AccountSID, userID: username})
	return true
}

// allocationRefused notes why an admitted allocation could not get a relay
// socket; its slot is given back with the reservation (admission.go).
func (s *Server) allocationRefused(userID, reason string) {
	s.noteFailure(userID, reason)
	s.log.Warn("relay: allocation failed", "user", userID, "reason", reason)
}

// permit is pion's PermissionHandler for CreatePermission, ChannelBind and
// Connect. Our own relay address is always a permitted peer: two clients
// relaying through this server must reach each other's relay address, even
// when it is private or loopback (the host-port guard in relayConn still
// keeps them off non-relay ports).
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	rc := s.chans.relayOfClient(client)
	if rc != nil {
		// A dual allocation's IPv6 peer, by its stand-in (dual.go).
		ip = rc.fromPion(ip, 0)
	}
	if s.relays.isRelay(ip) {
		return true
	}
	if rc != nil && rc.perms.full(ip, s.maxPerms) {
		s.metrics.peerDenied.WithLabelValues("permission_limit").Inc()
		s.log.Debug("relay: permission refused: allocation at its limit", "client", addrString(client),
			"peer", ip.String(), "limit", s.maxPerms)
		return false
	}
	pol := s.policy.Load()
	if pol == nil {
		return true
	}
	allowed, reason := pol.Check(ip)
	if !allowed {
		s.metrics.peerDenied.WithLabelValues(reason.String()).Inc()
		s.log.Debug("relay: peer refused by policy", "client", addrString(client), "peer", ip.String(), "reason", reason.String())
	}
	return allowed
}

// Update applies what can change without a restart. The TURN secrets are
// not in it: they change with the keyring Config.Keyring holds.
type Update struct {
	PeerPolicy   PeerPolicy
	Quotas       Quotas
	BandwidthBPS int64
}

// Apply swaps in new peer policy, quotas and bandwidth limit. Live
// allocations keep their bandwidth limit; new ones get the new one.
func (s *Server) Apply(u Update) {
	s.policy.Store(u.PeerPolicy.build())
	s.quota.SetLimits(u.Quotas.limits())
	s.bandwidth.Store(u.BandwidthBPS)
	s.kernel.recheck() // the allow-list decides the host-port guard too
}
