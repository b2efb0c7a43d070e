//go:build linux && (amd64 || arm64)

package kernelpath

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// requireBPF stops the test without root (skip locally, fail in CI).
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "root, to load BPF programs")
	}
}

// TestOpenAttachesAndCloses loads the program (the verifier accepts it),
// attaches it to loopback in a namespace of the test's own, installs and
// removes an entry and detaches.
func TestOpenAttachesAndCloses(t *testing.T) {
	requireBPF(t)
	if !testenv.InNetns(t) {
		return
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open([]net.Interface{*lo})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e := Entry{Slot: 3, Client: netip.MustParseAddrPort("127.0.0.1:5000"), Server: netip.MustParseAddrPort("127.0.0.1:3478"),
		Number: 0x4000, Relay: netip.MustParseAddrPort("127.0.0.1:50000"), Peer: netip.MustParseAddrPort("127.0.0.1:6000")}
	if err := p.Install(e); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := p.Remove(e); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if c, err := p.Counters(3); err != nil || c != (Counters{}) {
		t.Fatalf("Counters = %+v, %v", c, err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
