package relay

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestHostAddressAddedAfterStart (#14 M1): an address configured on the
// host after the relay started (a floating IP, DHCP, SLAAC) is in the
// host-port guard: packets relayed to a service on it are dropped. Runs in
// a network namespace the test creates, in a child process.
func TestHostAddressAddedAfterStart(t *testing.T) {
	const newAddr = "198.51.100.20"
	if !testenv.InNetns(t) {
		return
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ts := startServer(t, func(c *Config) {
		c.PeerPolicy = PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, DisableDefaultDeny: true}
	})
	if ts.isLocal(netip.MustParseAddr(newAddr)) {
		t.Fatal(newAddr + " is local before it was added")
	}
	run("addr", "add", newAddr+"/32", "dev", "lo") // the namespace's own lo: no module needed
	testenv.WaitFor(t, newAddr+" known as local", 5*time.Second, func() bool {
		return ts.isLocal(netip.MustParseAddr(newAddr))
	})
	service := listenUDPSinkAt(t, newAddr+":0")
	echo := testnet.UDPEcho(t)
	_, relayConn := allocated(t, "udp", ts.addr("turn", "udp", 0), "m1")
	before := testutil.ToFloat64(ts.metrics.hostPortDropped)
	for range 5 {
		if _, err := relayConn.WriteTo([]byte("probe"), service.addr()); err != nil {
			t.Fatalf("write to %s: %v", service.addr(), err)
		}
	}
	testenv.WaitFor(t, "the probes dropped by the host-port guard", 5*time.Second, func() bool {
		return testutil.ToFloat64(ts.metrics.hostPortDropped)-before >= 5
	})
	// The relay works, so the probes were dropped on purpose.
	roundTrip(t, relayConn, echo, []byte("control"))
	if n := service.received(); n != 0 {
		t.Errorf("%d packets reached %s through the relay", n, service.addr())
	}
}
