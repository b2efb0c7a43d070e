// Package testnet provides the peers turnkey's tests relay to, on loopback
// only.
package testnet

import (
	"net"
	"net/netip"
	"testing"
)

// UDPEcho starts a UDP peer on 127.0.0.1 that sends every datagram back to
// where it came from, until the test ends.
func UDPEcho(t testing.TB) *net.UDPAddr {
	t.Helper()
	return UDPEchoOn(t, netip.MustParseAddr("127.0.0.1"))
}

// UDPEchoOn is UDPEcho on another local address (one a test's own network
// namespace has, or ::1).
func UDPEchoOn(t testing.TB, addr netip.Addr) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	Echo(pc)
	return pc.LocalAddr().(*net.UDPAddr)
}

// Echo makes pc send every datagram it reads back to where it came from,
// until pc is closed.
func Echo(pc *net.UDPConn) {
	Serve(pc, func(p []byte, from netip.AddrPort) { _, _ = pc.WriteToUDPAddrPort(p, from) })
}

// Serve reads datagrams from pc on a goroutine of its own until pc is
// closed, handing each to handle. p is only valid during the call: the next
// datagram reuses its buffer, which holds any UDP datagram whole.
func Serve(pc *net.UDPConn, handle func(p []byte, from netip.AddrPort)) {
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			handle(buf[:n], from)
		}
	}()
}
