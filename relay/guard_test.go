package relay

import (
	"net"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostPortGuardInsideRelayRange (#14 L1): a service listening inside
// the relay port range on the relay address is not reachable through the
// relay; only relay ports of this server's live allocations are, so relay
// to relay keeps working.
func TestHostPortGuardInsideRelayRange(t *testing.T) {
	const minPort, maxPort = 62000, 62099
	// Other local services on ports of the range, bound before the relay
	// starts so its allocations take other ports.
	var services []*udpSink
	for p := minPort; p <= maxPort && len(services) < 3; p += 7 {
		if pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			pc.Close()
			services = append(services, listenUDPSinkAt(t, "127.0.0.1:"+strconv.Itoa(p)))
		}
	}
	if len(services) == 0 {
		t.Fatal("no free port in the relay range for the stand-in service")
	}
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{} // the default deny-list, nothing allowed
		c.MinPort, c.MaxPort = minPort, maxPort
	})
	ra, rb := twoAllocations(t, ts.addr("turn", "udp", 0))
	exchange(t, ra, rb, []byte("alice to bob"))
	before := testutil.ToFloat64(ts.metrics.hostPortDropped)
	for _, s := range services {
		for range 5 {
			if _, err := ra.WriteTo([]byte("probe"), s.addr()); err != nil {
				t.Fatalf("write to %s: %v", s.addr(), err)
			}
		}
	}
	// The path still works, so the probes were dropped on purpose.
	exchange(t, ra, rb, []byte("still relaying"))
	exchange(t, rb, ra, []byte("both ways"))
	for _, s := range services {
		if n := s.received(); n != 0 {
			t.Errorf("%d packets reached the local service on relay-range port %d", n, s.port())
		}
	}
	if got := testutil.ToFloat64(ts.metrics.hostPortDropped) - before; got != float64(5*len(services)) {
		t.Errorf("host_port drops rose by %v, want %d", got, 5*len(services))
	}
}
