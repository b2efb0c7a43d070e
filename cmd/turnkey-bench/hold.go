package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/turnkey-dev/turnkey/internal/promtext"
)

// runHold opens -allocs idle allocations, each with a permission, and
// reports the server's resident memory per allocation (and its goroutines,
// from -metrics), then holds them for -hold before releasing them.
func runHold(cfg *config, peer *net.UDPAddr) (*result, error) {
	if cfg.serverPID <= 0 {
		return nil, fmt.Errorf("hold: -server-pid is required to read the server's RSS")
	}
	before := rssBytes(cfg.serverPID)
	t0 := time.Now()
	as, err := openMany(cfg, cfg.allocs, peer, true, false, true)
	if err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	opened := time.Since(t0)
	// Let the server's allocator and GC settle: idle RSS is the figure.
	time.Sleep(cfg.settle)
	after := rssBytes(cfg.serverPID)
	r := &result{
		Label: cfg.label, Mode: "hold", Server: cfg.server, Transport: cfg.transport,
		Held: len(as), RSSBefore: before, RSSAfter: after, OpenSeconds: opened.Seconds(),
		BytesPerAlloc: float64(after-before) / float64(len(as)),
		ClientCPU:     -1, ServerCPU: -1, ServerSysCPU: -1, OtherCPU: -1, ServerPID: cfg.serverPID,
	}
	if cfg.metrics != "" {
		g, err := scrapeGauge(cfg.metrics, "go_goroutines")
		if err != nil {
			fmt.Fprintf(os.Stderr, "turnkey-bench: %v\n", err)
		} else {
			r.Goroutines = g
		}
	}
	if cfg.hold > 0 {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		select {
		case <-sig:
		case <-time.After(cfg.hold):
		}
		signal.Stop(sig)
	}
	closeMany(as, cfg.concurrency)
	return r, nil
}

// scrapeGauge reads one metric from a Prometheus text endpoint.
func scrapeGauge(url, name string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fams, err := promtext.Fetch(ctx, http.DefaultClient, url)
	if err != nil {
		return 0, err
	}
	v, ok := fams.Value(name)
	if !ok {
		return 0, fmt.Errorf("scrape %s: no %s sample", url, name)
	}
	return int64(v), nil
}
