//go:build linux

package relay

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// Datagram I/O on the fast path (fastpath.go) is done with raw recvfrom and
// sendto calls on the sockets' own descriptors, through the sockets'
// RawConn so Go's netpoller still parks the reader and a close still waits
// for a call in flight. Why not net.UDPConn's calls: they enter and leave
// the runtime's syscall state around each datagram, and at VoIP rates
// (many flows, a packet every 20 ms each, the process idle between them)
// every entry wakes the runtime's monitor thread from its idle sleep — a
// futex wake and a context switch per packet, measured as a tenth of the
// relay's CPU. recvfrom and sendto on a non-blocking UDP socket return in
// microseconds, so skipping that bookkeeping costs the scheduler nothing.
// A send that would block drops the datagram, as a full socket buffer
// would.

// udpSock is a UDP socket as the fast path uses it.
type udpSock struct {
	rc    syscall.RawConn
	inet6 bool // AF_INET6: IPv4 destinations are sent v4-mapped
}

func newUDPSock(c *net.UDPConn) *udpSock {
	if c == nil {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	s := &udpSock{rc: rc}
	_ = rc.Control(func(fd uintptr) {
		d, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
		s.inet6 = err == nil && d == syscall.AF_INET6
	})
	return s
}

// datagramReader receives on one socket for its one reading goroutine;
// read is bound once so no call allocates.
type datagramReader struct {
	sock  *udpSock
	p     []byte
	n     int
	from  syscall.RawSockaddrInet6 // either family fits: UDP sockets only
	errno syscall.Errno
	read  func(fd uintptr) bool
}

func newDatagramReader(s *udpSock) *datagramReader {
	r := &datagramReader{sock: s}
	r.read = r.recv
	return r
}

// readFrom receives one datagram into p (len(p) > 0), waiting for one.
func (r *datagramReader) readFrom(p []byte) (int, netip.AddrPort, error) {
	r.p = p
	err := r.sock.rc.Read(r.read)
	r.p = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, r.errno
	}
	return r.n, sockaddrAddrPort(&r.from), nil
}

func (r *datagramReader) recv(fd uintptr) bool {
	for {
		l := uint32(syscall.SizeofSockaddrInet6)
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&r.p[0])), uintptr(len(r.p)), 0,
			uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&l)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // park until readable
		}
		r.n, r.errno = int(n), e
		return true
	}
}

// datagramSender sends for one goroutine to any socket; send is bound
// once so no call allocates.
type datagramSender struct {
	p     []byte
	sa    syscall.RawSockaddrInet6 // large enough for either family
	salen uintptr
	n     int
	errno syscall.Errno
	send  func(fd uintptr) bool
}

func newDatagramSender() *datagramSender {
	d := &datagramSender{}
	d.send = d.sendto
	return d
}

// writeTo sends p to dst on s. A datagram the socket cannot take now is
// dropped (no error), as UDP drops it further on when buffers are full.
func (d *datagramSender) writeTo(s *udpSock, p []byte, dst netip.AddrPort) (int, error) {
	d.setDst(s.inet6, dst)
	d.p = p
	err := s.rc.Write(d.send)
	d.p = nil
	if err != nil {
		return 0, err
	}
	if d.errno != 0 && d.errno != syscall.EAGAIN {
		return 0, d.errno
	}
	return d.n, nil
}

func (d *datagramSender) sendto(fd uintptr) bool {
	var buf uintptr
	if len(d.p) > 0 {
		buf = uintptr(unsafe.Pointer(&d.p[0]))
	}
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, buf, uintptr(len(d.p)), 0,
			uintptr(unsafe.Pointer(&d.sa)), d.salen)
		if e == syscall.EINTR {
			continue
		}
		d.n, d.errno = int(n), e
		return true
	}
}

// setDst writes dst as a sockaddr of the socket's family.
func (d *datagramSender) setDst(inet6 bool, dst netip.AddrPort) {
	port := dst.Port()
	if !inet6 {
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&d.sa))
		*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: dst.Addr().Unmap().As4()}
		putPort(&sa.Port, port)
		d.salen = syscall.SizeofSockaddrInet4
		return
	}
	d.sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: dst.Addr().As16()}
	putPort(&d.sa.Port, port)
	d.salen = syscall.SizeofSockaddrInet6
}

// sockaddrAddrPort reads a received source address; an unknown family is
// the zero AddrPort.
func sockaddrAddrPort(in *syscall.RawSockaddrInet6) netip.AddrPort {
	switch in.Family {
	case syscall.AF_INET:
		in4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(in))
		return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), getPort(&in4.Port))
	case syscall.AF_INET6:
		a := netip.AddrFrom16(in.Addr)
		// A scoped (link-local) source keeps its zone as the interface
		// index: naming the interface would cost a netlink query per
		// datagram, which a stranger could make us pay.
		if in.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(in.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, getPort(&in.Port))
	}
	return netip.AddrPort{}
}

// A sockaddr's port is in network byte order whatever the machine's.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
