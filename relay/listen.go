package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several sockets share one UDP address; the kernel spreads
// clients across them by 4-tuple hash, so each read loop gets its own share.
func reusePort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// listenUDP opens n sockets on addr with SO_REUSEPORT. With port 0 the first
// socket picks the port and the rest join it.
func listenUDP(ip netip.Addr, port, n int) ([]net.PacketConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	var conns []net.PacketConn
	for i := range n {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("relay: listen udp %s (socket %d of %d): %w", addr, i+1, n, err)
		}
		if port == 0 {
			port = pc.LocalAddr().(*net.UDPAddr).Port
		}
		conns = append(conns, pc)
	}
	return conns, nil
}

func listenTCP(ip netip.Addr, port int) (net.Listener, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return ln, nil
}

// isPermissionError reports a bind refused for lack of privilege (a port
// below 1024 without CAP_NET_BIND_SERVICE).
func isPermissionError(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES)
}
