package store

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Reconnecting to the store: each attempt is bounded, so a database that
// drops packets rather than refusing them cannot hang a relay, and the wait
// between attempts doubles up to a cap, jittered, so a fleet of relays does
// not hammer a database that is coming back.
const (
	defaultAttemptTimeout = 5 * time.Second
	defaultRetryMin       = 500 * time.Millisecond
	defaultRetryMax       = 10 * time.Second
)

// Reconnect is how a relay that could not open its store keeps trying: the
// relay authenticates fresh credentials without the database, so instead of
// failing to start it retries in the background and, once the store opens,
// follows the revocation feed. Only the feed (and the usage records) need
// the store on a relay; nothing waits for it.
type Reconnect struct {
	// Open makes one attempt to open the store (store.Open with the node's
	// DSN, data directory and seal key); the context bounds it.
	Open func(ctx context.Context) (Store, error)
	// Revoked is the cache that follows the feed once the store opens,
	// polling every Poll (which must be positive).
	Revoked *RevocationCache
	Poll    time.Duration
	// Opened, if set, is handed the store once it opens: the relay's usage
	// flusher writes to it. It must not block.
	Opened func(Store)
	// Release, if set, closes once whatever Opened handed the store to is
	// done with it (the usage flusher writes once more at shutdown); Run
	// closes the store only after that.
	Release <-chan struct{}
	Log     *slog.Logger
	// AttemptTimeout bounds each attempt (default 5 s); the wait between
	// attempts starts at RetryMin (500 ms) and doubles up to RetryMax
	// (10 s). Zero means the default.
	AttemptTimeout, RetryMin, RetryMax time.Duration
}

// TryOpen makes one attempt to open the store, bounded by AttemptTimeout:
// a relay's first try at start, before it goes on without the store.
func (r *Reconnect) TryOpen(ctx context.Context) (Store, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.AttemptTimeout, defaultAttemptTimeout))
	defer cancel()
	return r.Open(ctx)
}

// Run retries opening the store until it opens or ctx ends, then follows
// the revocation feed until ctx ends. It waits before every attempt, the
// first included: it is meant for after TryOpen has failed. Run owns the
// store it opens and closes it when ctx has ended and Release has closed;
// it returns only then, so nothing of it outlives ctx.
func (r *Reconnect) Run(ctx context.Context) {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	st := r.openWhenReachable(ctx, log)
	if st == nil {
		return
	}
	if r.Opened != nil {
		r.Opened(st)
	}
	defer func() {
		if r.Release != nil {
			<-r.Release
		}
		_ = st.Close()
	}()
	// Logged after the first read so that, once it appears, the relay
	// already refuses what was revoked while it was cut off.
	if err := r.Revoked.Sync(ctx, st); err != nil && ctx.Err() == nil {
		log.Warn("revocation feed: first read failed", "err", err)
	}
	log.Info("store reachable; following the revocation feed")
	r.Revoked.Follow(ctx, st, r.Poll, log)
}

// openWhenReachable retries TryOpen with backoff; nil when ctx ended first.
func (r *Reconnect) openWhenReachable(ctx context.Context, log *slog.Logger) Store {
	b := backoff{wait: orDefault(r.RetryMin, defaultRetryMin), max: orDefault(r.RetryMax, defaultRetryMax)}
	t := time.NewTimer(jitter(b.wait))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := r.TryOpen(ctx)
		if err == nil {
			return st
		}
		if ctx.Err() != nil {
			return nil
		}
		next := jitter(b.next())
		if errors.Is(err, ErrSealKeyMismatch) {
			// Retrying cannot fix this one; say so loudly each time.
			log.Error("store refuses this node's store.encryption_key; the revocation feed stays off", "err", err, "retry_in", next)
		} else {
			log.Debug("store still unreachable", "err", err, "retry_in", next)
		}
		t.Reset(next)
	}
}

// backoff doubles the wait after each failure, up to max.
type backoff struct {
	wait, max time.Duration
}

// next is the wait after one more failure.
func (b *backoff) next() time.Duration {
	b.wait = min(2*b.wait, b.max)
	return b.wait
}

// jitter returns a duration in [d/2, d), spreading the retries of many
// nodes; d itself when it is too short to split.
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
