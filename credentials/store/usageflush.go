package store

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"
)

// UsageFlusher writes a relay node's relayed bytes to the store, where the
// Usage Records API reads them: every interval, and once more when the node
// stops. Deltas are added, so any number of nodes write the same rows, and
// the totals survive restarts. Bytes taken since the last flush count on
// the UTC day of the flush.
type UsageFlusher struct {
	Store Store
	// Region is the node's configured region ("" for none).
	Region string
	// Take hands over the bytes per account relayed since it was last
	// called; Return takes back those a failed write could not store, so
	// they go out with the next flush.
	Take   func() map[string]uint64
	Return func(map[string]uint64)
	Log    *slog.Logger
	// Now is time.Now outside tests.
	Now func() time.Time
}

// Flush writes what Take hands over in one transaction; on failure it gives
// it back and returns the error.
func (f *UsageFlusher) Flush(ctx context.Context) error {
	taken := f.Take()
	if len(taken) == 0 {
		return nil
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	day := now()
	deltas := make([]UsageDelta, 0, len(taken))
	for account, n := range taken {
		// int64 holds 9 EB; a larger delta is a counter bug, not traffic.
		deltas = append(deltas, UsageDelta{AccountSID: account, Region: f.Region, Day: day, Bytes: int64(min(n, math.MaxInt64))})
	}
	// A fixed order makes concurrent nodes lock rows in the same order.
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].AccountSID < deltas[j].AccountSID })
	if err := f.Store.AddUsage(ctx, deltas); err != nil {
		f.Return(taken)
		return fmt.Errorf("flushing usage of %d accounts: %w", len(deltas), err)
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes a last time
// (bounded by finalTimeout) so a stopping node loses nothing it can write.
// Failures are logged once per outage; the usage is kept and retried.
func (f *UsageFlusher) Run(ctx context.Context, every, finalTimeout time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), finalTimeout)
			defer cancel()
			if err := f.Flush(final); err != nil {
				f.Log.Error("usage: final flush failed; the usage since the last flush is lost", "err", err)
			}
			return
		case <-t.C:
		}
		pollCtx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		err := f.Flush(pollCtx)
		cancel()
		switch {
		case err != nil && !failing:
			f.Log.Warn("usage: cannot write usage records; keeping the counts to retry", "err", err)
			failing = true
		case err == nil && failing:
			f.Log.Info("usage: writing usage records again")
			failing = false
		}
	}
}
