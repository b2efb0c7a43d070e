package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/relay/internal/bandwidth"
)

// errHostPort refuses a TCP Connect to one of this host's own non-relay ports.
var errHostPort = errors.New("relay: peer is a non-relay port of this host")

// relayGenerator wraps pion's port-range generators, one per address family
// (relayFamilies.generators), so every relay socket of an allocation carries
// its counters, bandwidth buckets and the host-port guard.
type relayGenerator struct {
	s      *Server
	v4, v6 *turn.RelayAddressGeneratorPortRange // nil: family not available
	// listener is the UDP listening socket whose allocations this
	// generator serves (nil for a stream listener): the fast path answers
	// UDP clients on it.
	listener *udpSock
}

// errNoFamily: the allocation asks for an address family this relay has no
// address of (the request layer answers 440 before pion gets here).
var errNoFamily = errors.New("relay: no relay address of the requested family")

func (g *relayGenerator) Validate() error {
	for _, in := range []*turn.RelayAddressGeneratorPortRange{g.v4, g.v6} {
		if in != nil {
			if err := in.Validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// inner is the generator for pion's network name ("udp4", "tcp6", ...).
func (g *relayGenerator) inner(network string) (*turn.RelayAddressGeneratorPortRange, error) {
	var in *turn.RelayAddressGeneratorPortRange
	switch network {
	case "udp4", "tcp4":
		in = g.v4
	case "udp6", "tcp6":
		in = g.v6
	}
	if in == nil {
		return nil, fmt.Errorf("%w (%s)", errNoFamily, network)
	}
	return in, nil
}

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	var (
		pc   net.PacketConn
		addr net.Addr
	)
	if conf.UserID == "" {
		// pion's EVEN-PORT probe: opened and closed at once, never relayed on.
		return g.evenPortProbe(conf)
	}
	in, err := g.inner(conf.Network)
	if err == nil {
		pc, addr, err = in.AllocatePacketConn(conf)
	}
	if err != nil {
		g.s.allocationRefused(conf.UserID, g.s.allocationFailure(conf.Network))
		return nil, nil, fmt.Errorf("relay: allocate relay port: %w", err)
	}
	if err := g.s.sockBufs.set(pc, g.s.relaySocketBuffer, "relay"); err != nil {
		g.s.log.Warn("relay: cannot size relay socket buffers", "err", err)
	}
	rc := g.s.newRelayConn(pc, conf.UserID)
	rc.listener = g.listener
	if ap, ok := addrPort(addr); ok {
		g.s.chans.addRelay(ap, rc)
		g.s.hostAddrs.udpLive.set(ap.Port())
	}
	return rc, addr, nil
}

// evenPortProbe answers pion's search for an EVEN-PORT: pion opens and
// closes a socket on a random IPv4 relay port, then allocates on that port
// in whatever family the client asked for. A port free for IPv4 may be
// taken for IPv6 (each family has its own relay sockets), and an IPv6
// EVEN-PORT allocation on it would fail with 508 though most ports are
// free; so the probe only reports a port free in every family the relay
// has.
func (g *relayGenerator) evenPortProbe(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	in, err := g.inner(conf.Network)
	if err != nil && g.v6 != nil {
		in, err = g.v6, nil // an IPv6-only relay: probe its own ports
	}
	if err != nil {
		return nil, nil, err
	}
	const tries = 16
	for range tries {
		c := conf
		c.Network = "udp4"
		if in == g.v6 {
			c.Network = "udp6"
		}
		pc, addr, err := in.AllocatePacketConn(c)
		if err != nil || g.v6 == nil || in == g.v6 {
			return pc, addr, err
		}
		ap, ok := addrPort(addr)
		if !ok {
			return pc, addr, nil
		}
		other, err := net.ListenPacket("udp6", net.JoinHostPort(g.v6.Address, strconv.Itoa(int(ap.Port()))))
		if err == nil {
			other.Close()
			return pc, addr, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("relay: no relay port free in both families in %d tries", tries)
}

func (g *relayGenerator) AllocateListener(conf turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	var (
		ln   net.Listener
		addr net.Addr
	)
	in, err := g.inner(conf.Network)
	if err == nil {
		ln, addr, err = in.AllocateListener(conf)
	}
	if err != nil {
		if conf.UserID != "" {
			g.s.allocationRefused(conf.UserID, g.s.allocationFailure(conf.Network))
		}
		return nil, nil, fmt.Errorf("relay: allocate relay port: %w", err)
	}
	st := g.s.openAlloc(conf.UserID)
	rl := &relayListener{Listener: ln, st: st, s: g.s}
	if ap, ok := addrPort(addr); ok {
		rl.port, rl.addr = ap.Port(), ap
		g.s.hostAddrs.tcpLive.set(rl.port)
		if conf.UserID != "" {
			g.s.registry.trackListener(ap, rl)
		}
	}
	return rl, addr, nil
}

func (g *relayGenerator) AllocateConn(conf turn.AllocateConnConfig) (net.Conn, error) {
	if ap, ok := addrPort(conf.RemoteAddr); ok && g.s.hostAddrs.blocked(ap, true, g.s.policy.Load().AllowListed) {
		g.s.metrics.hostPortDropped.Inc()
		return nil, errHostPort
	}
	in, err := g.inner(conf.Network)
	if err != nil {
		return nil, err
	}
	c, err := in.AllocateConn(conf)
	if err != nil {
		return nil, err
	}
	// Outgoing TCP peer connections share the allocation's accounting
	// through the user; a fresh counter set keeps them independent of the
	// listener's lifetime.
	st := g.s.openAlloc(conf.UserID)
	return &relayStreamConn{Conn: c, st: st, s: g.s}, nil
}

// allocationFailure names why a relay socket could not be opened: the
// client asked for an address family the relay address does not have
// (REQUESTED-ADDRESS-FAMILY IPv6 on an IPv4 relay), or no port was free.
func (s *Server) allocationFailure(network string) string {
	if s.relays.forNetwork(network) == nil {
		return "address_family"
	}
	return "ports_exhausted"
}

// allocState is what one allocation's relay sockets share.
type allocState struct {
	counters *allocCounters
	up, down *bandwidth.Bucket
}

func (s *Server) openAlloc(userID string) *allocState {
	account := ""
	if e, err := s.parseUser(userID); err == nil {
		account = e.user.AccountSID
	}
	st := &allocState{counters: s.stats.open(account)}
	if bps := s.bandwidth.Load(); bps > 0 {
		// A burst of half a second absorbs a video keyframe without letting
		// a flood through.
		st.up = bandwidth.NewBucket(bps, max(bps/2, 1500))
		st.down = bandwidth.NewBucket(bps, max(bps/2, 1500))
	}
	return st
}

// relayConn is an allocation's UDP relay socket.
type relayConn struct {
	net.PacketConn
	s  *Server
	st *allocState
	// perms is this socket's part of the channel table: pion's permissions
	// and channels (channeltable.go); relayAddr is the key it is tracked
	// under.
	perms     permSet
	relayAddr netip.AddrPort
	// listener is the UDP listening socket of the allocation's client, if
	// it is a UDP client; client is how the fast path reaches the client,
	// set when pion reports the allocation.
	listener *udpSock
	client   atomic.Pointer[clientPath]
	// udp is the socket itself when it is a *net.UDPConn (always, with
	// pion's generator): reads and writes then use the netip.AddrPort
	// calls, which neither allocate a *net.UDPAddr per datagram nor
	// convert one back into a sockaddr.
	udp *net.UDPConn
	// rd and snd do the fast path's datagram I/O (datagram_linux.go): rd
	// reads this socket, snd writes ChannelData to the client's listener
	// (made at the first, so an idle allocation has none). Both belong to
	// the socket's one reader.
	rd  *datagramReader
	snd *datagramSender
	// lastPeer is the address ReadFrom returned last; a datagram from the
	// same peer (the common case: one peer per allocation, or a few)
	// returns the same *net.UDPAddr instead of a new one. pion only reads
	// it (permission and channel lookups, the XOR-PEER-ADDRESS it copies).
	lastPeer atomic.Pointer[cachedPeer]
	// dual is the IPv6 half of a dual allocation (dual.go), set when pion
	// reports the allocation; nil for any other.
	dual atomic.Pointer[dualHalf]
}

// cachedPeer is an immutable pair of a peer address and its net.Addr form.
type cachedPeer struct {
	ap   netip.AddrPort
	addr *net.UDPAddr
}

func (s *Server) newRelayConn(pc net.PacketConn, userID string) *relayConn {
	s.metrics.portsInUse.Inc()
	c := &relayConn{PacketConn: pc, s: s, st: s.openAlloc(userID)}
	c.udp, _ = pc.(*net.UDPConn)
	if c.udp != nil {
		c.rd = newDatagramReader(newUDPSock(c.udp))
	}
	return c
}

// udpAddrOf returns ap as a *net.UDPAddr, reusing the last one returned for
// the same address.
func (c *relayConn) udpAddrOf(ap netip.AddrPort) *net.UDPAddr {
	if last := c.lastPeer.Load(); last != nil && last.ap == ap {
		return last.addr
	}
	ua := net.UDPAddrFromAddrPort(ap)
	c.lastPeer.Store(&cachedPeer{ap: ap, addr: ua})
	return ua
}

// WriteTo sends client data to a peer. pion has already checked the
// permission; here we refuse this host's non-relay ports (permissions are
// per IP, so a permission for our own relay address would otherwise reach
// the API or admin ports), enforce bandwidth and count.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var dst netip.AddrPort // valid: send with WriteToUDPAddrPort
	if ua, ok := addr.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port)) //nolint:gosec // ports fit in 16 bits
		if d := c.dual.Load(); d != nil && (ap.Addr().Is6() || isAlias(ap.Addr())) {
			return c.writeDual(d, p, ap)
		}
		if c.s.isHostPort(ap) {
			c.s.metrics.hostPortDropped.Inc()
			return len(p), nil
		}
		// Relay-to-relay through our advertised address: deliver on the
		// local address rather than rely on hairpin NAT.
		local, rewritten := c.s.relays.toLocal(ap.Addr())
		ap = netip.AddrPortFrom(local, ap.Port())
		// pion refuses peers of the other family (443), so ap has the
		// socket's family: the plain sockaddr path, no conversion.
		switch {
		case c.udp != nil:
			dst = ap
		case rewritten:
			addr = net.UDPAddrFromAddrPort(ap)
		}
	}
	if c.st.up != nil && !c.st.up.Allow(len(p), bandwidth.Now()) {
		c.st.counters.droppedUp.Add(1)
		return len(p), nil
	}
	var n int
	var err error
	if dst.IsValid() {
		n, err = c.udp.WriteToUDPAddrPort(p, dst)
	} else {
		n, err = c.PacketConn.WriteTo(p, addr)
	}
	if n > 0 {
		c.st.counters.bytesUp.Add(uint64(n))
		c.st.counters.packetsUp.Add(1)
	}
	return n, err
}

// ReadFrom receives peer data for the client. A datagram on a bound
// channel is relayed to the client here as ChannelData (fastpath.go) and
// the next one read; what is returned to pion is a datagram for a Data
// indication. It drops datagrams from peers without a permission (pion
// would drop them after us; counting them as relayed would overstate the
// traffic, and they must not use up the bandwidth budget) and what exceeds
// the bandwidth limit.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.rd == nil || len(p) <= chanHeaderLen {
		return c.readFromConn(p)
	}
	// The datagram is read into p after room for a ChannelData header, so
	// the fast path frames it in place: pion reads every datagram of the
	// allocation into this one buffer and is done with it before the next
	// read, and no allocation keeps a buffer of its own (idle allocations
	// are most of a relay's memory). A datagram filling in may be
	// truncated, as it would be in pion's buffer 4 bytes later.
	in := p[chanHeaderLen:]
	for {
		n, as, err := c.rd.readFrom(in)
		if err != nil {
			return 0, nil, err
		}
		ap := unmapped(as) // as: as the socket reported it
		if pub, natted := c.s.relays.toPublic(ap.Addr()); natted {
			// Relay to relay behind 1:1 NAT: the packet left another
			// allocation's socket from our private address, but the client
			// knows (and permitted) that allocation by its advertised one.
			ap = netip.AddrPortFrom(pub, ap.Port())
			as = ap
		}
		if ch := c.perms.channelOf(ap); ch != nil && c.toClient(ch, p, n) {
			continue
		}
		if !c.admitDown(ap, n) {
			continue
		}
		copy(p, in[:n])
		// After the checks: a flood from unpermitted sources allocates
		// nothing.
		return n, c.udpAddrOf(as), nil
	}
}

// readFromConn is ReadFrom for a relay socket that is not a *net.UDPConn:
// pion's path only.
func (c *relayConn) readFromConn(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		ap, ok := addrPort(addr)
		if pub, natted := c.s.relays.toPublic(ap.Addr()); ok && natted {
			ap = netip.AddrPortFrom(pub, ap.Port())
			addr = net.UDPAddrFromAddrPort(ap)
		}
		if !ok {
			c.st.counters.unpermitted.Add(1)
			continue
		}
		if c.admitDown(ap, n) {
			return n, addr, nil
		}
	}
}

// admitDown applies the permission check, the bandwidth limit and the
// counters to n bytes from peer src going to the client on pion's path.
func (c *relayConn) admitDown(src netip.AddrPort, n int) bool {
	if !c.perms.allows(src) {
		c.st.counters.unpermitted.Add(1)
		return false
	}
	if c.st.down != nil && !c.st.down.Allow(n, bandwidth.Now()) {
		c.st.counters.droppedDown.Add(1)
		return false
	}
	c.st.counters.bytesDown.Add(uint64(n)) //nolint:gosec // n >= 0
	c.st.counters.packetsDown.Add(1)
	return true
}

func (c *relayConn) Close() error {
	err := c.PacketConn.Close()
	if d := c.dual.Load(); d != nil {
		d.close(c.s)
	}
	if c.s.chans.removeRelay(c) {
		c.s.hostAddrs.udpLive.clear(c.relayAddr.Port())
		// A channel to this socket from another allocation is now a
		// channel to a closed port of this host.
		c.s.kernel.recheck()
	}
	if c.s.closeAlloc(c.st) {
		c.s.metrics.portsInUse.Dec()
	}
	return err
}

// closeAlloc folds the counters into the closed totals once; it reports
// whether this call did it.
func (s *Server) closeAlloc(st *allocState) bool {
	return s.stats.close(st.counters)
}

// relayListener is a TCP allocation's relay listener (RFC 6062).
type relayListener struct {
	net.Listener
	s    *Server
	st   *allocState
	port uint16 // marked live in the host-port guard while open
	addr netip.AddrPort
}

func (l *relayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &relayStreamConn{Conn: c, st: l.st, s: l.s, shared: true}, nil
}

func (l *relayListener) Close() error {
	err := l.Listener.Close()
	if l.port != 0 {
		l.s.hostAddrs.tcpLive.clear(l.port)
		l.s.registry.forgetListener(l.addr, l)
	}
	l.s.closeAlloc(l.st)
	return err
}

// relayStreamConn is a TCP peer connection of a TCP allocation.
type relayStreamConn struct {
	net.Conn
	s      *Server
	st     *allocState
	shared bool // counters belong to the listener, which folds them
}

func (c *relayStreamConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.st.counters.bytesUp.Add(uint64(n))
		c.st.counters.packetsUp.Add(1)
	}
	return n, err
}

func (c *relayStreamConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.st.counters.bytesDown.Add(uint64(n))
		c.st.counters.packetsDown.Add(1)
	}
	return n, err
}

func (c *relayStreamConn) Close() error {
	err := c.Conn.Close()
	if !c.shared {
		c.s.closeAlloc(c.st)
	}
	return err
}

// isHostPort applies the host-port guard with the current allow-list.
func (s *Server) isHostPort(ap netip.AddrPort) bool {
	return s.hostAddrs.blocked(ap, false, s.policy.Load().AllowListed)
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), ok //nolint:gosec
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), ok //nolint:gosec
	}
	return netip.AddrPort{}, false
}
