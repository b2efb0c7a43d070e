package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// feedStore is a Store whose only working parts are the revocation feed and
// Close, all a reconnecting relay uses.
type feedStore struct {
	Store // nil: any other method would panic
	feed  []Revocation
	// closed counts Close calls.
	closed atomic.Int32
}

func (f *feedStore) RevocationsAfter(_ context.Context, after int64, limit int) ([]Revocation, error) {
	var out []Revocation
	for _, r := range f.feed {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *feedStore) Close() error {
	f.closed.Add(1)
	return nil
}

// flakyOpener fails its first failures attempts (all of them when
// failures < 0), then opens st.
type flakyOpener struct {
	failures int
	err      error
	// hang makes a failing attempt wait for its context to end, as a
	// database that drops packets does.
	hang     bool
	st       *feedStore
	attempts atomic.Int32
	// noDeadline counts attempts whose context had no deadline.
	noDeadline atomic.Int32
}

func (o *flakyOpener) open(ctx context.Context) (Store, error) {
	n := int(o.attempts.Add(1))
	if _, ok := ctx.Deadline(); !ok {
		o.noDeadline.Add(1)
	}
	if o.failures >= 0 && n > o.failures {
		return o.st, nil
	}
	if o.hang {
		<-ctx.Done()
		return nil, fmt.Errorf("store: open postgres: %w", ctx.Err())
	}
	return nil, o.err
}

// TestReconnect: Run retries with backoff until the store opens, hands it
// over, brings the cache up to date from the feed and follows it; cancel
// stops it, and it returns (closing the store after Release) with nothing
// of it left running.
func TestReconnect(t *testing.T) {
	refused := errors.New("store: open postgres: connection refused")
	mismatch := fmt.Errorf("store: open postgres: %w", ErrSealKeyMismatch)
	tests := []struct {
		name     string
		failures int
		err      error
		hang     bool
		// wantLog is logged once per failed attempt.
		wantLog string
		// openBy bounds when the store opens, in fake time: the jittered
		// waits (each in [d/2, d)) plus any attempts cut off.
		openAfter, openBy time.Duration
	}{
		{name: "opens at the first retry", failures: 0,
			openAfter: 250 * time.Millisecond, openBy: 500 * time.Millisecond},
		{name: "refused three times", failures: 3, err: refused, wantLog: "level=DEBUG msg=\"store still unreachable\"",
			// waits 500 ms, 1 s, 2 s, 4 s
			openAfter: 3750 * time.Millisecond, openBy: 7500 * time.Millisecond},
		{name: "wait capped at RetryMax", failures: 7, err: refused, wantLog: "store still unreachable",
			// 0.5, 1, 2, 4, 8, then 10, 10, 10 s
			openAfter: 22750 * time.Millisecond, openBy: 45500 * time.Millisecond},
		{name: "seal key mismatch logged as an error each time", failures: 2, err: mismatch,
			wantLog:   "level=ERROR msg=\"store refuses this node's store.encryption_key",
			openAfter: 1750 * time.Millisecond, openBy: 3500 * time.Millisecond},
		{name: "hanging attempts cut off", failures: 2, hang: true, wantLog: "store still unreachable",
			// waits 0.5, 1, 2 s plus two 5 s attempts
			openAfter: 11750 * time.Millisecond, openBy: 13500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &feedStore{feed: []Revocation{{Seq: 1, CredID: "SK1", RevokedAt: time.Now()}}}
				op := &flakyOpener{failures: tt.failures, err: tt.err, hang: tt.hang, st: st}
				logs := &logbuf.Buffer{}
				release := make(chan struct{})
				var mu sync.Mutex
				var openedAt time.Time
				var handed Store
				cache := NewRevocationCache(time.Hour)
				r := &Reconnect{
					Open:    op.open,
					Revoked: cache,
					Poll:    time.Second,
					Opened: func(s Store) {
						mu.Lock()
						defer mu.Unlock()
						handed, openedAt = s, time.Now()
					},
					Release: release,
					Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				}
				ctx, cancel := context.WithCancel(context.Background())
				start := time.Now()
				done := make(chan struct{})
				go func() { defer close(done); r.Run(ctx) }()

				time.Sleep(tt.openBy)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if handed != st {
					t.Fatalf("store not handed over by %v (attempts %d)", tt.openBy, op.attempts.Load())
				}
				if took := openedAt.Sub(start); took < tt.openAfter || took >= tt.openBy {
					t.Errorf("opened after %v, want in [%v, %v)", took, tt.openAfter, tt.openBy)
				}
				if got, want := int(op.attempts.Load()), tt.failures+1; got != want {
					t.Errorf("%d attempts, want %d", got, want)
				}
				if n := op.noDeadline.Load(); n > 0 {
					t.Errorf("%d attempts had no deadline", n)
				}
				if tt.wantLog != "" {
					if got := strings.Count(logs.String(), tt.wantLog); got != tt.failures {
						t.Errorf("logged %q %d times, want %d:\n%s", tt.wantLog, got, tt.failures, logs)
					}
				}
				if !cache.Revoked("SK1") {
					t.Error("cache not brought up to date from the feed")
				}
				if !strings.Contains(logs.String(), "store reachable; following the revocation feed") {
					t.Errorf("no reachable line:\n%s", logs)
				}

				cancel()
				synctest.Wait()
				if st.closed.Load() != 0 {
					t.Error("store closed before Release")
				}
				select {
				case <-done:
					t.Fatal("Run returned before Release")
				default:
				}
				close(release)
				<-done
				if n := st.closed.Load(); n != 1 {
					t.Errorf("store closed %d times, want 1", n)
				}
			})
		})
	}
}

// TestReconnectCancel: a store that never opens is retried until ctx ends;
// then Run returns at once, even mid-attempt, hands nothing over and opens
// nothing more.
func TestReconnectCancel(t *testing.T) {
	tests := []struct {
		name string
		hang bool
		// cancelAt lands in a wait between attempts, or inside an attempt
		// that hangs.
		cancelAt time.Duration
	}{
		{name: "before the first attempt", cancelAt: 100 * time.Millisecond},
		{name: "between attempts", cancelAt: 20 * time.Second},
		{name: "during a hanging attempt", hang: true, cancelAt: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op := &flakyOpener{failures: -1, err: errors.New("refused"), hang: tt.hang}
				var handed atomic.Bool
				r := &Reconnect{Open: op.open, Revoked: NewRevocationCache(time.Hour), Poll: time.Second,
					Opened: func(Store) { handed.Store(true) },
					Log:    slog.New(slog.DiscardHandler)}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); r.Run(ctx) }()
				time.Sleep(tt.cancelAt)
				cancel()
				synctest.Wait()
				select {
				case <-done:
				default:
					t.Fatal("Run still running after cancel")
				}
				attempts := op.attempts.Load()
				time.Sleep(time.Minute)
				if got := op.attempts.Load(); got != attempts {
					t.Errorf("%d attempts after Run returned", got-attempts)
				}
				if handed.Load() {
					t.Error("a store was handed over")
				}
			})
		})
	}
}

// TestReconnectTryOpen: one attempt, bounded by AttemptTimeout.
func TestReconnectTryOpen(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{name: "default bound", want: 5 * time.Second},
		{name: "configured bound", timeout: 300 * time.Millisecond, want: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				op := &flakyOpener{failures: -1, hang: true}
				r := &Reconnect{Open: op.open, AttemptTimeout: tt.timeout}
				start := time.Now()
				if _, err := r.TryOpen(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err %v, want a deadline", err)
				}
				if took := time.Since(start); took != tt.want {
					t.Errorf("attempt took %v, want %v", took, tt.want)
				}
				if n := op.attempts.Load(); n != 1 {
					t.Errorf("%d attempts, want 1", n)
				}
			})
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name      string
		wait, max time.Duration
		want      []time.Duration
	}{
		{name: "doubles to the cap", wait: 500 * time.Millisecond, max: 10 * time.Second,
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{name: "starts at the cap", wait: time.Second, max: time.Second,
			want: []time.Duration{time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{wait: tt.wait, max: tt.max}
			for i, want := range tt.want {
				if got := b.next(); got != want {
					t.Errorf("wait %d: %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		d, lo, hi time.Duration // want in [lo, hi]
	}{
		{d: 500 * time.Millisecond, lo: 250 * time.Millisecond, hi: 500*time.Millisecond - 1},
		{d: 10 * time.Second, lo: 5 * time.Second, hi: 10*time.Second - 1},
		{d: 1, lo: 1, hi: 1},
		{d: 0, lo: 0, hi: 0},
	}
	for _, tt := range tests {
		for range 100 {
			if got := jitter(tt.d); got < tt.lo || got > tt.hi {
				t.Fatalf("jitter(%v) = %v, want in [%v, %v]", tt.d, got, tt.lo, tt.hi)
			}
		}
	}
}
