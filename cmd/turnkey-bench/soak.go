package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/turnkey-dev/turnkey/internal/promtext"
)

// soakOpts are the flags only soak has; -n is config.allocs and -pid
// config.serverPID.
type soakOpts struct {
	admin       string
	warmup      int
	goroutineOK int
	fdOK        int
	rssOK       int64
}

// soakMain is "turnkey-bench soak ARGS". It drives a running turnkey over
// UDP: it creates and releases many TURN allocations (100,000 by default)
// with REST credentials, then waits for the server to settle and reports
// its goroutines, open file descriptors and resident memory before, at the
// peak and after, as a table and as one JSON line. A leak shows as a count
// that does not come back.
//
//	turnkey-bench soak -server 127.0.0.1:3478 -secret S -admin 127.0.0.1:9641
//	turnkey-bench soak -server 127.0.0.1:3478 -secret S -pid 1234   # no admin listener
//
// Numbers come from the admin listener's /metrics (go_goroutines,
// process_open_fds, process_resident_memory_bytes,
// turnkey_allocations_active) or, with -pid alone, from /proc (no goroutine
// count there; threads are shown instead). It writes nothing but its output.
//
// It returns the exit status: 2 for bad flags, 1 when the run fails or the
// counts do not come back.
func soakMain(args []string) int {
	cfg, err := parseSoakFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-bench soak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runSoak(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-bench soak:", err)
		return 1
	}
	res.writeTable(os.Stdout)
	line, err := jsonLine(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-bench soak:", err)
		return 1
	}
	_, _ = os.Stdout.Write(line)
	if !res.Pass {
		return 1
	}
	return 0
}

func parseSoakFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("turnkey-bench soak", flag.ContinueOnError)
	// Many client addresses, kept off the relay's, so client and relay
	// ports never collide and no port is reused at once.
	ips := "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5"
	c := &config{transport: "udp", identity: "soak", maxRTO: 4 * time.Second,
		concurrency: 200, duration: 30 * time.Minute, settle: 2 * time.Minute, tries: 6}
	addSharedFlags(fs, c, &ips)
	o := &c.soak
	fs.StringVar(&o.admin, "admin", "", "admin listener (host:port or URL) whose /metrics is read")
	fs.IntVar(&c.serverPID, "pid", 0, "turnkey's process ID, read from /proc when -admin is not given")
	fs.IntVar(&c.allocs, "n", 100000, "allocations to create and release")
	fs.IntVar(&o.warmup, "warmup", 1000, "allocations created and released before the baseline is taken, "+
		"so one-off start-up growth (pools, the heap's first growth) is not counted as a leak")
	fs.IntVar(&o.goroutineOK, "goroutine-tolerance", 5, "goroutines above baseline still counted as baseline")
	fs.IntVar(&o.fdOK, "fd-tolerance", 5, "open descriptors above baseline still counted as baseline")
	rssMiB := fs.Int("rss-tolerance-mib", 8, "resident MiB above baseline still counted as baseline")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	o.rssOK = int64(*rssMiB) << 20
	c.clientIPs = splitIPs(ips)
	switch {
	case c.secret == "":
		return nil, errors.New("-secret is required")
	case o.admin == "" && c.serverPID == 0:
		return nil, errors.New("-admin or -pid is required: nothing to measure otherwise")
	case c.allocs < 1 || c.concurrency < 1 || c.tries < 1:
		return nil, errors.New("-n, -concurrency and -tries must be at least 1")
	}
	hostports := []string{c.server}
	if o.admin != "" {
		if !strings.Contains(o.admin, "://") {
			o.admin = "http://" + o.admin
		}
		o.admin = strings.TrimSuffix(o.admin, "/")
		u, err := url.Parse(o.admin)
		if err != nil {
			return nil, fmt.Errorf("-admin: %w", err)
		}
		hostports = append(hostports, net.JoinHostPort(u.Hostname(), "0"))
	}
	if err := loopbackOnly(c.clientIPs, hostports...); err != nil {
		return nil, err
	}
	return c, nil
}

// soakSample is the server's state at one instant; -1 means unknown.
type soakSample struct {
	Goroutines  int64 `json:"goroutines"`
	Threads     int64 `json:"threads"`
	OpenFDs     int64 `json:"open_fds"`
	RSSBytes    int64 `json:"rss_bytes"`
	Allocations int64 `json:"allocations_active"`
}

// soakResult is the run's report.
type soakResult struct {
	Server        string     `json:"server"`
	Requested     int        `json:"allocations_requested"`
	Warmup        int        `json:"warmup"`
	Created       int64      `json:"allocations_created"`
	Released      int64      `json:"allocations_released"`
	Failed        int64      `json:"failed"`
	Failures      []string   `json:"failures,omitempty"`
	Concurrency   int        `json:"concurrency"`
	Seconds       float64    `json:"seconds"`
	PerSecond     float64    `json:"allocations_per_second"`
	SettleSeconds float64    `json:"settle_seconds"`
	Idle          soakSample `json:"idle"`
	Before        soakSample `json:"before"`
	Peak          soakSample `json:"peak"`
	After         soakSample `json:"after"`
	Settled       bool       `json:"settled"`
	Pass          bool       `json:"pass"`
	Source        string     `json:"source"`
}

func runSoak(ctx context.Context, cfg *config, progress io.Writer) (*soakResult, error) {
	probe := newProber(cfg)
	n, warmup := cfg.allocs, cfg.soak.warmup
	res := &soakResult{Server: cfg.server, Requested: n, Warmup: warmup, Concurrency: cfg.concurrency, Source: probe.source()}
	var err error
	if res.Idle, err = probe.sample(ctx); err != nil {
		return nil, fmt.Errorf("first sample: %w", err)
	}
	if warmup > 0 {
		fmt.Fprintf(progress, "warming up: %d allocations\n", warmup)
		w := churn(ctx, cfg, warmup, 0, time.Now().Add(cfg.duration), nil)
		if w.failed > 0 {
			return nil, fmt.Errorf("warm-up: %d of %d allocations failed (%s)", w.failed, warmup, strings.Join(w.failures(), "; "))
		}
		// Let the released warm-up allocations end before the baseline.
		if _, _, err := waitSettled(ctx, probe, res.Idle, cfg, 10*time.Second); err != nil {
			return nil, err
		}
	}
	if res.Before, err = probe.sample(ctx); err != nil {
		return nil, fmt.Errorf("baseline sample: %w", err)
	}

	fmt.Fprintf(progress, "soak: %d allocations, %d at a time, against %s\n", n, cfg.concurrency, cfg.server)
	stopPeak := probe.watchPeak(ctx, res.Before)
	start := time.Now()
	c := churn(ctx, cfg, n, warmup, start.Add(cfg.duration), progress)
	res.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
	res.Peak = stopPeak()
	res.Created, res.Released, res.Failed, res.Failures = c.created.Load(), c.released.Load(), c.failed, c.failures()
	if res.Seconds > 0 {
		res.PerSecond = math.Round(float64(res.Created)/res.Seconds*10) / 10
	}

	settleStart := time.Now()
	after, settled, err := waitSettled(ctx, probe, res.Before, cfg, cfg.settle)
	if err != nil {
		return nil, err
	}
	res.After, res.Settled = after, settled
	res.SettleSeconds = math.Round(time.Since(settleStart).Seconds()*10) / 10
	res.Peak = maxSample(res.Peak, after)
	res.Pass = settled && res.Failed == 0 && res.Created == int64(n) && res.Released == res.Created
	return res, nil
}

// watchPeak samples once a second from now on for the peak; the function
// it returns stops sampling and gives the peak, base included.
func (p *prober) watchPeak(ctx context.Context, base soakSample) func() soakSample {
	ctx, cancel := context.WithCancel(ctx)
	peak := base
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				// A failed scrape only misses one sample of the peak.
				if s, err := p.sample(ctx); err == nil {
					peak = maxSample(peak, s)
				}
			}
		}
	}()
	return func() soakSample {
		cancel()
		<-done
		return peak
	}
}

// waitSettled polls until goroutines, descriptors, memory and live
// allocations are back within tolerance of base, or wait passes.
func waitSettled(ctx context.Context, p *prober, base soakSample, cfg *config, wait time.Duration) (soakSample, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		s, err := p.sample(ctx)
		if err != nil {
			return s, false, fmt.Errorf("sample while settling: %w", err)
		}
		if within(s, base, &cfg.soak) {
			return s, true, nil
		}
		if time.Now().After(deadline) {
			return s, false, nil
		}
		select {
		case <-ctx.Done():
			return s, false, fmt.Errorf("settling: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func within(s, base soakSample, o *soakOpts) bool {
	ok := func(v, b, tol int64) bool { return v < 0 || b < 0 || v <= b+tol }
	return ok(s.Goroutines, base.Goroutines, int64(o.goroutineOK)) &&
		ok(s.OpenFDs, base.OpenFDs, int64(o.fdOK)) &&
		ok(s.RSSBytes, base.RSSBytes, o.rssOK) &&
		ok(s.Allocations, base.Allocations, 0)
}

func maxSample(a, b soakSample) soakSample {
	return soakSample{
		Goroutines: max(a.Goroutines, b.Goroutines), Threads: max(a.Threads, b.Threads),
		OpenFDs: max(a.OpenFDs, b.OpenFDs), RSSBytes: max(a.RSSBytes, b.RSSBytes),
		Allocations: max(a.Allocations, b.Allocations),
	}
}

// churnStats counts one batch of allocations.
type churnStats struct {
	created, released atomic.Int64
	mu                sync.Mutex
	failed            int64
	kinds             map[string]int64
}

// fail counts err under its kind (errKind: without addresses and
// transaction IDs, so failures group).
func (c *churnStats) fail(prefix string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed++
	if c.kinds == nil {
		c.kinds = map[string]int64{}
	}
	c.kinds[prefix+errKind(err)]++
}

func (c *churnStats) failedCount() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *churnStats) failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.kinds))
	for k, n := range c.kinds {
		out = append(out, fmt.Sprintf("%d× %s", n, k))
	}
	return out
}

// churn creates and releases n allocations, concurrency at a time,
// numbering identities from first; it starts none after deadline.
func churn(ctx context.Context, cfg *config, n, first int, deadline time.Time, progress io.Writer) *churnStats {
	st := &churnStats{}
	src := &sources{ips: cfg.clientIPs}
	var next atomic.Int64
	var wg sync.WaitGroup
	var lastReport atomic.Int64
	lastReport.Store(time.Now().UnixNano())
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || time.Now().After(deadline) {
					return
				}
				churnOne(cfg, src, first+i, st)
				if progress != nil {
					now := time.Now().UnixNano()
					last := lastReport.Load()
					if now-last > int64(10*time.Second) && lastReport.CompareAndSwap(last, now) {
						fmt.Fprintf(progress, "  %d/%d released, %d failed\n", st.released.Load(), n, st.failedCount())
					}
				}
			}
		}()
	}
	wg.Wait()
	return st
}

// churnOne allocates for identity soak-<index> from a fresh socket, then
// releases with a zero-lifetime Refresh.
func churnOne(cfg *config, src *sources, index int, st *churnStats) {
	a, err := openAllocation(cfg, src, index, nil, false, false)
	if err != nil {
		st.fail("", err)
		return
	}
	st.created.Add(1)
	if err := a.close(); err != nil {
		st.fail("release: ", err)
		return
	}
	st.released.Add(1)
}

// prober reads the server's state from /metrics or /proc.
type prober struct {
	admin  string
	pid    int
	client *http.Client
}

func newProber(cfg *config) *prober {
	return &prober{admin: cfg.soak.admin, pid: cfg.serverPID, client: &http.Client{Timeout: 5 * time.Second}}
}

func (p *prober) source() string {
	if p.admin != "" {
		return p.admin + "/metrics"
	}
	return fmt.Sprintf("/proc/%d", p.pid)
}

func (p *prober) sample(ctx context.Context) (soakSample, error) {
	s := soakSample{Goroutines: -1, Threads: -1, OpenFDs: -1, RSSBytes: -1, Allocations: -1}
	if p.admin != "" {
		fams, err := promtext.Fetch(ctx, p.client, p.admin+"/metrics")
		if err != nil {
			return s, err
		}
		// Each metric's series summed; -1 for one the server does not export.
		get := func(name string) int64 {
			if v, ok := fams.Value(name); ok {
				return int64(v)
			}
			return -1
		}
		s.Goroutines = get("go_goroutines")
		s.Threads = get("go_threads")
		s.OpenFDs = get("process_open_fds")
		s.RSSBytes = get("process_resident_memory_bytes")
		s.Allocations = get("turnkey_allocations_active")
	}
	if p.pid > 0 {
		if s.OpenFDs < 0 {
			entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
			if err != nil {
				return s, fmt.Errorf("count descriptors: %w", err)
			}
			s.OpenFDs = int64(len(entries))
		}
		if s.RSSBytes < 0 || s.Threads < 0 {
			rss, threads, err := procStatus(p.pid)
			if err != nil {
				return s, err
			}
			if s.RSSBytes < 0 {
				s.RSSBytes = rss
			}
			if s.Threads < 0 {
				s.Threads = threads
			}
		}
	}
	return s, nil
}

// writeTable prints the before/peak/after/delta table.
func (r *soakResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "turnkey soak: %d allocations created, %d released, %d failed in %.1f s (%.0f/s, %d at a time)\n",
		r.Created, r.Released, r.Failed, r.Seconds, r.PerSecond, r.Concurrency)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
	fmt.Fprintf(w, "source: %s; baseline after a warm-up of %d allocations (idle at start shown too)\n\n", r.Source, r.Warmup)
	fmt.Fprintf(w, "| %-22s | %10s | %10s | %10s | %10s | %10s |\n", "", "idle", "before", "peak", "after", "after−before")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 24), strings.Repeat("-", 12), strings.Repeat("-", 12),
		strings.Repeat("-", 12), strings.Repeat("-", 12), strings.Repeat("-", 14))
	row := func(name string, get func(soakSample) int64, memory bool) {
		show := func(v int64) string {
			switch {
			case v == -1:
				return "n/a"
			case memory:
				return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
			default:
				return strconv.FormatInt(v, 10)
			}
		}
		a, b := get(r.Before), get(r.After)
		delta := "n/a"
		if a >= 0 && b >= 0 {
			if memory {
				delta = fmt.Sprintf("%+.1f MiB", float64(b-a)/(1<<20))
			} else {
				delta = fmt.Sprintf("%+d", b-a)
			}
		}
		fmt.Fprintf(w, "| %-22s | %10s | %10s | %10s | %10s | %12s |\n", name,
			show(get(r.Idle)), show(a), show(get(r.Peak)), show(b), delta)
	}
	row("goroutines", func(s soakSample) int64 { return s.Goroutines }, false)
	row("OS threads", func(s soakSample) int64 { return s.Threads }, false)
	row("open file descriptors", func(s soakSample) int64 { return s.OpenFDs }, false)
	row("resident memory", func(s soakSample) int64 { return s.RSSBytes }, true)
	row("live allocations", func(s soakSample) int64 { return s.Allocations }, false)
	verdict := "returned to baseline"
	if !r.Settled {
		verdict = "did NOT return to baseline"
	}
	fmt.Fprintf(w, "\nafter %.1f s of settling the server %s; pass: %v\n", r.SettleSeconds, verdict, r.Pass)
}
