package relay

import (
	"net"
)

// listenConn is a UDP listening socket as pion sees it, with the inspector
// in front of pion's read loop.
type listenConn struct {
	net.PacketConn
	in inspector
}

func (c *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.in.datagram(p[:n])
	}
	return n, addr, err
}
