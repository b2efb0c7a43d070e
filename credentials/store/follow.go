package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RevocationCache is a relay's in-memory copy of the revocation feed. Relays
// consult it on every authentication, so a lookup is a map read; the feed is
// polled in the background and the cache keeps answering from what it has
// while the database is unreachable.
type RevocationCache struct {
	mu      sync.RWMutex
	revoked map[string]time.Time
	last    int64
	// keep is how long an entry matters: no credential issued before a
	// revocation can still be valid after the longest TTL (plus skew).
	keep time.Duration
	// onRevoke are told each revocation new to the cache (OnRevoke).
	onRevoke []func(Revocation)
}

// OnRevoke registers f to be told each revocation the cache learns, from
// Sync or Add, once per credential ID while it is in the cache; relays
// close the live allocations it covers. f runs on the caller's goroutine
// after the cache is updated, so it must not call back into Add or Sync.
func (c *RevocationCache) OnRevoke(f func(Revocation)) {
	c.mu.Lock()
	c.onRevoke = append(c.onRevoke, f)
	c.mu.Unlock()
}

// tell runs the hooks for revocations just applied.
func (c *RevocationCache) tell(fresh []Revocation) {
	if len(fresh) == 0 {
		return
	}
	c.mu.RLock()
	hooks := c.onRevoke
	c.mu.RUnlock()
	for _, r := range fresh {
		for _, f := range hooks {
			f(r)
		}
	}
}

// NewRevocationCache returns an empty cache whose entries expire after keep.
func NewRevocationCache(keep time.Duration) *RevocationCache {
	return &RevocationCache{revoked: map[string]time.Time{}, keep: keep}
}

// Revoked reports whether credentials issued under credID (a key SID, an
// auth-token ID, or an account SID while the account is suspended or
// closed) were revoked.
func (c *RevocationCache) Revoked(credID string) bool {
	c.mu.RLock()
	_, ok := c.revoked[credID]
	c.mu.RUnlock()
	return ok
}

// Add records a revocation made by this process, so it applies at once
// rather than at the next poll.
func (c *RevocationCache) Add(credID string, at time.Time) {
	c.mu.Lock()
	_, had := c.revoked[credID]
	c.revoked[credID] = at
	c.mu.Unlock()
	if !had {
		c.tell([]Revocation{{CredID: credID, RevokedAt: at}})
	}
}

// Sync reads the feed entries not yet seen and drops expired ones.
func (c *RevocationCache) Sync(ctx context.Context, st Store) error {
	for {
		c.mu.RLock()
		after := c.last
		c.mu.RUnlock()
		batch, err := st.RevocationsAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		var fresh []Revocation
		c.mu.Lock()
		for _, r := range batch {
			if r.Seq > c.last {
				c.last = r.Seq
			}
			// The feed is in order, so a reactivation lifts exactly the
			// suspensions before it.
			if r.Reinstated {
				delete(c.revoked, r.CredID)
				continue
			}
			if _, had := c.revoked[r.CredID]; !had {
				fresh = append(fresh, r)
			}
			c.revoked[r.CredID] = r.RevokedAt
		}
		cutoff := time.Now().Add(-c.keep)
		for id, at := range c.revoked {
			if at.Before(cutoff) {
				delete(c.revoked, id)
			}
		}
		c.mu.Unlock()
		c.tell(fresh)
		if len(batch) < 1000 {
			return nil
		}
	}
}

// Follow polls the feed every interval until ctx ends. Errors are logged
// once per outage, not per poll.
func (c *RevocationCache) Follow(ctx context.Context, st Store, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		// Bound each poll: a database that drops packets must not stall the
		// feed past the next interval.
		pollCtx, cancel := context.WithTimeout(ctx, max(every, 2*time.Second))
		err := c.Sync(pollCtx, st)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("revocation feed unreachable; keeping the revocations already known", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("revocation feed reachable again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
