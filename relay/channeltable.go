package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// The channel table is turnkey's one mirror of pion's relay state: which
// UDP relay socket serves which client, the peers each relay socket may
// exchange data with (permissions, by IP) and the channels bound on it.
// pion stays the control plane and owns the truth; its allocation,
// permission and channel events (events.go) are the table's only writers,
// delivered synchronously as pion changes its own state, so a permission
// or channel leaves the table in the same call that removes it from pion
// (its lifetime timer, or the allocation's end).
//
// The data plane (fastpath.go) reads it per packet without a lock shared
// across flows:
//
//	client → peer: lookup(chanKey{client 5-tuple, number}) → *channel
//	peer → client: relay.perms.channelOf(peer)              → *channel
//
// A *channel is immutable but for its permitted flag, so a reader holding
// one needs nothing else. Every change is also reported to watch, the hook
// a kernel fast path installs and removes its own entries from.

// chanShards spreads the client-side index so a writer copies a small map
// and readers never share a lock.
const chanShards = 256

// chanKey is a client's 5-tuple and a channel number. Addresses are
// unmapped (an IPv4 client on a dual-stack listener is its IPv4 address).
type chanKey struct {
	client, server netip.AddrPort
	tcp            bool
	number         uint16
}

func (k *chanKey) shard() uint32 {
	a := k.client.Addr().As16()
	h := binary.BigEndian.Uint32(a[12:]) ^ uint32(k.client.Port())<<16 ^ uint32(k.number)
	h *= 0x9e3779b1
	return h >> 24 // chanShards = 1<<8
}

// channel is one bound channel of a UDP relay socket.
type channel struct {
	key   chanKey
	relay *relayConn
	// peer is the peer as the relay socket sees it; dst is where its
	// datagrams are sent (our own advertised address rewritten to the
	// local one behind 1:1 NAT), dstAddr the same for a relay socket that
	// is not a *net.UDPConn.
	peer, dst netip.AddrPort
	dstAddr   *net.UDPAddr
	// permitted: the peer's IP holds a live permission. A channel outlives
	// its permission in pion (10 min against 5 without a refresh); RFC 8656
	// relays nothing without one, in either direction, and neither does
	// the fast path.
	permitted atomic.Bool
}

// ChannelChange describes one change of the table, for watchers.
type ChannelChange struct {
	Bound bool // false: the channel is gone
	// Client and Server are the client's 5-tuple (TCP: a stream client,
	// whose packets a kernel path cannot rewrite).
	Client, Server netip.AddrPort
	TCP            bool
	Number         uint16
	// Relay is the relay socket's address, Peer the peer's; Permitted says
	// whether data may flow now (it changes with the peer's permission).
	Relay, Peer netip.AddrPort
	Permitted   bool
}

func (ch *channel) change(bound bool) ChannelChange {
	return ChannelChange{Bound: bound, Client: ch.key.client, Server: ch.key.server, TCP: ch.key.tcp,
		Number: ch.key.number, Relay: ch.relay.relayAddrFor(ch.peer), Peer: ch.peer, Permitted: ch.permitted.Load()}
}

// clientPath is how turnkey reaches an allocation's client: a UDP
// listening socket and the client's address, or its stream connection.
type clientPath struct {
	udp    *udpSock
	addr   netip.AddrPort
	stream *streamConn
}

type chanShard struct {
	mu sync.Mutex // writers
	m  atomic.Pointer[map[chanKey]*channel]
}

type channelTable struct {
	shards [chanShards]chanShard

	mu sync.Mutex
	// relays finds a UDP relay socket by the relay address pion reports in
	// its events; byClient by the client's transport address, which is all
	// pion's permission handler is told.
	relays   map[netip.AddrPort]*relayConn
	byClient map[pendingKey]*relayConn

	// watch, if set before the server starts, is told every change, in
	// order per channel.
	watch func(ChannelChange)
}

// lookup finds the channel a client's ChannelData is for, or nil.
func (t *channelTable) lookup(k chanKey) *channel {
	m := t.shards[k.shard()].m.Load()
	if m == nil {
		return nil
	}
	return (*m)[k]
}

// update copies one shard's map with f applied.
func (t *channelTable) update(k chanKey, f func(m map[chanKey]*channel)) {
	sh := &t.shards[k.shard()]
	sh.mu.Lock()
	old := sh.m.Load()
	var m map[chanKey]*channel
	if old == nil {
		m = map[chanKey]*channel{}
	} else {
		m = make(map[chanKey]*channel, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	}
	f(m)
	sh.m.Store(&m)
	sh.mu.Unlock()
}

// bind installs a channel pion has bound on relay socket rc.
func (t *channelTable) bind(s *Server, k chanKey, rc *relayConn, peer netip.AddrPort) {
	ch := &channel{key: k, relay: rc, peer: peer, dst: peer}
	if local, natted := s.relays.toLocal(peer.Addr()); natted {
		ch.dst = netip.AddrPortFrom(local, peer.Port())
	}
	ch.dstAddr = net.UDPAddrFromAddrPort(ch.dst)
	rc.perms.addChan(ch)
	t.update(k, func(m map[chanKey]*channel) { m[k] = ch })
	if t.watch != nil {
		t.watch(ch.change(true))
	}
}

// unbind removes a channel pion has deleted.
func (t *channelTable) unbind(rc *relayConn, peer netip.AddrPort) {
	ch := rc.perms.removeChan(peer)
	if ch == nil {
		return
	}
	t.remove(ch)
}

func (t *channelTable) remove(ch *channel) {
	t.update(ch.key, func(m map[chanKey]*channel) {
		if m[ch.key] == ch {
			delete(m, ch.key)
		}
	})
	if t.watch != nil {
		t.watch(ch.change(false))
	}
}

// permit records a permission for ip on rc being created (on) or deleted.
func (t *channelTable) permit(rc *relayConn, ip netip.Addr, on bool) {
	changed := rc.perms.setIP(ip, on)
	if t.watch != nil {
		for _, ch := range changed {
			t.watch(ch.change(true))
		}
	}
}

// addRelay registers a relay socket under the relay address pion was given
// for it; removeRelay forgets it and every channel still bound on it.
func (t *channelTable) addRelay(ap netip.AddrPort, c *relayConn) {
	c.relayAddr = ap
	t.mu.Lock()
	if t.relays == nil {
		t.relays = map[netip.AddrPort]*relayConn{}
	}
	t.relays[ap] = c
	t.mu.Unlock()
}

func (t *channelTable) removeRelay(c *relayConn) (removed bool) {
	t.mu.Lock()
	if t.relays[c.relayAddr] == c {
		delete(t.relays, c.relayAddr)
		removed = true
	}
	t.mu.Unlock()
	for _, ch := range c.perms.clear() {
		t.remove(ch)
	}
	return removed
}

// relay returns the relay socket behind a relay address, or nil (a TCP
// allocation, or a socket already closed).
func (t *channelTable) relay(relayAddr net.Addr) *relayConn {
	ap, ok := addrPort(relayAddr)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.relays[ap]
}

// relayAt is relay for a relay address as a ChannelChange carries it.
func (t *channelTable) relayAt(ap netip.AddrPort) *relayConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.relays[ap]
}

// setClient records the client of a UDP relay socket and how to reach it.
func (t *channelTable) setClient(client net.Addr, rc *relayConn, path *clientPath) {
	if path != nil {
		rc.client.Store(path)
	}
	t.mu.Lock()
	if t.byClient == nil {
		t.byClient = map[pendingKey]*relayConn{}
	}
	t.byClient[keyOf(client)] = rc
	t.mu.Unlock()
}

func (t *channelTable) dropClient(client net.Addr) {
	t.mu.Lock()
	delete(t.byClient, keyOf(client))
	t.mu.Unlock()
}

// relayOfClient is the UDP relay socket of client's allocation, or nil.
func (t *channelTable) relayOfClient(client net.Addr) *relayConn {
	k := keyOf(client)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byClient[k]
}

// permSet is one relay socket's part of the table: the peer IPs with a
// permission and the channels by peer address. Adding or removing one is
// O(1) whatever the size (ipset.go; a map past two IPs) (a copy-on-write set cost 9
// CPU-seconds for 10,000 permissions); the per-packet check takes the
// socket's own read lock, uncontended: its reader is its only frequent
// user.
type permSet struct {
	mu    sync.RWMutex
	ips   ipSet
	chans map[netip.AddrPort]*channel
}

// allows reports whether a datagram from src may go to the client as a
// Data indication: its IP holds a permission.
func (p *permSet) allows(src netip.AddrPort) bool {
	p.mu.RLock()
	ok := p.ips.has(src.Addr())
	p.mu.RUnlock()
	return ok
}

// channelOf is the channel bound to peer, or nil.
func (p *permSet) channelOf(peer netip.AddrPort) *channel {
	p.mu.RLock()
	ch := p.chans[peer]
	p.mu.RUnlock()
	return ch
}

// setIP adds or removes ip's permission and returns the channels whose
// permitted flag changed.
func (p *permSet) setIP(ip netip.Addr, on bool) []*channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.ips.add(ip)
	} else {
		p.ips.remove(ip)
	}
	var changed []*channel
	for peer, ch := range p.chans {
		if peer.Addr() == ip && ch.permitted.Swap(on) != on {
			changed = append(changed, ch)
		}
	}
	return changed
}

func (p *permSet) addChan(ch *channel) {
	p.mu.Lock()
	if p.chans == nil {
		p.chans = map[netip.AddrPort]*channel{}
	}
	ch.permitted.Store(p.ips.has(ch.peer.Addr()))
	p.chans[ch.peer] = ch
	p.mu.Unlock()
}

func (p *permSet) removeChan(peer netip.AddrPort) *channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.chans[peer]
	delete(p.chans, peer)
	return ch
}

// clear empties the set and returns the channels it held.
func (p *permSet) clear() []*channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	chans := make([]*channel, 0, len(p.chans))
	for _, ch := range p.chans {
		chans = append(chans, ch)
	}
	p.ips, p.chans = ipSet{}, nil
	return chans
}

// full reports whether one more permission, for an IP not yet permitted,
// would exceed limit (0: no limit).
func (p *permSet) full(ip netip.Addr, limit int) bool {
	if limit <= 0 {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return !p.ips.has(ip) && p.ips.len() >= limit
}

// has reports whether ip holds a permission.
func (p *permSet) has(ip netip.Addr) bool {
	p.mu.RLock()
	ok := p.ips.has(ip)
	p.mu.RUnlock()
	return ok
}

// count is the number of permitted IPs.
func (p *permSet) count() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ips.len()
}

// snapshot lists the permitted IPs and the bound channels, each sorted, for
// the allocation registry's view.
func (p *permSet) snapshot() ([]netip.Addr, []*channel) {
	p.mu.RLock()
	ips := p.ips.all()
	chans := make([]*channel, 0, len(p.chans))
	for _, ch := range p.chans {
		chans = append(chans, ch)
	}
	p.mu.RUnlock()
	slices.SortFunc(ips, netip.Addr.Compare)
	slices.SortFunc(chans, func(a, b *channel) int { return int(a.key.number) - int(b.key.number) })
	return ips, chans
}
