package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/turnkey-dev/turnkey/bench/udpbatch"
)

// dataConn is one flow's data plane: hand-built frames on the raw socket,
// batched, never through a TURN client library's per-packet machinery.
type dataConn interface {
	// send sends n packets of the run's size; fill stamps each payload.
	send(n int, fill func(payload []byte)) error
	// recvLoop hands every received payload to handle and calls batchDone
	// after each read, until the connection closes or its deadline passes.
	recvLoop(handle func(payload []byte), batchDone func()) error
	stop()
}

// udpFrames sends datagrams that are a fixed header (ChannelData, or none
// for the plain baseline) followed by the payload.
type udpFrames struct {
	b      *udpbatch.Conn
	hdr    int
	frames [][]byte
}

const dataBatch = 64

func newUDPFrames(c *net.UDPConn, channel uint16, size int) (*udpFrames, error) {
	// The control exchange left a read deadline on the socket.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	b, err := udpbatch.New(c, dataBatch, 2048)
	if err != nil {
		return nil, err
	}
	u := &udpFrames{b: b}
	if channel != 0 {
		u.hdr = 4
	}
	u.frames = make([][]byte, dataBatch)
	for i := range u.frames {
		f := make([]byte, u.hdr+size)
		if channel != 0 {
			// ChannelData (RFC 8656 §12.4): channel number, payload length.
			// UDP needs no padding.
			binary.BigEndian.PutUint16(f[0:2], channel)
			binary.BigEndian.PutUint16(f[2:4], uint16(size))
		}
		u.frames[i] = f
	}
	return u, nil
}

func (u *udpFrames) send(n int, fill func([]byte)) error {
	for n > 0 {
		k := min(n, len(u.frames))
		for i := range k {
			fill(u.frames[i][u.hdr:])
		}
		if _, err := u.b.Write(u.frames[:k], nil); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (u *udpFrames) recvLoop(handle func([]byte), batchDone func()) error {
	for {
		n, err := u.b.Read()
		if err != nil {
			return err
		}
		for i := range n {
			p := u.b.Buf(i)
			if u.hdr != 0 {
				// Anything not ChannelData (a late STUN answer) is skipped.
				if len(p) < 4 || p[0]&0xC0 != 0x40 {
					continue
				}
				l := int(binary.BigEndian.Uint16(p[2:4]))
				if 4+l > len(p) {
					continue
				}
				p = p[4 : 4+l]
			}
			handle(p)
		}
		batchDone()
	}
}

func (u *udpFrames) stop() { _ = u.b.UDP().SetReadDeadline(time.Now()) }

// tcpFrames carries padded ChannelData on a TURN-over-TCP stream.
type tcpFrames struct {
	w       *tcpWire
	channel uint16
	size    int
	out     []byte
	frame   int
}

func newTCPFrames(w *tcpWire, channel uint16, size int) *tcpFrames {
	frame := (4 + size + 3) &^ 3
	t := &tcpFrames{w: w, channel: channel, size: size, frame: frame, out: make([]byte, frame*dataBatch)}
	for i := range dataBatch {
		f := t.out[i*frame:]
		binary.BigEndian.PutUint16(f[0:2], channel)
		binary.BigEndian.PutUint16(f[2:4], uint16(size))
	}
	return t
}

func (t *tcpFrames) send(n int, fill func([]byte)) error {
	for n > 0 {
		k := min(n, dataBatch)
		for i := range k {
			fill(t.out[i*t.frame+4 : i*t.frame+4+t.size])
		}
		if err := t.w.send(t.out[:k*t.frame]); err != nil {
			return fmt.Errorf("tcp send: %w", err)
		}
		n -= k
	}
	return nil
}

func (t *tcpFrames) recvLoop(handle func([]byte), batchDone func()) error {
	_ = t.w.c.SetReadDeadline(time.Time{})
	buf := make([]byte, 64<<10)
	for {
		f, err := readStreamFrame(t.w.r, buf)
		if err != nil {
			return err
		}
		if f[0]&0xC0 == 0x40 {
			handle(f[4:])
		}
		// Call batchDone once the reader has drained what is buffered, so
		// the window refills in bursts as on UDP.
		if t.w.r.Buffered() == 0 {
			batchDone()
		}
	}
}

func (t *tcpFrames) stop() { _ = t.w.c.SetReadDeadline(time.Now()) }

// newDataConn builds the data plane of an established allocation.
func newDataConn(w wire, channel uint16, size int) (dataConn, error) {
	switch x := w.(type) {
	case *udpWire:
		return newUDPFrames(x.c, channel, size)
	case *tcpWire:
		return newTCPFrames(x, channel, size), nil
	}
	return nil, fmt.Errorf("unknown wire %T", w)
}
