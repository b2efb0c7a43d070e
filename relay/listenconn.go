package relay

import (
	"net"
	"net/netip"
)

// listenConn is a UDP listening socket as pion sees it, with the inspector
// in front of pion's read loop.
type listenConn struct {
	net.PacketConn
	in inspector
	// last is the source of the datagram pion handled last: pion reads
	// again only once it is done with it, so a quota reservation still
	// open for that source then belongs to a failed Allocate.
	last net.Addr
	// rd, snd and local serve the channel fast path (fastpath.go,
	// datagram_linux.go): this socket's reader and its sender to relay
	// sockets.
	rd    *datagramReader
	snd   *datagramSender
	local netip.AddrPort
}

func (c *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if c.last != nil {
			c.in.s.settleAdmission(c.last, transportUDP)
		}
		n, addr, err := c.readFrom(p)
		c.last = addr
		if n > 0 {
			// turnkey may answer a request itself (request.go); pion then
			// never sees it.
			var answer []byte
			if n, answer = c.in.datagram(p, n, addr); answer != nil {
				_, _ = c.PacketConn.WriteTo(answer, addr)
			}
			if n == 0 && err == nil {
				continue
			}
		}
		return n, addr, err
	}
}
