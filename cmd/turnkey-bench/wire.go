package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// wire carries STUN and ChannelData frames between the tool and the server
// for one allocation. UDP carries one frame per datagram; TCP is a stream
// and needs the framing of RFC 8656 §12.5 (ChannelData padded to 4 bytes).
type wire interface {
	// send writes one frame (a STUN message or ChannelData).
	send(frame []byte) error
	// recv returns the next frame; the slice is valid until the next recv.
	recv(deadline time.Time) ([]byte, error)
	udp() *net.UDPConn // nil for TCP
	close() error
}

// dialWire opens the client side of one allocation, from src (an IP in
// 127.0.0.0/8, so tens of thousands of clients fit in the port space).
func dialWire(transport, src string, port int, server string) (wire, error) {
	switch transport {
	case "udp":
		raddr, err := net.ResolveUDPAddr("udp4", server)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", server, err)
		}
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src), Port: port}, raddr)
		if err != nil {
			return nil, fmt.Errorf("dial udp %s from %s: %w", server, src, err)
		}
		return &udpWire{c: c, buf: make([]byte, 64<<10)}, nil
	case "tcp":
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: port}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", server)
		if err != nil {
			return nil, fmt.Errorf("dial tcp %s from %s: %w", server, src, err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		return &tcpWire{c: c, r: bufio.NewReaderSize(c, 256<<10), buf: make([]byte, 64<<10)}, nil
	}
	return nil, fmt.Errorf("transport %q is not udp or tcp", transport)
}

type udpWire struct {
	c   *net.UDPConn
	buf []byte
}

func (w *udpWire) send(frame []byte) error {
	_, err := w.c.Write(frame)
	return err
}

func (w *udpWire) recv(deadline time.Time) ([]byte, error) {
	if err := w.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	n, err := w.c.Read(w.buf)
	if err != nil {
		return nil, err
	}
	return w.buf[:n], nil
}

func (w *udpWire) udp() *net.UDPConn { return w.c }
func (w *udpWire) close() error      { return w.c.Close() }

type tcpWire struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func (w *tcpWire) send(frame []byte) error {
	_, err := w.c.Write(frame)
	return err
}

// errBadFrame means the stream lost framing; the connection is unusable.
var errBadFrame = errors.New("tcp stream: bad frame header")

func (w *tcpWire) recv(deadline time.Time) ([]byte, error) {
	if err := w.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	return readStreamFrame(w.r, w.buf)
}

// readStreamFrame reads one STUN message or padded ChannelData from a TCP
// stream into buf and returns the frame without padding.
func readStreamFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(buf[2:4]))
	var total, keep int
	switch {
	case buf[0]&0xC0 == 0: // STUN: 20-byte header, length excludes it
		total, keep = 20+length, 20+length
	case buf[0]&0xC0 == 0x40: // ChannelData: 4-byte header, padded on TCP
		keep = 4 + length
		total = (keep + 3) &^ 3
	default:
		return nil, errBadFrame
	}
	if total > len(buf) {
		return nil, errBadFrame
	}
	if _, err := io.ReadFull(r, buf[4:total]); err != nil {
		return nil, err
	}
	return buf[:keep], nil
}

func (w *tcpWire) udp() *net.UDPConn { return nil }
func (w *tcpWire) close() error      { return w.c.Close() }
