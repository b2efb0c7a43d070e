package relay

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
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

	port      int // of the listener, for its health
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newStreamListener(s *Server, raw net.Listener, mode streamMode) *streamListener {
	l := &streamListener{
		port:   raw.Addr().(*net.TCPAddr).Port,
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

// acceptLoop accepts until the listener is closed. Every other error
// (EMFILE and ENFILE when descriptors run out, ECONNABORTED, ENOBUFS) is
// waited out with a capped backoff: the listener is reported down meanwhile
// (turnkey_listener_up, readiness) and up again at the next connection.
func (l *streamListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.raw.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-l.done:
				return
			default:
			}
			if backoff == 0 {
				l.s.listenerDown(l.port, err)
			}
			backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
			continue
		}
		if backoff != 0 {
			l.s.listenerUp(l.port)
			backoff = 0
		}
		if !l.s.track(c) {
			l.s.metrics.streamClosed.WithLabelValues(closePerSource).Inc()
			_ = c.Close()
			continue
		}
		go l.settle(c)
	}
}

// settle turns an accepted connection into what pion reads from.
func (l *streamListener) settle(c net.Conn) {
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
	sc := l.s.newStreamConn(conn, c, transport)
	l.s.streamConns.Store(c.RemoteAddr().String(), sc)
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

// track records a new client connection; it refuses one past the
// per-source limit. untrack forgets it.
func (s *Server) track(c net.Conn) bool {
	src := remoteIP(c)
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.maxPerSource > 0 && s.perSource[src] >= s.maxPerSource {
		return false
	}
	s.perSource[src]++
	s.clientConns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	src := remoteIP(c)
	s.connMu.Lock()
	if _, ok := s.clientConns[c]; ok {
		delete(s.clientConns, c)
		if s.perSource[src] <= 1 {
			delete(s.perSource, src)
		} else {
			s.perSource[src]--
		}
	}
	s.connMu.Unlock()
}

func remoteIP(c net.Conn) netip.Addr {
	ap, _ := addrPort(c.RemoteAddr())
	return ap.Addr()
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
