package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/pion/turn/v5"
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

// binding binds planned listeners on every listen address and collects
// what pion serves on them; close undoes it when New fails.
type binding struct {
	s            *Server
	gen          func(net.PacketConn) turn.RelayAddressGenerator
	listenIPs    []netip.Addr
	udpSockets   int // per address and port; <= 0: one per CPU
	socketBuffer int

	packets []turn.PacketConnConfig
	streams []turn.ListenerConfig
	opened  []interface{ Close() error }
}

// bind binds pl on each listen address.
func (b *binding) bind(pl PlannedListener) error {
	if pl.Transport == transportUDP {
		return b.bindUDP(pl)
	}
	for _, ip := range b.listenIPs {
		if bound, err := b.bindStream(ip, pl); err != nil || !bound {
			return err
		}
	}
	return nil
}

func (b *binding) bindUDP(pl PlannedListener) error {
	n := b.udpSockets
	if n <= 0 {
		n = runtime.NumCPU()
	}
	for _, ip := range b.listenIPs {
		conns, err := listenUDP(ip, pl.Port, n)
		if err != nil {
			return err
		}
		for _, pc := range conns {
			b.opened = append(b.opened, pc)
			if err := b.s.sockBufs.set(pc, b.socketBuffer, "listening"); err != nil {
				return err
			}
			b.packets = append(b.packets, turn.PacketConnConfig{
				PacketConn:            newListenConn(b.s, pc),
				RelayAddressGenerator: b.gen(pc),
				PermissionHandler:     b.s.permit,
			})
		}
		for _, scheme := range pl.Schemes {
			b.s.addListener(scheme, transportUDP, conns[0].LocalAddr())
		}
	}
	return nil
}

// bindStream binds one stream listener; bound is false when a port not
// required cannot be bound for lack of privilege (then warned).
func (b *binding) bindStream(ip netip.Addr, pl PlannedListener) (bound bool, err error) {
	raw, err := listenTCP(ip, pl.Port)
	if err != nil {
		if !pl.Required && isPermissionError(err) {
			b.s.log.Warn(fmt.Sprintf("relay: cannot bind TCP port %d without privilege; running without it. "+
				"Fix: run as root, grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep turnkey), "+
				"or set turn.alt_tcp_port to a port above 1023 (0 disables it)", pl.Port), "err", err)
			b.s.metrics.listenerUp.WithLabelValues(fmt.Sprintf("tcp:%d", pl.Port)).Set(0)
			return false, nil
		}
		return false, err
	}
	sl := newStreamListener(b.s, raw, pl.mode)
	b.opened = append(b.opened, sl)
	b.streams = append(b.streams, turn.ListenerConfig{
		Listener:              sl,
		RelayAddressGenerator: b.gen(nil),
		PermissionHandler:     b.s.permit,
	})
	for _, scheme := range pl.Schemes {
		b.s.addListener(scheme, transportTCP, raw.Addr())
	}
	return true, nil
}

// close closes everything bound so far.
func (b *binding) close() {
	for _, c := range b.opened {
		_ = c.Close()
	}
}
