package store

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"
)

// TestUsageFlusher: a flush adds what Take hands over under the node's
// region; a failed write gives it back; Run writes once more when stopped.
func TestUsageFlusher(t *testing.T) {
	ctx := t.Context()
	c := &conformance{t: t, ctx: ctx, db: freshSQLite(t), key: randomKey(t)}
	s := c.open()
	a := c.createAccount(s, "a")
	var mu sync.Mutex
	pending := map[string]uint64{}
	add := func(n uint64) {
		mu.Lock()
		defer mu.Unlock()
		pending[a.SID] += n
	}
	day := time.Date(2031, 7, 8, 9, 0, 0, 0, time.UTC)
	f := &UsageFlusher{Store: s, Region: "eu", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return day },
		Take: func() map[string]uint64 {
			mu.Lock()
			defer mu.Unlock()
			out := pending
			pending = map[string]uint64{}
			return out
		},
		Return: func(u map[string]uint64) {
			mu.Lock()
			defer mu.Unlock()
			for k, v := range u {
				pending[k] += v
			}
		}}
	add(40)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	add(2)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.usage(s, a.SID, false, day, day); len(got) != 1 || got[0] != (UsageDay{Region: "eu", Day: utcDay(day), Bytes: 42}) {
		t.Errorf("after two flushes: %+v", got)
	}

	add(5)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Flush(cancelled); err == nil {
		t.Fatal("a flush with a cancelled context succeeded")
	}
	mu.Lock()
	kept := maps.Clone(pending)
	mu.Unlock()
	if kept[a.SID] != 5 {
		t.Errorf("after a failed flush the ledger holds %v, want the 5 bytes back", kept)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(runCtx, time.Hour, 5*time.Second); close(done) }()
	stop()
	<-done
	if got := c.usage(s, a.SID, false, day, day); len(got) != 1 || got[0].Bytes != 47 {
		t.Errorf("after Run stopped: %+v, want 47 bytes", got)
	}
}
