//go:build linux && (amd64 || arm64)

package kernelpath

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// loInNetns stops the test without root (skip locally, fail in CI) and
// runs it in a network namespace of its own (testenv.InNetns): in the
// parent it returns nil (the caller returns), in the child the namespace's
// lo.
func loInNetns(t *testing.T) *net.Interface {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "root, to load BPF programs")
	}
	if !testenv.InNetns(t) {
		return nil
	}
	return loopback(t)
}

func loopback(t *testing.T) *net.Interface {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	return lo
}

// openOn is Open on lo, failing the test.
func openOn(t *testing.T, lo *net.Interface) *Path {
	t.Helper()
	p, err := Open([]net.Interface{*lo})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return p
}

// TestOpenAttachesAndCloses loads the program (the verifier accepts it),
// attaches it to loopback in a namespace of the test's own, installs and
// removes an entry and detaches.
func TestOpenAttachesAndCloses(t *testing.T) {
	lo := loInNetns(t)
	if lo == nil {
		return
	}
	p := openOn(t, lo)
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

// TestProgramPassesWhatItDoesNotRelay feeds the loaded program datagrams
// that are near misses of an installed channel (BPF_PROG_TEST_RUN): each
// must continue down the chain (TCX_NEXT) byte for byte unchanged, for
// the userspace path to judge.
func TestProgramPassesWhatItDoesNotRelay(t *testing.T) {
	lo := loInNetns(t)
	if lo == nil {
		return
	}
	p := openOn(t, lo)
	defer p.Close()
	client, server := netip.MustParseAddrPort("192.0.2.2:5000"), netip.MustParseAddrPort("192.0.2.1:3478")
	e := Entry{Slot: 0, Client: client, Server: server, Number: 0x4000,
		Relay: netip.MustParseAddrPort("198.51.100.1:50000"), Peer: netip.MustParseAddrPort("198.51.100.2:6000")}
	if err := p.Install(e); err != nil {
		t.Fatal(err)
	}
	client6, server6 := netip.MustParseAddrPort("[2001:db8::2]:5000"), netip.MustParseAddrPort("[2001:db8::1]:3478")
	e6 := Entry{Slot: 1, Client: client6, Server: server6, Number: 0x4000,
		Relay: netip.MustParseAddrPort("[2001:db8:1::1]:50000"), Peer: netip.MustParseAddrPort("[2001:db8:1::2]:6000")}
	if err := p.Install(e6); err != nil {
		t.Fatal(err)
	}
	mixed := e6
	mixed.Slot, mixed.Peer = 2, netip.MustParseAddrPort("198.51.100.2:6000")
	if err := p.Install(mixed); err == nil {
		t.Error("installed a channel mixing IPv6 and IPv4")
	}
	payload := []byte("0123456789")
	chanData := func(number uint16, length int, extra int) []byte {
		b := binary.BigEndian.AppendUint16(nil, number)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
		b = append(b, payload...)
		return append(b, make([]byte, extra)...)
	}
	cases := []struct {
		name   string
		packet []byte
	}{
		{"length beyond the datagram", datagram(client, server, chanData(0x4000, len(payload)+1, 0), nil)},
		{"padded past a multiple of 4", datagram(client, server, chanData(0x4000, len(payload), 6), nil)},
		{"padding on a multiple of 4", datagram(client, server, chanData(0x4000, 8, 2), nil)},
		{"another channel", datagram(client, server, chanData(0x4001, len(payload), 0), nil)},
		{"another client port", datagram(netip.AddrPortFrom(client.Addr(), 5001), server, chanData(0x4000, len(payload), 0), nil)},
		{"STUN", datagram(client, server, append([]byte{0, 1, 0, 0}, payload...), nil)},
		{"fragment", datagram(client, server, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[6] = 0x20 })},
		{"IP options", datagram(client, server, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[0] = 0x46 })},
		{"TCP", datagram(client, server, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[9] = 6 })},
		{"IP length beyond the frame", datagram(client, server, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[3] += 8 })},
		{"UDP length disagreeing", datagram(client, server, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[25] -= 1 })},
		{"IPv4 under the IPv6 ethertype", func() []byte {
			b := datagram(client, server, chanData(0x4000, len(payload), 0), nil)
			b[12], b[13] = 0x86, 0xdd
			return b
		}()},
		{"truncated UDP header", datagram(client, server, nil, nil)[:38]},
		{"IPv6 extension header", datagram(client6, server6, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[6] = 0 })},
		{"IPv6 length disagreeing", datagram(client6, server6, chanData(0x4000, len(payload), 0), func(ip []byte) { ip[5] += 4 })},
		{"IPv6 another channel", datagram(client6, server6, chanData(0x4002, len(payload), 0), nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := make([]byte, len(tc.packet)+64)
			ret, err := p.objs.TurnkeyIngress.Run(&ebpf.RunOptions{Data: tc.packet, DataOut: out})
			if err != nil {
				t.Fatalf("test run: %v", err)
			}
			if int32(ret) != -1 {
				t.Errorf("verdict %d, want TCX_NEXT (-1)", int32(ret))
			}
			if !bytes.Equal(out[:len(tc.packet)], tc.packet) {
				t.Errorf("the packet was changed")
			}
		})
	}
	for slot := uint32(0); slot < 2; slot++ {
		if c, _ := p.Counters(slot); c != (Counters{}) {
			t.Errorf("slot %d counted %+v", slot, c)
		}
	}
}

// datagram is an Ethernet frame with a UDP datagram from src to dst over
// IPv4 or IPv6 (src's family) carrying payload; mangle, if set, edits the
// IP header and what follows.
func datagram(src, dst netip.AddrPort, payload []byte, mangle func(ip []byte)) []byte {
	udpLen := uint16(8 + len(payload))
	var etherType uint16
	var ip []byte // the IP header up to the addresses
	if src.Addr().Is4() {
		etherType = 0x0800
		ip = binary.BigEndian.AppendUint16([]byte{0x45, 0}, 20+udpLen) // version, IHL; TOS; total length
		ip = append(ip, 0, 0, 0, 0, 64, 17, 0, 0)                      // ID, flags, fragment; TTL, UDP; checksum
	} else {
		etherType = 0x86dd
		ip = binary.BigEndian.AppendUint16([]byte{0x60, 0, 0, 0}, udpLen) // version, class, flow; payload length
		ip = append(ip, 17, 64)                                           // next header UDP, hop limit
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 12, 14+48+len(payload)), etherType)
	b = append(append(append(b, ip...), src.Addr().AsSlice()...), dst.Addr().AsSlice()...)
	for _, v := range []uint16{src.Port(), dst.Port(), udpLen, 0} { // checksum 0: none
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = append(b, payload...)
	if mangle != nil {
		mangle(b[14:])
	}
	return b
}

// holderEnv marks the child of TestNothingStaysAttached that attaches the
// program and waits to be killed.
const holderEnv = "TURNKEY_KERNELPATH_HOLDER"

// TestNothingStaysAttached: Close detaches the program, and so does the
// death of a process killed with SIGKILL while attached (the TCX links
// are owned by its file descriptors; nothing is pinned), so a restart
// after a crash finds the interface clean.
func TestNothingStaysAttached(t *testing.T) {
	if os.Getenv(holderEnv) == "1" {
		holdAttached(t)
		return
	}
	lo := loInNetns(t)
	if lo == nil {
		return
	}
	attached := func() int {
		t.Helper()
		r, err := link.QueryPrograms(link.QueryOptions{Target: lo.Index, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			t.Fatalf("query TCX ingress of lo: %v", err)
		}
		return len(r.Programs)
	}
	p := openOn(t, lo)
	if n := attached(); n != 1 {
		t.Fatalf("%d programs on lo after Open, want 1", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 0 {
		t.Fatalf("%d programs on lo after Close, want 0", n)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestNothingStaysAttached$", "-test.count=1")
	cmd.Env = append(os.Environ(), holderEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The holder waits on its stdin, which stays open until it is killed.
	hold, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "attached") {
		_ = cmd.Process.Kill()
		t.Fatalf("holder: %q, %v", line, err)
	}
	if n := attached(); n != 1 {
		t.Errorf("%d programs on lo while the holder runs, want 1", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The links go when the dead process's files are released, which
	// the kernel finishes shortly after the exit is reported.
	testenv.WaitFor(t, "the killed process's program detached", 10*time.Second, func() bool { return attached() == 0 })
}

func holdAttached(t *testing.T) {
	openOn(t, loopback(t))
	fmt.Println("attached")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	t.Fatal("the holder's stdin closed before it was killed")
}
