package relay

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/turnkey-dev/turnkey/relay/internal/bandwidth"
)

// The fast path relays ChannelData on channels in the channel table
// (channeltable.go) without handing it to pion: a client's ChannelData,
// read by the UDP listener or cut from a TCP/TLS stream (framing.go), goes
// straight to the relay socket; a peer's datagram on a bound channel is
// framed as ChannelData in the relay socket's own buffer and written to
// the client. Nothing is allocated per packet and nothing re-parsed. The
// checks are pion's and turnkey's, in the same order as on pion's path: a
// live permission, the host-port guard, the bandwidth limit; the counters
// are the allocation's. Everything else (STUN, Send and Data indications,
// ChannelData for a channel the table does not know, a truncated or
// malformed message) takes pion's path unchanged.

const chanHeaderLen = 4

// isChannelData reports whether b starts like ChannelData (first two bits
// 01) and is long enough for its header.
func isChannelData(b []byte) bool {
	return len(b) >= chanHeaderLen && b[0]&0xc0 == 0x40
}

// channelData relays the client's ChannelData message b on the fast path
// and reports true, or reports false and leaves b to pion: no such channel
// in the table, or a length field longer than the message. k carries the
// client's 5-tuple; the channel number is read from b.
func (s *Server) channelData(k chanKey, b []byte, snd *datagramSender) bool {
	k.number = binary.BigEndian.Uint16(b[0:2])
	l := int(binary.BigEndian.Uint16(b[2:4]))
	if chanHeaderLen+l > len(b) {
		return false
	}
	ch := s.chans.lookup(k)
	if ch == nil {
		return false
	}
	ch.relay.toPeer(ch, b[chanHeaderLen:chanHeaderLen+l], snd)
	return true
}

// toPeer sends a client's channel payload to the channel's peer; snd is
// the calling reader's.
func (c *relayConn) toPeer(ch *channel, p []byte, snd *datagramSender) {
	if !ch.permitted.Load() {
		c.st.counters.unpermitted.Add(1)
		return
	}
	if c.s.isHostPort(ch.peer) {
		c.s.metrics.hostPortDropped.Inc()
		return
	}
	if c.st.up != nil && !c.st.up.Allow(len(p), bandwidth.Now()) {
		c.st.counters.droppedUp.Add(1)
		return
	}
	var n int
	if d := c.dual.Load(); d != nil && d.sock != nil && ch.dst.Addr().Is6() {
		// An IPv6 peer of a dual allocation: its own socket (dual.go).
		n, _ = snd.writeTo(d.sock, p, ch.dst)
	} else if c.rd != nil {
		n, _ = snd.writeTo(c.rd.sock, p, ch.dst)
	} else {
		n, _ = c.PacketConn.WriteTo(p, ch.dstAddr)
	}
	// A failed send is the peer's loss, as on pion's path (which logs it).
	if n > 0 {
		c.st.counters.bytesUp.Add(uint64(n))
		c.st.counters.packetsUp.Add(1)
	}
}

// toClient frames the n payload bytes at b[chanHeaderLen:] as
// ChannelData on ch and writes them to the client. It reports false when
// the client's path is not known yet, or a stream client's padding does
// not fit in b; the caller then hands the datagram to pion.
func (c *relayConn) toClient(ch *channel, b []byte, n int) bool {
	return c.toClientWith(ch, b, n, &c.snd)
}

// toClientWith is toClient writing UDP with *snd (made at the first): the
// sender of the calling reader (the IPv6 socket of a dual allocation has
// its own reader, dual.go).
func (c *relayConn) toClientWith(ch *channel, b []byte, n int, snd **datagramSender) bool {
	path := c.client.Load()
	if path == nil {
		return false
	}
	if path.stream != nil && (chanHeaderLen+n+3)&^3 > len(b) {
		return false // no room to pad in place: pion frames it
	}
	if !ch.permitted.Load() {
		c.st.counters.unpermitted.Add(1)
		return true
	}
	if c.st.down != nil && !c.st.down.Allow(n, bandwidth.Now()) {
		c.st.counters.droppedDown.Add(1)
		return true
	}
	binary.BigEndian.PutUint16(b[0:2], ch.key.number)
	binary.BigEndian.PutUint16(b[2:4], uint16(n)) //nolint:gosec // n < len(b) <= 64 KiB
	var err error
	if path.udp != nil {
		// Over UDP ChannelData need not be padded (RFC 8656 §12.5).
		if *snd == nil {
			*snd = newDatagramSender()
		}
		_, err = (*snd).writeTo(path.udp, b[:chanHeaderLen+n], path.addr)
	} else {
		m := (chanHeaderLen + n + 3) &^ 3
		clear(b[chanHeaderLen+n : m])
		_, err = path.stream.Conn.Write(b[:m])
	}
	if err == nil {
		c.st.counters.bytesDown.Add(uint64(n)) //nolint:gosec // n >= 0
		c.st.counters.packetsDown.Add(1)
	}
	return true
}

// readFrom is the UDP listener's read: ChannelData for a channel in the
// table is relayed here and the next datagram read; anything else is
// returned for pion. A datagram filling p is returned too: pion drops it
// as possibly truncated.
func (c *listenConn) readFrom(p []byte) (int, net.Addr, error) {
	if c.rd == nil {
		return c.PacketConn.ReadFrom(p)
	}
	for {
		n, from, err := c.rd.readFrom(p)
		if err != nil {
			return n, nil, err
		}
		if n < len(p) && isChannelData(p[:n]) &&
			c.in.s.channelData(chanKey{client: unmapped(from), server: c.local}, p[:n], c.snd) {
			continue
		}
		return n, net.UDPAddrFromAddrPort(from), nil
	}
}

func newListenConn(s *Server, pc net.PacketConn) *listenConn {
	c := &listenConn{PacketConn: pc, in: inspector{s: s, transport: transportUDP, local: pc.LocalAddr()}}
	if udp, ok := pc.(*net.UDPConn); ok {
		c.rd, c.snd = newDatagramReader(newUDPSock(udp)), newDatagramSender()
	}
	if ap, ok := addrPort(pc.LocalAddr()); ok {
		c.local = ap
	}
	return c
}

// streamKey is a stream client's 5-tuple, without a channel number.
func streamKey(raw net.Conn) chanKey {
	client, _ := addrPort(raw.RemoteAddr())
	server, _ := addrPort(raw.LocalAddr())
	return chanKey{client: client, server: server, tcp: true}
}

// chanKeyOf is the table key of a channel pion reports on a client 5-tuple.
func chanKeyOf(src, dst net.Addr, number uint16) chanKey {
	client, _ := addrPort(src)
	server, _ := addrPort(dst)
	_, udp := dst.(*net.UDPAddr)
	return chanKey{client: client, server: server, tcp: !udp, number: number}
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
