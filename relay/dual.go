package relay

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/relay/internal/bandwidth"
)

// Dual allocations (RFC 8656 §7.2: an Allocate with ADDITIONAL-ADDRESS-FAMILY
// IPv6 gets an IPv4 and an IPv6 relayed address). pion v5.1.3 keeps one
// relay socket per allocation and refuses peers of the other family (443)
// in CreatePermission, ChannelBind and Send, so turnkey builds the second
// family around it:
//
//   - pion allocates the IPv4 relay as for any Allocate. When it reports the
//     allocation, turnkey opens the allocation's IPv6 relay socket (a
//     dualHalf of the relayConn) and adds its XOR-RELAYED-ADDRESS to pion's
//     success answer, re-signed; when it cannot, ADDRESS-ERROR-CODE for
//     IPv6 instead (440 without an IPv6 relay address, 508 without a free
//     port), and the allocation is IPv4 only, as the RFC asks.
//   - pion still owns every permission and channel, IPv6 peers included:
//     the request layer names an IPv6 peer to pion by a stand-in IPv4
//     address from 240.0.0.0/4 (reserved: never a peer; a client naming one
//     on a dual allocation gets 403), one per IPv6 peer of the allocation.
//     pion's permission handler, its events and the relay socket's WriteTo
//     translate back, so the peer policy, the host-port guard and the
//     channel table see the real IPv6 peer.
//   - The IPv6 socket is read by turnkey's own goroutine, never by pion:
//     data on a channel goes to the client as ChannelData (the fast path),
//     the rest as Data indications turnkey writes. Send indications to an
//     IPv6 peer are relayed by turnkey too (pion would drop them: 443).
//
// A dual allocation is one allocation: one quota slot, one lifetime (a
// Refresh refreshes or deletes both families), one set of counters.

// Attribute types RFC 8656 registers (§18) that pion does not know.
const attrAddressErrorCode = stun.AttrType(0x8001)

// familyDual labels a dual allocation in the allocation metrics.
const familyDual = "dual"

// dualWant is an authenticated Allocate asking for a dual allocation, kept
// for the client until pion's answer goes out: the transaction it answers
// and the key to re-sign it with.
type dualWant struct {
	txID [stun.TransactionIDSize]byte
	key  []byte
}

// dualWants holds the Allocates being answered, by client transport
// address. An entry lives from the request to its answer; one whose
// request pion dropped goes at the next read on the same socket or
// connection (settle), so none outlives its request.
type dualWants struct {
	mu sync.Mutex
	m  map[pendingKey]dualWant
	n  atomic.Int32 // len(m), read without the lock on every answer
}

func (w *dualWants) want(client net.Addr, txID [stun.TransactionIDSize]byte, key []byte) {
	w.mu.Lock()
	if w.m == nil {
		w.m = map[pendingKey]dualWant{}
	}
	w.m[keyOf(client)] = dualWant{txID: txID, key: key}
	w.n.Store(int32(len(w.m))) //nolint:gosec // bounded by sockets
	w.mu.Unlock()
}

// has reports whether client's Allocate asked for a dual allocation.
func (w *dualWants) has(client net.Addr) bool {
	if w.n.Load() == 0 {
		return false
	}
	w.mu.Lock()
	_, ok := w.m[keyOf(client)]
	w.mu.Unlock()
	return ok
}

// take removes client's entry and returns it when it is for txID.
func (w *dualWants) take(client net.Addr, txID [stun.TransactionIDSize]byte) (dualWant, bool) {
	if w.n.Load() == 0 {
		return dualWant{}, false
	}
	k := keyOf(client)
	w.mu.Lock()
	d, ok := w.m[k]
	if ok {
		delete(w.m, k)
		w.n.Store(int32(len(w.m))) //nolint:gosec // bounded by sockets
	}
	w.mu.Unlock()
	return d, ok && d.txID == txID
}

// settle forgets client's entry; called before each read of a client
// socket, when pion is done with the last request.
func (w *dualWants) settle(client net.Addr) {
	if client != nil && w.n.Load() != 0 {
		w.take(client, [stun.TransactionIDSize]byte{})
	}
}

// dualHalf is the IPv6 half of a dual allocation's relayConn.
type dualHalf struct {
	// conn is the IPv6 relay socket, nil when it could not be had: err
	// then says why, for the ADDRESS-ERROR-CODE of the answer; sock is
	// the same for the fast path's datagram I/O (datagram_linux.go).
	conn   *net.UDPConn
	sock   *udpSock
	err    stun.ErrorCode
	local  netip.AddrPort // bound
	public netip.AddrPort // advertised
	alias  peerAliases
	once   sync.Once
}

// openDual gives rc, the IPv4 relay of an allocation just created, its
// IPv6 half. It cannot fail the allocation: without a socket the half
// records why.
func (s *Server) openDual(rc *relayConn, userID string) *dualHalf {
	d := &dualHalf{err: stun.CodeAddrFamilyNotSupported}
	d.alias.limit = s.aliasLimit()
	if s.dualGen != nil {
		d.err = stun.CodeInsufficientCapacity
		pc, addr, err := s.dualGen.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp6", UserID: userID, Realm: s.realm})
		udp, ok := pc.(*net.UDPConn)
		switch {
		case err != nil:
			s.log.Warn("relay: no IPv6 relay port for a dual allocation; answering it IPv4 only", "user", userID, "err", err)
		case !ok:
			pc.Close()
		default:
			if err := s.sockBufs.set(udp, s.relaySocketBuffer, "relay"); err != nil {
				s.log.Warn("relay: cannot size relay socket buffers", "err", err)
			}
			d.conn, d.sock, d.err = udp, newUDPSock(udp), 0
			d.local, _ = addrPort(udp.LocalAddr())
			d.public, _ = addrPort(addr)
			s.hostAddrs.udpLive.set(d.local.Port())
			s.metrics.portsInUse.Inc()
		}
	}
	rc.dual.Store(d)
	if d.conn != nil {
		s.dualLive.Add(1)
		go rc.readDual(d)
	}
	return d
}

// aliasLimit bounds the IPv6 peers one dual allocation may name at once:
// each permission and each channel holds one.
func (s *Server) aliasLimit() int {
	if s.maxPerms <= 0 {
		return 1 << 16
	}
	return s.maxPerms + int(s.maxChannel-minChannel) + 1
}

func (d *dualHalf) close(s *Server) {
	d.once.Do(func() {
		if d.conn == nil {
			return
		}
		_ = d.conn.Close()
		s.hostAddrs.udpLive.clear(d.local.Port())
		s.metrics.portsInUse.Dec()
		s.dualLive.Add(-1)
	})
}

// readDual relays what IPv6 peers send to the allocation's IPv6 socket,
// until it is closed: ChannelData on a bound channel, else a Data
// indication, each after the same checks as on the IPv4 socket.
func (c *relayConn) readDual(d *dualHalf) {
	buf := make([]byte, chanHeaderLen+relayReadSize+3)
	in := buf[chanHeaderLen : chanHeaderLen+relayReadSize]
	var msg stun.Message
	rd, snd := newDatagramReader(d.sock), newDatagramSender()
	for {
		n, as, err := rd.readFrom(in)
		if err != nil {
			return
		}
		ap := unmapped(as)
		if pub, natted := c.s.relays.toPublic(ap.Addr()); natted {
			ap = netip.AddrPortFrom(pub, ap.Port())
		}
		if ch := c.perms.channelOf(ap); ch != nil {
			c.toClientWith(ch, buf, n, &snd)
			continue
		}
		path := c.client.Load()
		if path == nil || !c.admitDown(ap, n) {
			continue
		}
		msg.Reset()
		msg.Type = stun.NewType(stun.MethodData, stun.ClassIndication)
		msg.WriteHeader()
		if msg.NewTransactionID() != nil {
			continue
		}
		peer := stun.XORMappedAddress{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
		if peer.AddToAs(&msg, stun.AttrXORPeerAddress) != nil {
			continue
		}
		msg.Add(stun.AttrData, in[:n])
		if path.udp != nil {
			_, _ = snd.writeTo(path.udp, msg.Raw, path.addr)
		} else {
			_, _ = path.stream.Conn.Write(msg.Raw)
		}
	}
}

// relayReadSize is the largest peer datagram relayed, as pion reads its
// relay sockets.
const relayReadSize = 1600

// writeDual sends client data for an IPv6 peer (named by its stand-in, or
// itself) on the allocation's IPv6 socket, with the checks and counts of
// WriteTo.
func (c *relayConn) writeDual(d *dualHalf, p []byte, ap netip.AddrPort) (int, error) {
	if isAlias(ap.Addr()) {
		real, ok := d.alias.real(ap.Addr())
		if !ok {
			return len(p), nil
		}
		ap = netip.AddrPortFrom(real, ap.Port())
	}
	if d.conn == nil || !ap.Addr().Is6() {
		return len(p), nil
	}
	if c.s.isHostPort(ap) {
		c.s.metrics.hostPortDropped.Inc()
		return len(p), nil
	}
	if local, ok := c.s.relays.toLocal(ap.Addr()); ok {
		ap = netip.AddrPortFrom(local, ap.Port())
	}
	if c.st.up != nil && !c.st.up.Allow(len(p), bandwidth.Now()) {
		c.st.counters.droppedUp.Add(1)
		return len(p), nil
	}
	n, err := d.conn.WriteToUDPAddrPort(p, ap) // pion's path: pion's goroutines, not a reader's
	if n > 0 {
		c.st.counters.bytesUp.Add(uint64(n))
		c.st.counters.packetsUp.Add(1)
	}
	return n, err
}

// fromPion is the real peer IP behind one pion reports for c (a stand-in
// on a dual allocation), adjusting the stand-in's use count by ref: +1 for
// a permission or channel pion created, -1 for one it deleted.
func (c *relayConn) fromPion(ip netip.Addr, ref int) netip.Addr {
	d := c.dual.Load()
	if d == nil || !isAlias(ip) {
		return ip
	}
	if real, ok := d.alias.use(ip, ref); ok {
		return real
	}
	return ip
}

// sendIndication relays a Send indication p for an IPv6 peer of client's
// dual allocation, and reports whether it did; anything else goes to pion.
func (s *Server) sendIndication(p []byte, client net.Addr) bool {
	if s.dualLive.Load() == 0 {
		return false
	}
	msg := &stun.Message{Raw: p}
	if msg.Decode() != nil {
		return false
	}
	var peer stun.XORMappedAddress
	if peer.GetFromAs(msg, stun.AttrXORPeerAddress) != nil || peer.IP.To4() != nil {
		return false
	}
	rc := s.chans.relayOfClient(client)
	if rc == nil {
		return false
	}
	d := rc.dual.Load()
	if d == nil {
		return false
	}
	data, err := msg.Get(stun.AttrData)
	ip, ok := netip.AddrFromSlice(peer.IP)
	if err != nil || !ok {
		return true // malformed: pion would drop it too
	}
	ap := netip.AddrPortFrom(ip, uint16(peer.Port)) //nolint:gosec // 16-bit field
	if !rc.perms.allows(ap) {
		return true // RFC 8656 §11.2: no permission, silently discarded
	}
	_, _ = rc.writeDual(d, data, ap)
	return true
}

// dualAnswer completes pion's answer to a dual Allocate from t's client:
// the IPv6 XOR-RELAYED-ADDRESS after pion's IPv4 one, or ADDRESS-ERROR-CODE
// for IPv6, re-signed with the key the request was verified with. Anything
// else is returned as it is.
func (s *Server) dualAnswer(p []byte, t tuple) []byte {
	if len(p) < stunHeaderLen || binary.BigEndian.Uint16(p[0:2]) != allocateSuccess {
		return p
	}
	var txID [stun.TransactionIDSize]byte
	copy(txID[:], p[8:stunHeaderLen])
	w, ok := s.wants.take(t.client, txID)
	if !ok {
		return p
	}
	msg := &stun.Message{Raw: append([]byte(nil), p...)}
	if msg.Decode() != nil {
		return p
	}
	var d *dualHalf
	if rc := s.chans.relayOfClient(t.client); rc != nil {
		d = rc.dual.Load()
	}
	out, err := withSecondFamily(msg, d, w.key)
	if err != nil {
		s.log.Debug("relay: cannot complete a dual allocation answer", "err", err)
		return p
	}
	return out
}

// allocateSuccess is the Allocate success response type.
const allocateSuccess = 0x0103

// withSecondFamily re-encodes pion's Allocate success msg with the IPv6
// half's XOR-RELAYED-ADDRESS (or its ADDRESS-ERROR-CODE) right after the
// first XOR-RELAYED-ADDRESS, signed with key.
func withSecondFamily(msg *stun.Message, d *dualHalf, key []byte) ([]byte, error) {
	out := &stun.Message{TransactionID: msg.TransactionID, Type: msg.Type}
	out.WriteHeader()
	fingerprint := false
	for _, a := range msg.Attributes {
		switch a.Type {
		case stun.AttrFingerprint:
			fingerprint = true
			continue
		case stun.AttrMessageIntegrity:
			if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
				return nil, fmt.Errorf("relay: re-sign: %w", err)
			}
			continue
		}
		out.Add(a.Type, a.Value)
		if a.Type != stun.AttrXORRelayedAddress {
			continue
		}
		if d != nil && d.conn != nil {
			relayed := stun.XORMappedAddress{IP: d.public.Addr().AsSlice(), Port: int(d.public.Port())}
			if err := relayed.AddToAs(out, stun.AttrXORRelayedAddress); err != nil {
				return nil, fmt.Errorf("relay: IPv6 relayed address: %w", err)
			}
		} else {
			code := stun.CodeAddrFamilyNotSupported
			if d != nil {
				code = d.err
			}
			out.Add(attrAddressErrorCode, addressErrorCode(familyByteIPv6, code))
		}
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil, fmt.Errorf("relay: fingerprint: %w", err)
		}
	}
	return out.Raw, nil
}

// addressErrorCode is an ADDRESS-ERROR-CODE value (RFC 8656 §18.13): the
// family, reserved bits, the code as class and number, a reason phrase.
func addressErrorCode(family byte, code stun.ErrorCode) []byte {
	reason := "Address Family not Supported"
	if code == stun.CodeInsufficientCapacity {
		reason = "Insufficient Capacity"
	}
	return append([]byte{family, 0, byte(code / 100), byte(code % 100)}, reason...)
}

// relayAddrFor is the relay address (as advertised, like relayAddr) c
// exchanges data with peer on: a dual allocation's IPv6 peers use its IPv6
// socket.
func (c *relayConn) relayAddrFor(peer netip.AddrPort) netip.AddrPort {
	if d := c.dual.Load(); d != nil && d.conn != nil && peer.Addr().Is6() {
		return d.public
	}
	return c.relayAddr
}
