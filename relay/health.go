package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// listenerSet is the client-facing side of the server: its listeners and
// whether each accepts, the open TCP/TLS connections and their limits.
type listenerSet struct {
	tlsConfig func() *tls.Config

	maxFrame     int
	idleTimeout  time.Duration
	maxPerSource int
	// sockBufs sizes the kernel buffers of listening and relay sockets.
	sockBufs sockBufs

	healthMu  sync.Mutex
	listeners []Listener
	// down holds the accept error of each stream listener port that is
	// not accepting now.
	down map[int]error

	connMu      sync.Mutex
	clientConns map[net.Conn]struct{}
	perSource   map[netip.Addr]int
	streamConns sync.Map // client address → *streamConn
}

func (l *listenerSet) init(cfg Config, log *slog.Logger) {
	l.tlsConfig = cfg.TLS
	if l.tlsConfig == nil {
		l.tlsConfig = func() *tls.Config { return nil }
	}
	l.maxFrame, l.idleTimeout, l.maxPerSource = cfg.MaxFrame, cfg.IdleTimeout, cfg.MaxConnsPerSource
	l.sockBufs.log = log
	l.down = map[int]error{}
	l.clientConns = map[net.Conn]struct{}{}
	l.perSource = map[netip.Addr]int{}
}

// Listener describes one running TURN listener.
type Listener struct {
	Scheme    string // "turn" or "turns"
	Transport string // "udp" or "tcp"
	Port      int
	Addr      net.Addr
}

func (s *Server) addListener(scheme, transport string, addr net.Addr) {
	port := 0
	switch a := addr.(type) {
	case *net.UDPAddr:
		port = a.Port
	case *net.TCPAddr:
		port = a.Port
	}
	s.healthMu.Lock()
	s.listeners = append(s.listeners, Listener{Scheme: scheme, Transport: transport, Port: port, Addr: addr})
	s.healthMu.Unlock()
}

func listenerName(l Listener) string {
	if l.Scheme == "turns" {
		return fmt.Sprintf("tls:%d", l.Port)
	}
	return fmt.Sprintf("%s:%d", l.Transport, l.Port)
}

// Listeners lists the running listeners.
func (s *Server) Listeners() []Listener {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	return append([]Listener(nil), s.listeners...)
}

// Ready reports whether the relay accepts new allocations on every
// listener.
func (s *Server) Ready() bool { return s.Health() == nil }

// Health is nil when the relay is serving on every listener, else why not:
// draining, or a listener whose accept keeps failing.
func (s *Server) Health() error {
	if s.draining.Load() {
		return errors.New("relay draining")
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	var errs []error
	for _, l := range s.listeners {
		if err, down := s.down[l.Port]; down && l.Transport == transportTCP {
			errs = append(errs, fmt.Errorf("listener %s not accepting: %w", listenerName(l), err))
		}
	}
	return errors.Join(errs...)
}

// Serving reports whether listener l accepts connections now.
func (s *Server) Serving(l Listener) bool {
	if l.Transport != transportTCP {
		return true
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	_, down := s.down[l.Port]
	return !down
}

// listenerDown marks the TCP listeners on port as not accepting.
func (s *Server) listenerDown(port int, err error) {
	s.healthMu.Lock()
	s.down[port] = err
	s.healthMu.Unlock()
	s.setListenerGauge(port, 0)
	s.log.Error("relay: listener cannot accept; retrying", "port", port, "err", err)
}

// listenerUp marks them accepting again.
func (s *Server) listenerUp(port int) {
	s.healthMu.Lock()
	delete(s.down, port)
	s.healthMu.Unlock()
	s.setListenerGauge(port, 1)
	s.log.Info("relay: listener accepting again", "port", port)
}

func (s *Server) setListenerGauge(port int, v float64) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	for _, l := range s.listeners {
		if l.Port == port && l.Transport == transportTCP {
			s.metrics.listenerUp.WithLabelValues(listenerName(l)).Set(v)
		}
	}
}
