package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnkey-dev/turnkey/bench/udpbatch"
)

// forwarder owns the listen sockets and one session per client address.
type forwarder struct {
	listeners []*udpbatch.Conn
	peer      *net.UDPAddr
	batch     int
	bufBytes  int
	idle      time.Duration

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	closed   atomic.Bool
	wg       sync.WaitGroup
}

// session is one client's relay socket, like a TURN allocation.
type session struct {
	client   netip.AddrPort
	relay    *udpbatch.Conn
	back     *udpbatch.Conn // this session's own writer on the listen socket replies leave from
	lastSeen atomic.Int64
}

func newForwarder(listen string, peer *net.UDPAddr, sockets, batch, bufBytes int, idle time.Duration) (*forwarder, error) {
	conns, err := udpbatch.ListenReusePort(listen, sockets, bufBytes)
	if err != nil {
		return nil, err
	}
	f := &forwarder{peer: peer, batch: batch, bufBytes: bufBytes, idle: idle, sessions: map[netip.AddrPort]*session{}}
	for _, c := range conns {
		b, err := udpbatch.New(c, batch, 2048)
		if err != nil {
			return nil, err
		}
		f.listeners = append(f.listeners, b)
	}
	return f, nil
}

func (f *forwarder) addr() net.Addr { return f.listeners[0].UDP().LocalAddr() }

func (f *forwarder) run() {
	for _, l := range f.listeners {
		f.wg.Add(1)
		go f.readClients(l)
	}
	go f.reapIdle()
	f.wg.Wait()
}

// readClients moves client datagrams to their sessions' relay sockets,
// grouping each batch by session so one sendmmsg carries a client's burst.
func (f *forwarder) readClients(l *udpbatch.Conn) {
	defer f.wg.Done()
	type group struct {
		s    *session
		bufs [][]byte
	}
	var groups []group
	for {
		n, err := l.Read()
		if err != nil {
			if !f.closed.Load() {
				fmt.Printf("udpforward: read: %v\n", err)
			}
			return
		}
		groups = groups[:0]
		now := time.Now().UnixNano()
		for i := range n {
			src := l.Addr(i)
			s, err := f.session(src, l)
			if err != nil {
				fmt.Printf("udpforward: session for %s: %v\n", src, err)
				continue
			}
			s.lastSeen.Store(now)
			j := 0
			for j < len(groups) && groups[j].s != s {
				j++
			}
			if j == len(groups) {
				groups = append(groups, group{s: s, bufs: make([][]byte, 0, n)})
			}
			groups[j].bufs = append(groups[j].bufs, l.Buf(i))
		}
		for _, g := range groups {
			// Send errors (peer gone: ECONNREFUSED) drop the packet, as a
			// relay would; the client sees them as loss.
			_, _ = g.s.relay.Write(g.bufs, nil)
		}
	}
}

func (f *forwarder) session(src netip.AddrPort, back *udpbatch.Conn) (*session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sessions[src]; ok {
		return s, nil
	}
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, f.peer)
	if err != nil {
		return nil, fmt.Errorf("relay socket: %w", err)
	}
	udpbatch.SetBuffers(c, f.bufBytes)
	rb, err := udpbatch.New(c, f.batch, 2048)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	bw, err := udpbatch.NewWriter(back.UDP(), f.batch)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	s := &session{client: src, relay: rb, back: bw}
	f.sessions[src] = s
	f.wg.Add(1)
	go f.readPeer(s)
	return s, nil
}

// readPeer returns the peer's replies to the session's client.
func (f *forwarder) readPeer(s *session) {
	defer f.wg.Done()
	bufs := make([][]byte, 0, f.batch)
	addrs := make([]netip.AddrPort, 0, f.batch)
	for {
		n, err := s.relay.Read()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !f.closed.Load() {
				fmt.Printf("udpforward: relay read: %v\n", err)
			}
			return
		}
		bufs, addrs = bufs[:0], addrs[:0]
		for i := range n {
			bufs = append(bufs, s.relay.Buf(i))
			addrs = append(addrs, s.client)
		}
		_, _ = s.back.Write(bufs, addrs)
	}
}

// reapIdle closes sessions whose client went quiet, like an allocation
// expiring, so a long-running forwarder does not keep sockets forever.
func (f *forwarder) reapIdle() {
	t := time.NewTicker(f.idle / 2)
	defer t.Stop()
	for range t.C {
		if f.closed.Load() {
			return
		}
		cut := time.Now().Add(-f.idle).UnixNano()
		f.mu.Lock()
		for k, s := range f.sessions {
			if s.lastSeen.Load() < cut {
				_ = s.relay.UDP().Close()
				delete(f.sessions, k)
			}
		}
		f.mu.Unlock()
	}
}

func (f *forwarder) close() {
	f.closed.Store(true)
	for _, l := range f.listeners {
		_ = l.UDP().Close()
	}
	f.mu.Lock()
	for _, s := range f.sessions {
		_ = s.relay.UDP().Close()
	}
	f.mu.Unlock()
}
