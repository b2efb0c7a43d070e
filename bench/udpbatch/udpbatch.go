// Package udpbatch reads and writes many UDP datagrams per system call
// (recvmmsg/sendmmsg) on a *net.UDPConn, through the Go netpoller.
//
// It exists because the load tool and the plain forwarder share two cores
// with the server under test: one syscall per packet would make them, not the
// server, the bottleneck. golang.org/x/net/ipv4 offers the same, but is not a
// dependency of this module, while golang.org/x/sys is.
//
// IPv4 only: every bench address is on 127.0.0.0/8.
package udpbatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn batches datagram I/O on one UDP socket. A Conn is not safe for
// concurrent use of the same direction: one reader and one writer at a time.
type Conn struct {
	udp *net.UDPConn
	raw syscall.RawConn

	rmsgs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrInet4
	rbufs  [][]byte

	wmsgs  []unix.Mmsghdr
	wiovs  []unix.Iovec
	wnames []unix.RawSockaddrInet4
}

// New wraps c for batches of up to batch datagrams of at most bufSize bytes.
func New(c *net.UDPConn, batch, bufSize int) (*Conn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpbatch: raw conn: %w", err)
	}
	b := &Conn{
		udp:    c,
		raw:    raw,
		rmsgs:  make([]unix.Mmsghdr, batch),
		riovs:  make([]unix.Iovec, batch),
		rnames: make([]unix.RawSockaddrInet4, batch),
		rbufs:  make([][]byte, batch),
		wmsgs:  make([]unix.Mmsghdr, batch),
		wiovs:  make([]unix.Iovec, batch),
		wnames: make([]unix.RawSockaddrInet4, batch),
	}
	for i := range batch {
		b.rbufs[i] = make([]byte, bufSize)
		b.riovs[i].Base = &b.rbufs[i][0]
		b.riovs[i].SetLen(bufSize)
		h := &b.rmsgs[i].Hdr
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
	}
	return b, nil
}

// NewWriter wraps c for writing only, with its own batch state, so several
// goroutines can each send on one shared socket through their own writer.
func NewWriter(c *net.UDPConn, batch int) (*Conn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpbatch: raw conn: %w", err)
	}
	return &Conn{
		udp:    c,
		raw:    raw,
		wmsgs:  make([]unix.Mmsghdr, batch),
		wiovs:  make([]unix.Iovec, batch),
		wnames: make([]unix.RawSockaddrInet4, batch),
	}, nil
}

// UDP returns the wrapped connection.
func (b *Conn) UDP() *net.UDPConn { return b.udp }

// Batch is the most datagrams one call moves.
func (b *Conn) Batch() int { return len(b.rmsgs) }

// Read blocks until at least one datagram arrives and returns how many were
// read; Buf and Addr give each one. A read deadline on the UDPConn applies.
func (b *Conn) Read() (int, error) {
	for i := range b.rmsgs {
		b.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		b.rmsgs[i].Len = 0
	}
	return mmsg(b.raw.Read, unix.SYS_RECVMMSG, b.rmsgs)
}

// mmsg makes one recvmmsg or sendmmsg (trap) call on msgs through the
// netpoller: wait is the RawConn's Read or Write, which parks the goroutine
// until the socket is ready whenever the call would block. An error from
// the call itself is returned wrapped, its errno testable with errors.Is.
func mmsg(wait func(func(fd uintptr) bool) error, trap uintptr, msgs []unix.Mmsghdr) (int, error) {
	var n int
	var serr error
	err := wait(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		if e == unix.EAGAIN || e == unix.EWOULDBLOCK || e == unix.EINTR {
			return false
		}
		if e != 0 {
			serr = e
		}
		n = int(r)
		return true
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		name := "sendmmsg"
		if trap == unix.SYS_RECVMMSG {
			name = "recvmmsg"
		}
		return 0, fmt.Errorf("udpbatch: %s: %w", name, serr)
	}
	return n, nil
}

// Buf returns the i-th datagram of the last Read; valid until the next Read.
func (b *Conn) Buf(i int) []byte { return b.rbufs[i][:b.rmsgs[i].Len] }

// Addr returns the source of the i-th datagram of the last Read.
func (b *Conn) Addr(i int) netip.AddrPort {
	sa := &b.rnames[i]
	port := uint16(sa.Port>>8) | uint16(sa.Port<<8) // network byte order
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
}

// ErrShortWrite reports that the kernel accepted fewer datagrams than given
// and the rest were dropped by the caller's choice not to retry.
var ErrShortWrite = errors.New("udpbatch: short write")

// Write sends bufs, to the matching addrs, or on a connected socket when addrs
// is nil. It returns how many datagrams the kernel accepted; it retries until
// all are sent unless an error occurs.
func (b *Conn) Write(bufs [][]byte, addrs []netip.AddrPort) (int, error) {
	sent := 0
	for sent < len(bufs) {
		k := min(len(bufs)-sent, len(b.wmsgs))
		for i := range k {
			p := bufs[sent+i]
			b.wiovs[i].Base = &p[0]
			b.wiovs[i].SetLen(len(p))
			h := &b.wmsgs[i].Hdr
			h.Iov = &b.wiovs[i]
			h.SetIovlen(1)
			if addrs != nil {
				a := addrs[sent+i]
				sa := &b.wnames[i]
				sa.Family = unix.AF_INET
				sa.Addr = a.Addr().As4()
				port := a.Port()
				sa.Port = port>>8 | port<<8
				h.Name = (*byte)(unsafe.Pointer(sa))
				h.Namelen = unix.SizeofSockaddrInet4
			} else {
				h.Name = nil
				h.Namelen = 0
			}
		}
		n, err := mmsg(b.raw.Write, unix.SYS_SENDMMSG, b.wmsgs[:k])
		// ECONNREFUSED on a connected socket reports an ICMP error for an
		// earlier datagram; the datagram at hand was not sent. Count it as
		// dropped and go on: loss is what the benchmark measures.
		if errors.Is(err, unix.ECONNREFUSED) {
			sent++
			continue
		}
		if err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// ListenReusePort opens count UDP sockets on the same address with
// SO_REUSEPORT, so the kernel spreads flows over them (one per core).
func ListenReusePort(addr string, count int, bufBytes int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conns := make([]*net.UDPConn, 0, count)
	bound := addr
	for range count {
		pc, err := lc.ListenPacket(context.Background(), "udp4", bound)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("udpbatch: listen %s: %w", bound, err)
		}
		uc := pc.(*net.UDPConn)
		SetBuffers(uc, bufBytes)
		conns = append(conns, uc)
		// A port 0 request is pinned to the first socket's port so the
		// others share it.
		bound = uc.LocalAddr().String()
	}
	return conns, nil
}

// SetBuffers asks for larger socket buffers; the kernel caps them at
// net.core.[rw]mem_max, and a smaller buffer only means earlier loss.
func SetBuffers(c *net.UDPConn, bytes int) {
	if bytes <= 0 {
		return
	}
	_ = c.SetReadBuffer(bytes)
	_ = c.SetWriteBuffer(bytes)
}
