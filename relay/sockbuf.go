package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// sockBufs sizes the kernel buffers of UDP sockets so a burst, or a read
// loop briefly descheduled, queues instead of overflowing (RcvbufErrors in
// /proc/net/snmp). As root (CAP_NET_ADMIN) SO_RCVBUFFORCE/SO_SNDBUFFORCE set
// the size asked for; otherwise the kernel caps SO_RCVBUF/SO_SNDBUF at
// net.core.rmem_max/wmem_max, and the first socket capped logs one warning
// naming the sysctl.
type sockBufs struct {
	log *slog.Logger
	// noForce: a FORCE option was refused once; later sockets skip it.
	noForce atomic.Bool
	// limits reads rmem_max and wmem_max once.
	limits     sync.Once
	rmem, wmem int
	warned     atomic.Bool
}

// set applies size (0: leave the kernel default) to both buffers of pc;
// what names the socket kind in the warning.
func (b *sockBufs) set(pc net.PacketConn, size int, what string) error {
	if size <= 0 {
		return nil
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("relay: %s socket buffer: %w", what, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = b.setFD(int(fd), size, what) }); err != nil {
		return fmt.Errorf("relay: %s socket buffer: %w", what, err)
	}
	return serr
}

func (b *sockBufs) setFD(fd, size int, what string) error {
	if !b.noForce.Load() {
		err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("relay: %s socket buffer %d bytes: %w", what, size, err)
		}
		b.noForce.Store(true)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
		return fmt.Errorf("relay: %s socket receive buffer %d bytes: %w", what, size, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size); err != nil {
		return fmt.Errorf("relay: %s socket send buffer %d bytes: %w", what, size, err)
	}
	b.limits.Do(func() { b.rmem, b.wmem = sysctlInt("rmem_max"), sysctlInt("wmem_max") })
	rmem, wmem := b.rmem, b.wmem
	if (rmem > 0 && rmem < size) || (wmem > 0 && wmem < size) {
		if b.warned.CompareAndSwap(false, true) {
			b.log.Warn(fmt.Sprintf("relay: UDP socket buffers capped by the kernel at net.core.rmem_max=%d / "+
				"net.core.wmem_max=%d, below the %d bytes configured for %s sockets; bursts may be dropped. "+
				"Fix: run with CAP_NET_ADMIN, or sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d",
				rmem, wmem, size, what, size, size))
		}
	}
	return nil
}

// sysctlInt reads /proc/sys/net/core/name, or 0.
func sysctlInt(name string) int {
	b, err := os.ReadFile("/proc/sys/net/core/" + name)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
