package relay

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestEvenPortIPv6WhenIPv4IsFree: pion searches for an EVEN-PORT among the
// IPv4 relay ports and then allocates on it in the family the client asked
// for. With most even IPv6 ports taken and every IPv4 port free, IPv6
// EVEN-PORT allocations must still get one of the free even ports, not 508
// (the e2e uclient IPv6 run hit that when its own allocations held ports).
func TestEvenPortIPv6WhenIPv4IsFree(t *testing.T) {
	const minPort, maxPort = 62100, 62139 // 20 even ports
	free := map[int]bool{62102: true, 62110: true, 62124: true, 62136: true}
	for p := minPort; p <= maxPort; p += 2 {
		if free[p] {
			continue
		}
		pc, err := net.ListenPacket("udp6", net.JoinHostPort("::1", strconv.Itoa(p)))
		if err != nil {
			t.Skipf("cannot hold [::1]:%d for the test: %v", p, err)
		}
		t.Cleanup(func() { pc.Close() })
	}
	ts := startServer(t, func(c *Config) {
		c.RelayIPs = []netip.Addr{loopback, loopback6}
		c.MinPort, c.MaxPort = minPort, maxPort
	})
	requested6 := stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{familyByteIPv6, 0, 0, 0}}
	evenPort := stun.RawAttribute{Type: stun.AttrEvenPort, Value: []byte{0x00}}
	for i := range len(free) - 1 { // the last ones: each probe finds a free one surely
		user, pass := creds("even-"+strconv.Itoa(i), time.Hour)
		c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
		if code := c.do(stun.MethodAllocate, udpTransport, requested6, evenPort); code != 0 {
			t.Fatalf("allocation %d: code %d (%v)", i, code, c.last)
		}
		got := relayedAddrs(t, c.last)
		if len(got) != 1 || !got[0].Addr().Is6() || !free[int(got[0].Port())] {
			t.Fatalf("allocation %d relayed on %v, want one of the free even IPv6 ports", i, got)
		}
	}
}
