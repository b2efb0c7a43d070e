package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// relayLoop echoes through a session over and over on its own goroutine
// until stopped, counting rounds and keeping the first error.
type relayLoop struct {
	rounds atomic.Int64
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func startRelayLoop(send func([]byte) error) *relayLoop {
	l := &relayLoop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			if err := send([]byte("round " + strconv.Itoa(i))); err != nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				return
			}
			l.rounds.Add(1)
		}
	}()
	return l
}

// waitRounds waits until more than n rounds have succeeded in all.
func (l *relayLoop) waitRounds(t *testing.T, n int64) {
	t.Helper()
	testenv.WaitForErr(t, fmt.Sprintf("more than %d relayed rounds", n), 10*time.Second, func() error {
		if err := l.failed(); err != nil {
			t.Fatalf("relaying stopped after %d rounds: %v", l.rounds.Load(), err)
		}
		if got := l.rounds.Load(); got <= n {
			return fmt.Errorf("relaying stalled at %d rounds", got)
		}
		return nil
	})
}

func (l *relayLoop) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// halt stops the loop and returns its error, if any.
func (l *relayLoop) halt() error {
	close(l.stop)
	<-l.done
	return l.failed()
}

// TestDrain: on SIGTERM the binary turns unready at once and refuses new
// allocations, while a live allocation keeps relaying (through a SIGHUP
// too); the process exits 0 when that allocation is released, or when the
// drain timeout passes; a second SIGTERM exits at once with status 1.
func TestDrain(t *testing.T) {
	tests := []struct {
		name string
		// drainTimeout is far longer than the wait for the exit when the
		// exit must come from something else than the timeout.
		drainTimeout time.Duration
		// during checks relaying, refusal and SIGHUP mid-drain; only for a
		// drain timeout too long to pass while the checks run.
		during bool
		// end is what the test does once draining is shown.
		end      func(t *testing.T, p *proc, s *turnSession)
		wantCode int
		wantLog  string
	}{
		{
			name:         "released allocation ends the drain",
			drainTimeout: 5 * time.Minute,
			during:       true,
			end:          func(_ *testing.T, _ *proc, s *turnSession) { s.Close() },
			wantCode:     0,
			wantLog:      "turnkey: stopped",
		},
		{
			name:         "drain timeout ends the drain",
			drainTimeout: time.Second,
			end:          func(*testing.T, *proc, *turnSession) {},
			wantCode:     0,
			wantLog:      "drain timeout passed",
		},
		{
			// The second signal skips the wait and the orderly shutdown;
			// its status 1 tells a supervisor the drain was cut short.
			name:         "second signal exits at once",
			drainTimeout: 5 * time.Minute,
			during:       true,
			end:          func(t *testing.T, p *proc, _ *turnSession) { p.Signal(t, syscall.SIGTERM) },
			wantCode:     1,
			wantLog:      "second signal, exiting now",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newBinaryConfig(t)
			c.DrainTimeout = tc.drainTimeout
			p, _ := startBinaryReady(t, c)
			peer := testnet.UDPEcho(t)
			udp := fmt.Sprintf("127.0.0.1:%d", c.UDPPort)
			user, pass := mintTURN(binarySecret, "drain")

			s, _, err := dialAllocate("udp", udp, nil, user, pass)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			loop := startRelayLoop(func(b []byte) error { return s.echo(peer, b) })
			loop.waitRounds(t, 3)

			p.Signal(t, syscall.SIGTERM)
			testenv.WaitForErr(t, "/readyz 503 after SIGTERM", 5*time.Second, func() error {
				code, err := readyz(c.AdminListen)
				if err == nil && code != http.StatusServiceUnavailable {
					err = fmt.Errorf("/readyz %d", code)
				}
				return err
			})

			if tc.during {
				checkDuringDrain(t, p, loop, udp, user, pass)
			}
			if err := loop.halt(); err != nil && tc.during {
				t.Fatalf("live allocation stopped relaying during the drain: %v", err)
			}
			tc.end(t, p, s)
			if code := p.waitExit(t, 20*time.Second); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if p.countLog(tc.wantLog) == 0 {
				t.Errorf("log has no %q", tc.wantLog)
			}
			if tc.wantLog != "drain timeout passed" && p.countLog("drain timeout passed") > 0 {
				t.Error("the drain waited for its timeout")
			}
		})
	}
}

// checkDuringDrain shows a draining node relaying on for the live
// allocation, refusing a new one and surviving a SIGHUP.
func checkDuringDrain(t *testing.T, p *proc, loop *relayLoop, udp, user, pass string) {
	t.Helper()
	loop.waitRounds(t, loop.rounds.Load()+5)
	if s2, _, err := dialAllocate("udp", udp, nil, user, pass); err == nil {
		s2.Close()
		t.Fatal("new allocation accepted while draining")
	} else if code := turnErrorCode(err); code != 486 {
		t.Fatalf("new allocation while draining: %v (code %d), want 486", err, code)
	}

	// A reload while draining (say, a certificate renewal hook)
	// neither ends nor cuts short the drain.
	reloaded := p.countLog("reload: configuration applied")
	p.Signal(t, syscall.SIGHUP)
	p.waitLog(t, reloaded, "reload: configuration applied")
	loop.waitRounds(t, loop.rounds.Load()+3)
	if p.Exited() {
		t.Fatalf("turnkey exited on SIGHUP while draining, code %d", p.ExitCode())
	}
}
