//go:build !linux

package relay

import (
	"net"
	"net/netip"
)

// Elsewhere the fast path uses net.UDPConn's own calls (datagram_linux.go
// says why Linux does not).

type udpSock struct{ c *net.UDPConn }

func newUDPSock(c *net.UDPConn) *udpSock {
	if c == nil {
		return nil
	}
	return &udpSock{c: c}
}

type datagramReader struct{ sock *udpSock }

func newDatagramReader(s *udpSock) *datagramReader { return &datagramReader{sock: s} }

func (r *datagramReader) readFrom(p []byte) (int, netip.AddrPort, error) {
	return r.sock.c.ReadFromUDPAddrPort(p)
}

type datagramSender struct{}

func newDatagramSender() *datagramSender { return &datagramSender{} }

func (*datagramSender) writeTo(s *udpSock, p []byte, dst netip.AddrPort) (int, error) {
	return s.c.WriteToUDPAddrPort(p, dst)
}
