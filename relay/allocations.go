package relay

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/credentials"
)

// The allocation registry is the operator's view of pion's live
// allocations: who holds each one, where it relays, until when, and its
// traffic. It is kept incrementally by the allocation events (events.go) and
// the request layer (request.go, which sees the lifetime each Allocate and
// Refresh is granted); permissions, channels and counters are read live from
// the relay socket (channeltable.go, relaystats.go) when an allocation is
// listed, never copied. Closing one closes turnkey's relay socket wrapper:
// pion's read on it fails and pion deletes the allocation, which runs the
// ordinary deletion path (quota slot, gauges, the client's next Refresh 437).

// allocationBook is the server's side of pion's allocations: the registry,
// the channel table the data path reads, dual allocations' IPv6 halves,
// and what every allocation is granted.
type allocationBook struct {
	registry *allocRegistry
	chans    channelTable
	// wants, dualGen and dualLive serve dual allocations (dual.go): the
	// Allocates asking for one, the IPv6 port range (nil without an IPv6
	// relay) and the number of live IPv6 halves.
	wants    dualWants
	dualGen  *turn.RelayAddressGeneratorPortRange
	dualLive atomic.Int32

	allocLifetime     time.Duration // the default granted (request.go)
	maxChannel        uint16        // the last channel number accepted (request.go)
	relaySocketBuffer int
	idle              chan struct{} // signalled when an allocation ends, for Drain
}

func (b *allocationBook) init(cfg Config) {
	b.registry = newAllocRegistry()
	b.allocLifetime = cfg.AllocationLifetime
	b.maxChannel = maxChannel
	if cfg.LegacyChannelNumbers {
		b.maxChannel = legacyMaxChannel
	}
	b.relaySocketBuffer = cfg.RelaySocketBuffer
	b.idle = make(chan struct{}, 1)
}

// Close reasons, the label of turnkey_allocations_closed_total.
const (
	CloseOperator = "operator" // the admin listener or `turnkey sessions close`
	CloseTenant   = "tenant"   // the account itself, through the API
	CloseRevoked  = "revoked"  // its credential or account was revoked
)

// closeWait bounds how long a close waits for pion to delete the
// allocation after its relay socket is closed (it takes one read wakeup).
const closeWait = 2 * time.Second

// Allocation is one live allocation as the admin listener and the API
// report it.
type Allocation struct {
	ID            string `json:"id"`
	AccountSID    string `json:"account_sid"`
	Identity      string `json:"identity"`
	Username      string `json:"username"`
	CredentialSID string `json:"credential_sid"`
	// Transport is the client's: udp, tcp or tls.
	Transport   string    `json:"transport"`
	Client      string    `json:"client"`
	Relay       string    `json:"relay"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Permissions []string  `json:"permissions"`
	Channels    []Channel `json:"channels"`

	BytesClientToPeer   uint64 `json:"bytes_client_to_peer"`
	BytesPeerToClient   uint64 `json:"bytes_peer_to_client"`
	PacketsClientToPeer uint64 `json:"packets_client_to_peer"`
	PacketsPeerToClient uint64 `json:"packets_peer_to_client"`
}

// Channel is a channel bound on an allocation.
type Channel struct {
	Number uint16 `json:"number"`
	Peer   string `json:"peer"`
}

// AllocationFilter selects allocations; every set field must match.
type AllocationFilter struct {
	// AccountSIDs: the allocation's account is one of these (nil: any).
	// A tenant's view passes the accounts its principal may see.
	AccountSIDs   []string
	Identity      string
	Username      string
	CredentialSID string
}

// Empty reports whether f matches every allocation.
func (f AllocationFilter) Empty() bool {
	return f.AccountSIDs == nil && f.Identity == "" && f.Username == "" && f.CredentialSID == ""
}

func (f AllocationFilter) matches(a *liveAlloc) bool {
	return (f.AccountSIDs == nil || slices.Contains(f.AccountSIDs, a.user.AccountSID)) &&
		(f.Identity == "" || f.Identity == a.user.Identity) &&
		(f.Username == "" || f.Username == a.username) &&
		(f.CredentialSID == "" || f.CredentialSID == a.user.CredID)
}

// liveAlloc is the registry's entry for one allocation: the relay's one
// mirror of it beside pion's own (the channel table, channeltable.go, is the
// data path's). Everything but expires, closing and removed is set before it
// is published.
type liveAlloc struct {
	id        string
	seq       uint64
	key       allocKey
	user      credentials.TURNUser
	username  string // pion's user ID: the username that allocated
	transport string
	family    string // of the relay: familyIPv4, familyIPv6 or familyDual
	client    string
	relay     string
	created   time.Time
	expires   atomic.Int64   // unix nanoseconds
	rc        *relayConn     // UDP relay socket, or nil
	rl        *relayListener // TCP relay listener (RFC 6062), or nil
	stream    *streamConn    // the TCP/TLS control connection, or nil
	// slot is the quota slot admit reserved for it (admission.go), given
	// back when pion deletes it.
	slot struct {
		quotaKey, account string
		reserved          bool
	}
	// gone is closed when pion has deleted it; made (under the registry's
	// lock) only for a close that waits, so idle allocations carry none.
	gone    chan struct{}
	removed bool // under the registry's lock
	closing atomic.Bool
}

// allocRegistry holds the live allocations by ID, by 5-tuple and in
// creation order (for paging), their number per account, plus what the
// request layer learns before pion creates an allocation.
type allocRegistry struct {
	mu    sync.Mutex
	byID  map[string]*liveAlloc
	byKey map[allocKey]*liveAlloc
	// order is by seq; entries deleted since the last compaction stay as
	// nil so a page is a binary search and a forward scan.
	order []*liveAlloc
	holes int
	seq   uint64
	// perAccount counts the live allocations of each account (uncapped:
	// an account leaves it with its last allocation), so a usage request
	// reads a number instead of scanning every allocation.
	perAccount map[string]int

	// grants is the lifetime of an Allocate handed to pion now, by client
	// transport address; settled (admission.go) when the request is done.
	grants  map[pendingKey]time.Duration
	grantsN atomic.Int32
	// listeners are TCP relay listeners opened for an Allocate and not yet
	// reported by pion, by relay address.
	listeners map[netip.AddrPort]*relayListener
}

func newAllocRegistry() *allocRegistry {
	return &allocRegistry{byID: map[string]*liveAlloc{}, byKey: map[allocKey]*liveAlloc{},
		perAccount: map[string]int{}, grants: map[pendingKey]time.Duration{},
		listeners: map[netip.AddrPort]*relayListener{}}
}

// newAllocationID is opaque and unguessable: knowing one allocation's ID
// says nothing about another's, so a tenant cannot probe IDs.
func newAllocationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return "AL" + hex.EncodeToString(b[:])
}

// grantedLifetime is the lifetime pion grants msg, an Allocate or Refresh
// as the client sent it: pion takes the LIFETIME it is handed when under an
// hour, else the default, and lifetimeFor raises a LIFETIME below the
// default to it (0 on a Refresh is kept: it deletes).
func (s *Server) grantedLifetime(msg *stun.Message) time.Duration {
	d := s.allocLifetime
	if v, err := msg.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
		if asked := time.Duration(binary.BigEndian.Uint32(v)) * time.Second; asked < time.Hour {
			d = asked
		}
	}
	if d < s.allocLifetime && (d != 0 || msg.Type.Method == stun.MethodAllocate) {
		d = s.allocLifetime // lifetimeFor's raise
	}
	return d
}

// noteLifetime records what an authenticated Allocate or Refresh that pion
// is about to handle will be granted.
func (s *Server) noteLifetime(msg *stun.Message, t tuple) {
	r := s.registry
	switch msg.Type.Method {
	case stun.MethodAllocate:
		d := s.grantedLifetime(msg)
		r.mu.Lock()
		r.grants[keyOf(t.client)] = d
		r.grantsN.Store(int32(len(r.grants))) //nolint:gosec // bounded by sockets
		r.mu.Unlock()
	case stun.MethodRefresh:
		d := s.grantedLifetime(msg)
		if d == 0 {
			return // pion deletes it; the deletion event removes it here
		}
		a := r.byTuple(allocKeyOf(t.client, t.local))
		if a == nil || !refreshFamilyOK(msg, a.relay, a.rc) {
			return
		}
		a.expires.Store(s.now().Add(d).UnixNano())
	}
}

// refreshFamilyOK mirrors pion's one refusal of an authenticated Refresh
// of the client's own allocation: REQUESTED-ADDRESS-FAMILY present and not
// the allocation's (443, or 400 when malformed); a dual allocation (rc
// with an IPv6 half, dual.go) has both families.
func refreshFamilyOK(msg *stun.Message, relay string, rc *relayConn) bool {
	v, err := msg.Get(stun.AttrRequestedAddressFamily)
	if err != nil {
		return true
	}
	ap, perr := netip.ParseAddrPort(relay)
	if len(v) != 4 || perr != nil {
		return false
	}
	dual := false
	if rc != nil {
		d := rc.dual.Load()
		dual = d != nil && d.conn != nil
	}
	return (v[0] == familyByteIPv4 && ap.Addr().Is4()) || (v[0] == familyByteIPv6 && (!ap.Addr().Is4() || dual))
}

// settleGrant forgets the lifetime noted for client's Allocate once the
// request is done (with or without an allocation).
func (r *allocRegistry) settleGrant(client net.Addr) {
	if r.grantsN.Load() == 0 {
		return
	}
	r.mu.Lock()
	delete(r.grants, keyOf(client))
	r.grantsN.Store(int32(len(r.grants))) //nolint:gosec // bounded by sockets
	r.mu.Unlock()
}

// trackListener remembers a TCP relay listener until pion reports its
// allocation; forgetListener when it closes.
func (r *allocRegistry) trackListener(ap netip.AddrPort, l *relayListener) {
	r.mu.Lock()
	r.listeners[ap] = l
	r.mu.Unlock()
}

func (r *allocRegistry) forgetListener(ap netip.AddrPort, l *relayListener) {
	r.mu.Lock()
	if r.listeners[ap] == l {
		delete(r.listeners, ap)
	}
	r.mu.Unlock()
}

// newLiveAlloc is the entry for the allocation pion has just created on
// src→dst, not yet published: it takes the client's quota reservation and
// counts the allocation on its stream.
func (s *Server) newLiveAlloc(src, dst net.Addr, userID string, relayAddr net.Addr) *liveAlloc {
	a := &liveAlloc{id: newAllocationID(), key: allocKeyOf(src, dst), username: userID,
		transport: s.transportOf(src, dst), family: familyIPv4, client: addrString(src),
		relay: addrString(relayAddr), created: s.now(), rc: s.chans.relay(relayAddr)}
	if ap, ok := addrPort(relayAddr); ok {
		a.family = familyName(ap.Addr())
	}
	if e, err := s.parseUser(userID); err == nil {
		a.user = e.user
	}
	if r := s.claim(src); r != nil {
		a.slot.quotaKey, a.slot.account, a.slot.reserved = r.quotaKey, r.account, true
	}
	if _, udp := dst.(*net.UDPAddr); !udp {
		if v, ok := s.streamConns.Load(addrString(src)); ok {
			a.stream = v.(*streamConn)
			a.stream.allocated.Add(1)
		}
	}
	return a
}

// allocationAdded publishes a (newLiveAlloc) with the lifetime its Allocate
// was granted and, for a TCP relay, its relay listener.
func (s *Server) allocationAdded(a *liveAlloc, src, relayAddr net.Addr) {
	r := s.registry
	ap, _ := addrPort(relayAddr)
	r.mu.Lock()
	d, ok := r.grants[keyOf(src)]
	if !ok {
		d = s.allocLifetime
	}
	delete(r.grants, keyOf(src))
	r.grantsN.Store(int32(len(r.grants))) //nolint:gosec // bounded by sockets
	if a.rc == nil {
		a.rl = r.listeners[ap]
		delete(r.listeners, ap)
	}
	a.expires.Store(a.created.Add(d).UnixNano())
	r.seq++
	a.seq = r.seq
	if old := r.byKey[a.key]; old != nil {
		// pion never reports a 5-tuple twice without deleting it first;
		// should it, the older entry must not linger.
		r.unlinkLocked(old)
		r.deletedLocked(old)
	}
	r.byID[a.id] = a
	r.byKey[a.key] = a
	r.order = append(r.order, a)
	r.perAccount[a.user.AccountSID]++
	r.mu.Unlock()
}

// byTuple is the live allocation on the client 5-tuple k, or nil.
func (r *allocRegistry) byTuple(k allocKey) *liveAlloc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey[k]
}

// accountAllocations is the number of account's live allocations.
func (r *allocRegistry) accountAllocations(account string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perAccount[account]
}

// unlink takes the allocation pion has deleted on k out of the registry
// (nil if it is not there): no lookup, listing or count finds it from now
// on. deleted must follow.
func (r *allocRegistry) unlink(k allocKey) *liveAlloc {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.byKey[k]
	if a != nil {
		r.unlinkLocked(a)
	}
	return a
}

// deleted releases the closes waiting for a to be gone.
func (r *allocRegistry) deleted(a *liveAlloc) {
	r.mu.Lock()
	r.deletedLocked(a)
	r.mu.Unlock()
}

func (r *allocRegistry) deletedLocked(a *liveAlloc) {
	a.removed = true
	if a.gone != nil {
		close(a.gone)
	}
}

func (r *allocRegistry) unlinkLocked(a *liveAlloc) {
	delete(r.byID, a.id)
	if r.byKey[a.key] == a {
		delete(r.byKey, a.key)
	}
	if n := r.perAccount[a.user.AccountSID] - 1; n > 0 {
		r.perAccount[a.user.AccountSID] = n
	} else {
		delete(r.perAccount, a.user.AccountSID)
	}
	if i, ok := r.indexLocked(a.seq); ok && r.order[i] == a {
		r.order[i] = nil
		r.holes++
	}
	if r.holes > 64 && r.holes > len(r.order)/2 {
		live := r.order[:0]
		for _, e := range r.order {
			if e != nil {
				live = append(live, e)
			}
		}
		clear(r.order[len(live):])
		r.order, r.holes = live, 0
	}
}

// indexLocked finds seq in order, whose live entries are sorted by seq.
// Holes (nil) keep their slot, so the search skips to a live neighbour.
func (r *allocRegistry) indexLocked(seq uint64) (int, bool) {
	i := r.firstAfterLocked(seq - 1)
	return i, i < len(r.order) && r.order[i] != nil && r.order[i].seq == seq
}

// firstAfterLocked is the index of the first live entry with seq > after
// (len(order) if none).
func (r *allocRegistry) firstAfterLocked(after uint64) int {
	lo, hi := 0, len(r.order)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		j := mid
		for j < hi && r.order[j] == nil {
			j++
		}
		if j == hi {
			hi = mid
			continue
		}
		if r.order[j].seq <= after {
			lo = j + 1
		} else {
			hi = mid
		}
	}
	for lo < len(r.order) && r.order[lo] == nil {
		lo++
	}
	return lo
}

// AllocationPage is one page of a listing.
type AllocationPage struct {
	Allocations []Allocation
	// Next is the cursor of the following page, "" at the end.
	Next string
	// Total is how many allocations match the filter now.
	Total int
}

// MaxAllocationPage is the largest page Allocations returns.
const MaxAllocationPage = 1000

// Allocations lists the live allocations matching f in creation order,
// limit at a time (at most MaxAllocationPage), starting after cursor ("" is
// the start; a cursor stays valid when its allocation has gone).
func (s *Server) Allocations(f AllocationFilter, cursor string, limit int) (AllocationPage, error) {
	var after uint64
	if cursor != "" {
		v, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return AllocationPage{}, errBadCursor
		}
		after = v
	}
	limit = min(max(limit, 1), MaxAllocationPage)
	r := s.registry
	var picked []*liveAlloc
	var page AllocationPage
	r.mu.Lock()
	start := r.firstAfterLocked(after)
	for i, a := range r.order {
		if a == nil || !f.matches(a) {
			continue
		}
		page.Total++
		switch {
		case i < start:
		case len(picked) < limit:
			picked = append(picked, a)
		case page.Next == "":
			page.Next = strconv.FormatUint(picked[len(picked)-1].seq, 10)
		}
	}
	r.mu.Unlock()
	page.Allocations = make([]Allocation, len(picked))
	for i, a := range picked {
		page.Allocations[i] = a.view()
	}
	return page, nil
}

// errBadCursor refuses a paging cursor Allocations did not hand out.
var errBadCursor = errors.New("relay: not a cursor of this listing")

// Allocation returns the live allocation id, if there is one.
func (s *Server) Allocation(id string) (Allocation, bool) {
	a := s.lookupAllocation(id)
	if a == nil {
		return Allocation{}, false
	}
	return a.view(), true
}

func (s *Server) lookupAllocation(id string) *liveAlloc {
	s.registry.mu.Lock()
	defer s.registry.mu.Unlock()
	return s.registry.byID[id]
}

// view reads an allocation's live state: its permissions and channels
// from the channel table, its traffic from its counters.
func (a *liveAlloc) view() Allocation {
	v := Allocation{ID: a.id, AccountSID: a.user.AccountSID, Identity: a.user.Identity, Username: a.username,
		CredentialSID: a.user.CredID, Transport: a.transport, Client: a.client, Relay: a.relay,
		CreatedAt: a.created.UTC(), ExpiresAt: time.Unix(0, a.expires.Load()).UTC(),
		Permissions: []string{}, Channels: []Channel{}}
	var c *allocCounters
	switch {
	case a.rc != nil:
		c = a.rc.st.counters
		ips, chans := a.rc.perms.snapshot()
		for _, ip := range ips {
			v.Permissions = append(v.Permissions, ip.String())
		}
		for _, ch := range chans {
			v.Channels = append(v.Channels, Channel{Number: ch.key.number, Peer: ch.peer.String()})
		}
	case a.rl != nil:
		c = a.rl.st.counters
	}
	if c != nil {
		// With what the kernel fast path relayed for it (kernelpath.go).
		var k *kernelOffload
		if a.rc != nil {
			k = a.rc.s.kernel
		}
		u := k.counted(c)
		v.BytesClientToPeer, v.BytesPeerToClient = u.BytesUp, u.BytesDown
		v.PacketsClientToPeer, v.PacketsPeerToClient = u.PacketsUp, u.PacketsDown
	}
	return v
}

// CloseAllocation closes the live allocation id now and waits (briefly)
// until pion has deleted it; false when there is no such allocation.
func (s *Server) CloseAllocation(id, reason string) bool {
	a := s.lookupAllocation(id)
	if a == nil {
		return false
	}
	s.closeAllocations([]*liveAlloc{a}, reason)
	return true
}

// CloseAllocations closes every live allocation matching f and returns how
// many it closed. An empty filter closes all of them: callers refuse that
// unless asked explicitly.
func (s *Server) CloseAllocations(f AllocationFilter, reason string) int {
	return s.closeAllocations(s.matching(func(a *liveAlloc) bool { return f.matches(a) }), reason)
}

// CloseRevoked closes the allocations made with credentials issued under
// id, a key SID or auth-token ID, or belonging to the account id (a
// suspended account's feed entry names the account).
func (s *Server) CloseRevoked(id string) int {
	if id == "" {
		return 0
	}
	return s.closeAllocations(s.matching(func(a *liveAlloc) bool {
		return a.user.CredID == id || a.user.AccountSID == id
	}), CloseRevoked)
}

func (s *Server) matching(match func(*liveAlloc) bool) []*liveAlloc {
	r := s.registry
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*liveAlloc
	for _, a := range r.order {
		if a != nil && match(a) {
			out = append(out, a)
		}
	}
	return out
}

// closeAllocations closes each relay socket (pion's read on it fails and
// pion deletes the allocation, which gives back its quota slot and drops
// the gauges in the deletion event) and waits for the deletions.
func (s *Server) closeAllocations(list []*liveAlloc, reason string) int {
	n := 0
	for _, a := range list {
		if !a.closing.CompareAndSwap(false, true) {
			continue // another close is on it
		}
		n++
		s.metrics.allocationsClosed.WithLabelValues(reason).Inc()
		s.log.Info("allocation closed", "id", a.id, "reason", reason, "account", a.user.AccountSID,
			"credential", a.user.CredID, "client", a.client, "transport", a.transport, "relay", a.relay)
		switch {
		case a.rc != nil:
			_ = a.rc.Close()
		case a.rl != nil:
			_ = a.rl.Close()
		}
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for _, a := range list {
		s.registry.mu.Lock()
		if a.removed {
			s.registry.mu.Unlock()
			continue
		}
		if a.gone == nil {
			a.gone = make(chan struct{})
		}
		gone := a.gone
		s.registry.mu.Unlock()
		select {
		case <-gone:
		case <-deadline.C:
			s.log.Warn("relay: closed allocations not yet deleted by pion", "within", closeWait.String())
			return n
		}
	}
	return n
}
