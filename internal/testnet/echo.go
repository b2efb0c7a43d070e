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
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}
