// Package testnet provides the peers turnkey's tests relay to, on loopback
// only.
package testnet

import (
	"net"
	"testing"
)

// UDPEcho starts a UDP peer on 127.0.0.1 that sends every datagram back to
// where it came from, until the test ends.
func UDPEcho(t testing.TB) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}
