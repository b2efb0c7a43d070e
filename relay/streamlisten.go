package relay

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds the first byte and the TLS handshake of a new
// connection, so a silent client ties up only its own goroutine.
const handshakeTimeout = 10 * time.Second

type streamMode int

const (
	modePlain streamMode = iota // TURN over TCP
	modeTLS                     // TURN over TLS
	modeMux                     // either, told apart by the first byte
)

// streamListener is a TCP or TLS TURN listener as pion sees it. It accepts
// on its own goroutine, settles each connection (TLS handshake, or sniffing
// the first byte on the shared port) on a goroutine of that connection's
// own, and tracks every connection so Close can end them: pion's
// Server.Close leaves accepted connections open.
type streamListener struct {
	raw    net.Listener
	s      *Server
	mode   streamMode
	tlsCfg func() *tls.Config

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newStreamListener(s *Server, raw net.Listener, mode streamMode) *streamListener {
	l := &streamListener{
		raw:    raw,
		s:      s,
		mode:   mode,
		tlsCfg: s.tlsConfig,
		conns:  make(chan net.Conn),
		done:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

func (l *streamListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and similar: wait, don't spin.
				backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
				l.s.log.Warn("relay: accept failed, retrying", "listener", l.raw.Addr().String(), "err", err)
				time.Sleep(backoff)
				continue
			}
			l.Close()
			return
		}
		backoff = 0
		go l.settle(c)
	}
}

// settle turns an accepted connection into what pion reads from.
func (l *streamListener) settle(c net.Conn) {
	l.s.track(c)
	transport := transportTCP
	var conn net.Conn = c
	mode := l.mode
	if mode == modeMux && l.tlsCfg() == nil {
		mode = modePlain
	}
	if mode == modeMux {
		_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
		var first [1]byte
		if _, err := c.Read(first[:]); err != nil {
			l.s.untrack(c)
			c.Close()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		conn = &prefixConn{Conn: c, prefix: first[:]}
		if first[0] == 0x16 { // a TLS handshake record
			mode = modeTLS
		} else {
			mode = modePlain
		}
	}
	if mode == modeTLS {
		cfg := l.tlsCfg()
		if cfg == nil {
			l.s.untrack(c)
			c.Close()
			return
		}
		tc := tls.Server(conn, cfg)
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			l.s.log.Debug("relay: TLS handshake failed", "client", c.RemoteAddr().String(), "err", err)
			l.s.untrack(c)
			c.Close()
			return
		}
		_ = c.SetDeadline(time.Time{})
		conn = tc
		transport = transportTLS
	}
	sc := &streamConn{Conn: conn, raw: c, s: l.s}
	sc.framer.in = &inspector{s: l.s, transport: transport}
	l.s.streamTransport.Store(c.RemoteAddr().String(), transport)
	select {
	case l.conns <- sc:
	case <-l.done:
		sc.Close()
	}
}

func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *streamListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.raw.Close()
	})
	return err
}

func (l *streamListener) Addr() net.Addr { return l.raw.Addr() }

// streamConn is one client's TCP/TLS connection, inspected as it is read.
type streamConn struct {
	net.Conn
	raw       net.Conn // the TCP connection under any TLS
	s         *Server
	framer    framer
	closeOnce sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.framer.feed(p[:n])
	}
	return n, err
}

func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.s.untrack(c.raw)
		c.s.streamTransport.Delete(c.raw.RemoteAddr().String())
	})
	return err
}

// prefixConn replays bytes already read from the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// track and untrack keep the set of open client connections.
func (s *Server) track(c net.Conn) {
	s.connMu.Lock()
	s.clientConns[c] = struct{}{}
	s.connMu.Unlock()
}

func (s *Server) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.clientConns, c)
	s.connMu.Unlock()
}

// closeClientConns ends every open TCP/TLS client connection.
func (s *Server) closeClientConns() {
	s.connMu.Lock()
	conns := make([]net.Conn, 0, len(s.clientConns))
	for c := range s.clientConns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	if len(conns) > 0 {
		s.log.Debug("relay: closed client connections", slog.Int("count", len(conns)))
	}
}
