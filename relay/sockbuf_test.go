package relay

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// TestSocketBuffers sizes a UDP socket's buffers: as root exactly what was
// asked (the kernel reports double, its bookkeeping share), otherwise at
// least the kernel's cap, with the warning naming the sysctl when the cap
// is below the size.
func TestSocketBuffers(t *testing.T) {
	for _, size := range []int{0, 64 << 10, 8 << 20} {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		logs := &logbuf.Buffer{}
		b := &sockBufs{log: slog.New(slog.NewTextHandler(logs, nil))}
		before := bufOf(t, pc, unix.SO_RCVBUF)
		if err := b.set(pc, size, "test"); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, gotSnd := bufOf(t, pc, unix.SO_RCVBUF), bufOf(t, pc, unix.SO_SNDBUF)
		switch {
		case size == 0:
			if got != before {
				t.Errorf("size 0 changed the buffer: %d -> %d", before, got)
			}
		case !b.noForce.Load():
			if got != 2*size || gotSnd != 2*size {
				t.Errorf("size %d as root: rcvbuf %d sndbuf %d, want %d", size, got, gotSnd, 2*size)
			}
		default:
			limit := sysctlInt("rmem_max")
			if want := 2 * min(size, limit); got != want {
				t.Errorf("size %d, rmem_max %d: rcvbuf %d, want %d", size, limit, got, want)
			}
			if limit < size && !strings.Contains(logs.String(), "net.core.rmem_max") {
				t.Errorf("capped without a warning naming the sysctl: %q", logs.String())
			}
		}
	}
}

func bufOf(t *testing.T, pc net.PacketConn, opt int) int {
	t.Helper()
	rc, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}
