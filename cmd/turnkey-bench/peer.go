package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"github.com/turnkey-dev/turnkey/bench/udpbatch"
)

// echoPeer is the UDP peer every relayed packet goes to and comes back from.
// It is built in so a run needs no other tool, and batched so that it costs
// less CPU than the server it helps to measure.
type echoPeer struct {
	conns []*udpbatch.Conn
	addr  *net.UDPAddr
}

func startEchoPeer(addr string, sockbuf int) (*echoPeer, error) {
	n := max(1, runtime.GOMAXPROCS(0))
	conns, err := udpbatch.ListenReusePort(addr, n, sockbuf)
	if err != nil {
		return nil, fmt.Errorf("echo peer: %w", err)
	}
	p := &echoPeer{addr: conns[0].LocalAddr().(*net.UDPAddr)}
	for _, c := range conns {
		b, err := udpbatch.New(c, 64, 2048)
		if err != nil {
			return nil, fmt.Errorf("echo peer: %w", err)
		}
		p.conns = append(p.conns, b)
		go p.serve(b)
	}
	return p, nil
}

func (p *echoPeer) serve(c *udpbatch.Conn) {
	bufs := make([][]byte, 0, c.Batch())
	addrs := make([]netip.AddrPort, 0, c.Batch())
	for {
		n, err := c.Read()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Printf("echo peer: %v\n", err)
			}
			return
		}
		bufs, addrs = bufs[:0], addrs[:0]
		for i := range n {
			bufs = append(bufs, c.Buf(i))
			addrs = append(addrs, c.Addr(i))
		}
		_, _ = c.Write(bufs, addrs)
	}
}

func (p *echoPeer) close() {
	for _, c := range p.conns {
		_ = c.UDP().Close()
	}
}
