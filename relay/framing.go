package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TURN over TCP (RFC 6062 / RFC 8656 §10.1) is a stream of STUN messages and
// ChannelData padded to 4 bytes. turnkey cuts the stream into frames itself
// and each Read pion makes returns exactly one whole frame: pion's STUNConn
// then never holds a partial frame, so it neither recurses once per short
// read (a 64 KB frame trickled a byte at a time cost ~10 MB of stack) nor
// waits on a length field it would mis-add (the v5.1.2 wraparound). A frame
// declared longer than the configured maximum ends the connection before a
// byte of its body is buffered.

// Connection-close reasons; bounded metric label values.
const (
	closeFrameTooLarge = "frame_too_large"
	closeNotTURN       = "not_turn"
	closeIdle          = "idle"
	closePerSource     = "per_source_limit"
)

var (
	errFrameTooLarge = errors.New("relay: TURN frame longer than the maximum")
	errNotTURN       = errors.New("relay: stream is not STUN or ChannelData")
)

// streamConn is one client's TCP/TLS connection as pion reads it.
type streamConn struct {
	net.Conn
	raw net.Conn // the TCP connection under any TLS
	s   *Server
	in  *inspector
	// key is the connection's 5-tuple in the channel table: its
	// ChannelData takes the fast path (fastpath.go).
	key chanKey
	// snd sends the connection's channel payloads to relay sockets.
	snd      *datagramSender
	maxFrame int
	// idle bounds how long a connection without an allocation may go
	// without completing a frame, and how long any frame may take to
	// arrive once started.
	idle time.Duration

	buf        []byte // len maxFrame; bytes buf[start:end] are buffered
	start, end int
	frameStart time.Time // when the first byte of the buffered frame came

	// passthrough: after a ConnectionBind succeeds the connection carries
	// the peer's raw bytes (RFC 6062 §5.4), no longer frames.
	passthrough atomic.Bool
	// allocated counts live allocations on this connection's 5-tuple.
	allocated atomic.Int32

	dlMu     sync.Mutex
	deadline time.Time // the read deadline armed now; zero for none

	closeOnce sync.Once
}

func (s *Server) newStreamConn(conn, raw net.Conn, transport string) *streamConn {
	return &streamConn{
		Conn:     conn,
		raw:      raw,
		s:        s,
		in:       &inspector{s: s, transport: transport, local: conn.LocalAddr()},
		key:      streamKey(raw),
		snd:      newDatagramSender(),
		maxFrame: s.maxFrame,
		idle:     s.idleTimeout,
		buf:      make([]byte, s.maxFrame),
	}
}

// Read returns the next whole frame. p is pion's read buffer, at least
// maxFrame long (see New).
func (c *streamConn) Read(p []byte) (int, error) {
	c.s.settleAdmission(c.raw.RemoteAddr(), transportTCP)
	if c.passthrough.Load() {
		return c.readRaw(p)
	}
	for {
		n, err := c.frameLen()
		if err != nil {
			return 0, c.refuse(err)
		}
		if n > 0 && c.end-c.start >= n {
			if frame := c.buf[c.start : c.start+n]; isChannelData(frame) && c.s.channelData(c.key, frame, c.snd) {
				c.start += n
				if c.start == c.end {
					c.start, c.end = 0, 0
				}
				continue
			}
			if n > len(p) {
				return 0, c.refuse(fmt.Errorf("%w: %d bytes, read buffer %d", errFrameTooLarge, n, len(p)))
			}
			copy(p, c.buf[c.start:c.start+n])
			c.start += n
			if c.start == c.end {
				c.start, c.end = 0, 0
			}
			m, answer := c.in.datagram(p, n, c.raw.RemoteAddr())
			if answer != nil {
				if _, err := c.Conn.Write(answer); err != nil {
					return 0, fmt.Errorf("relay: answer on stream: %w", err)
				}
			}
			if m == 0 {
				continue
			}
			return m, nil
		}
		if c.start > 0 {
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		if c.end == 0 {
			c.frameStart = time.Time{}
		}
		c.armDeadline()
		k, rerr := c.Conn.Read(c.buf[c.end:])
		if k > 0 && c.end == 0 {
			c.frameStart = time.Now()
		}
		c.end += k
		if rerr != nil && k == 0 {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				c.s.metrics.streamClosed.WithLabelValues(closeIdle).Inc()
				return 0, fmt.Errorf("relay: connection idle or frame incomplete for %s: %w", c.idle, rerr)
			}
			return 0, rerr
		}
	}
}

// frameLen is the length of the frame at the head of the buffer, or 0 while
// its header is incomplete.
func (c *streamConn) frameLen() (int, error) {
	b := c.buf[c.start:c.end]
	if len(b) < 4 {
		return 0, nil
	}
	length := int(binary.BigEndian.Uint16(b[2:4]))
	var n int
	switch b[0] & 0xc0 {
	case 0x40: // ChannelData, padded to 4 bytes on streams
		n = 4 + (length+3)&^3
	case 0x00:
		n = stunHeaderLen + length
	default:
		return 0, errNotTURN
	}
	if n > c.maxFrame {
		return 0, fmt.Errorf("%w: %d declared, at most %d", errFrameTooLarge, n, c.maxFrame)
	}
	if b[0]&0xc0 == 0 && len(b) >= 8 && binary.BigEndian.Uint32(b[4:8]) != magicCookieValue {
		return 0, errNotTURN
	}
	return n, nil
}

// refuse ends a connection whose stream cannot be TURN or breaks the limit.
func (c *streamConn) refuse(err error) error {
	reason := closeNotTURN
	if errors.Is(err, errFrameTooLarge) {
		reason = closeFrameTooLarge
	}
	c.s.metrics.streamClosed.WithLabelValues(reason).Inc()
	if reason == closeFrameTooLarge {
		// A request too large to read is answered before the close.
		if answer := tooLarge(c.buf[c.start:c.end]); answer != nil {
			_, _ = c.Conn.Write(answer)
		}
	}
	c.s.log.Debug("relay: closing stream", "client", c.raw.RemoteAddr().String(), "reason", reason, "err", err)
	_ = c.Close()
	return err
}

// readRaw passes a bound data connection's bytes through, first any read
// past the ConnectionBind request.
func (c *streamConn) readRaw(p []byte) (int, error) {
	c.setDeadline(time.Time{})
	if c.end > c.start {
		n := copy(p, c.buf[c.start:c.end])
		c.start += n
		return n, nil
	}
	return c.Conn.Read(p)
}

// armDeadline sets the read deadline for the wait ahead: a started frame
// must complete within idle of its first byte; between frames only a
// connection without an allocation is timed.
func (c *streamConn) armDeadline() {
	if c.idle <= 0 {
		return
	}
	var d time.Time
	switch {
	case c.end > 0:
		d = c.frameStart.Add(c.idle)
	case c.allocated.Load() == 0:
		d = time.Now().Add(c.idle)
	}
	c.setDeadline(d)
}

func (c *streamConn) setDeadline(d time.Time) {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if d.Equal(c.deadline) {
		return
	}
	c.deadline = d
	_ = c.Conn.SetReadDeadline(d)
}

// allocationEnded starts the idle clock of a connection whose last
// allocation went away while its reader waits without a deadline.
func (c *streamConn) allocationEnded() {
	if c.allocated.Add(-1) <= 0 && c.idle > 0 && !c.passthrough.Load() {
		c.dlMu.Lock()
		if c.deadline.IsZero() {
			c.deadline = time.Now().Add(c.idle)
			_ = c.Conn.SetReadDeadline(c.deadline)
		}
		c.dlMu.Unlock()
	}
}

// Write sends pion's answers, fixing auth refusals, and notices the
// ConnectionBind success after which the stream is raw.
func (c *streamConn) Write(p []byte) (int, error) {
	if isConnectionBindSuccess(p) {
		c.passthrough.Store(true)
	}
	fixed := c.s.outgoing(p, tuple{transport: c.in.transport, client: c.raw.RemoteAddr(), local: c.in.local})
	if len(fixed) != len(p) || &fixed[0] != &p[0] {
		if _, err := c.Conn.Write(fixed); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// isConnectionBindSuccess reports a ConnectionBind success response header.
func isConnectionBindSuccess(p []byte) bool {
	return len(p) >= stunHeaderLen && binary.BigEndian.Uint16(p[0:2]) == 0x010b
}

func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.s.settleAdmission(c.raw.RemoteAddr(), transportTCP)
		c.s.untrack(c.raw)
		c.s.streamConns.Delete(c.raw.RemoteAddr().String())
	})
	return err
}

const magicCookieValue = 0x2112A442
