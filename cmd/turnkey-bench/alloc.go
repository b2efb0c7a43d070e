package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/credentials"
)

// channelNumber is the one channel each allocation binds (0x4000 is the
// first legal number; each allocation has its own 5-tuple, so they may all
// use it).
const channelNumber = 0x4000

// allocation is one client socket and its TURN allocation.
type allocation struct {
	index int
	w     wire
	ctl   *control
}

// sources spreads client sockets over several loopback addresses: one
// address has ~28k ephemeral ports, fewer than the 30k allocations the
// memory run needs.
//
// With sequential set, it also chooses the source port itself, walking
// each address's ports in order. The kernel's ephemeral choice reuses a
// just-closed port often, and a server may still hold state for that
// 5-tuple (coturn answers 437 Allocation Mismatch): churning allocations
// on recycled 5-tuples measures that artefact, not allocation speed.
type sources struct {
	ips        []string
	sequential bool
	next       atomic.Uint64
}

// Ports walked in sequential mode: below the ephemeral range's usual
// start on other hosts, above the privileged ones.
const (
	seqPortLow  = 10000
	seqPortHigh = 60999
)

func (s *sources) pick() (ip string, port int) {
	n := s.next.Add(1) - 1
	ip = s.ips[int(n%uint64(len(s.ips)))]
	if s.sequential {
		port = seqPortLow + int(n/uint64(len(s.ips))%(seqPortHigh-seqPortLow+1))
	}
	return ip, port
}

// openAllocation runs Allocate (+ CreatePermission, + ChannelBind) for user
// <identity>-<index> with a REST credential valid for an hour.
func openAllocation(cfg *config, src *sources, index int, peer *net.UDPAddr, permission, bind bool) (*allocation, error) {
	w, err := dialFrom(cfg.transport, src, cfg.server)
	if err != nil {
		return nil, err
	}
	user, pass := credentials.MintTURN([]byte(cfg.secret), time.Now().Add(time.Hour), fmt.Sprintf("%s-%d", cfg.identity, index))
	c := &control{w: w, user: user, pass: pass, realm: cfg.realm, expectRealm: cfg.realm,
		rto: cfg.rto, maxRTO: cfg.maxRTO, tries: cfg.tries}
	c.integrity = stun.NewLongTermIntegrity(user, cfg.realm, pass)
	a := &allocation{index: index, w: w, ctl: c}
	if err := c.allocate(); err != nil {
		_ = w.close()
		return nil, err
	}
	if permission {
		if err := c.createPermission(peer); err != nil {
			_ = a.close()
			return nil, err
		}
	}
	if bind {
		if err := c.channelBind(peer, channelNumber); err != nil {
			_ = a.close()
			return nil, err
		}
	}
	return a, nil
}

// dialFrom opens a wire from the next source; a port still taken (by a
// server's relay socket on the same address, or a socket not yet closed)
// is skipped.
func dialFrom(transport string, src *sources, server string) (wire, error) {
	var err error
	for range 32 {
		ip, port := src.pick()
		var w wire
		w, err = dialWire(transport, ip, port, server)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return w, err
		}
	}
	return nil, err
}

// close releases the allocation (best effort) and closes the socket.
func (a *allocation) close() error {
	err := a.ctl.release()
	_ = a.w.close()
	return err
}

// openMany opens n allocations with bounded parallelism and fails if any
// fails; progress is printed for large counts.
func openMany(cfg *config, n int, peer *net.UDPAddr, permission, bind bool, progress bool) ([]*allocation, error) {
	src := &sources{ips: cfg.clientIPs}
	out := make([]*allocation, n)
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(n, cfg.concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				a, err := openAllocation(cfg, src, i, peer, permission, bind)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("allocation %d: %w", i, err))
					mu.Unlock()
					continue
				}
				out[i] = a
				if progress && (i+1)%5000 == 0 {
					fmt.Printf("  opened %d/%d allocations\n", i+1, n)
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		closeMany(out, cfg.concurrency)
		return nil, fmt.Errorf("%d of %d allocations failed; first: %w", len(errs), n, summarize(errs))
	}
	return out, nil
}

// closeMany releases allocations in parallel.
func closeMany(as []*allocation, workers int) {
	ch := make(chan *allocation)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				_ = a.close()
			}
		}()
	}
	for _, a := range as {
		if a != nil {
			ch <- a
		}
	}
	close(ch)
	wg.Wait()
}

func summarize(errs []error) error {
	kinds := map[string]int{}
	for _, e := range errs {
		kinds[errKind(e)]++
	}
	var b strings.Builder
	for k, v := range kinds {
		fmt.Fprintf(&b, "%dx %s; ", v, k)
	}
	return errors.Join(errs[0], errors.New("kinds: "+b.String()))
}

// errKind groups errors for counting: the text without addresses and
// numbers would be best, but the first 60 bytes of the innermost message
// are enough to tell a 401 from a 486 or a timeout.
func errKind(e error) string {
	var se *errSTUN
	if errors.As(e, &se) {
		return se.Error()
	}
	s := e.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		s = s[i+2:]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
