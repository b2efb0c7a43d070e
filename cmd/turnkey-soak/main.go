// Command turnkey-soak drives a running turnkey over UDP: it creates and
// releases many TURN allocations (100,000 by default) with REST credentials,
// then waits for the server to settle and reports its goroutines, open file
// descriptors and resident memory before, at the peak and after, as a table
// and as one JSON line. A leak shows as a count that does not come back.
//
//	turnkey-soak -server 127.0.0.1:3478 -secret S -admin 127.0.0.1:9641
//	turnkey-soak -server 127.0.0.1:3478 -secret S -pid 1234   # no admin listener
//
// Numbers come from the admin listener's /metrics (go_goroutines,
// process_open_fds, process_resident_memory_bytes,
// turnkey_allocations_active) or, with -pid alone, from /proc (no goroutine
// count there; threads are shown instead). It writes nothing but its output.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/promtext"
)

type config struct {
	server      string
	secret      string
	realm       string
	admin       string
	pid         int
	n           int
	warmup      int
	concurrency int
	duration    time.Duration
	settle      time.Duration
	rto         time.Duration
	tries       int
	clientIPs   []string
	goroutineOK int
	fdOK        int
	rssOK       int64
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-soak:", err)
		os.Exit(1)
	}
	res.writeTable(os.Stdout)
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnkey-soak: encode result:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
	if !res.Pass {
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("turnkey-soak", flag.ContinueOnError)
	c := &config{}
	var ips string
	fs.StringVar(&c.server, "server", "127.0.0.1:3478", "turnkey's TURN UDP address")
	fs.StringVar(&c.secret, "secret", "", "a TURN REST secret of the server (turn.secrets)")
	fs.StringVar(&c.realm, "realm", "turnkey", "TURN realm")
	fs.StringVar(&c.admin, "admin", "", "admin listener (host:port or URL) whose /metrics is read")
	fs.IntVar(&c.pid, "pid", 0, "turnkey's process ID, read from /proc when -admin is not given")
	fs.IntVar(&c.n, "n", 100000, "allocations to create and release")
	fs.IntVar(&c.warmup, "warmup", 1000, "allocations created and released before the baseline is taken, "+
		"so one-off start-up growth (pools, the heap's first growth) is not counted as a leak")
	fs.IntVar(&c.concurrency, "concurrency", 200, "allocations in flight at once")
	fs.DurationVar(&c.duration, "duration", 30*time.Minute, "stop starting allocations after this long")
	fs.DurationVar(&c.settle, "settle", 2*time.Minute, "longest wait for the counts to return to baseline")
	fs.DurationVar(&c.rto, "rto", 500*time.Millisecond, "first retransmission timeout of a request")
	fs.IntVar(&c.tries, "tries", 6, "transmissions of a request before it counts as lost")
	fs.StringVar(&ips, "client-ips", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5",
		"source addresses of client sockets, comma separated (kept off the relay's address so client "+
			"and relay ports never collide, and many so ports are not reused at once)")
	fs.IntVar(&c.goroutineOK, "goroutine-tolerance", 5, "goroutines above baseline still counted as baseline")
	fs.IntVar(&c.fdOK, "fd-tolerance", 5, "open descriptors above baseline still counted as baseline")
	rssMiB := fs.Int("rss-tolerance-mib", 8, "resident MiB above baseline still counted as baseline")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	c.rssOK = int64(*rssMiB) << 20
	switch {
	case c.secret == "":
		return nil, errors.New("-secret is required")
	case c.admin == "" && c.pid == 0:
		return nil, errors.New("-admin or -pid is required: nothing to measure otherwise")
	case c.n < 1 || c.concurrency < 1 || c.tries < 1:
		return nil, errors.New("-n, -concurrency and -tries must be at least 1")
	}
	for _, ip := range strings.Split(ips, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			if net.ParseIP(ip) == nil {
				return nil, fmt.Errorf("-client-ips: %q is not an address", ip)
			}
			c.clientIPs = append(c.clientIPs, ip)
		}
	}
	if len(c.clientIPs) == 0 {
		return nil, errors.New("-client-ips is empty")
	}
	if c.admin != "" && !strings.Contains(c.admin, "://") {
		c.admin = "http://" + c.admin
	}
	c.admin = strings.TrimSuffix(c.admin, "/")
	return c, nil
}

// sample is the server's state at one instant; -1 means unknown.
type sample struct {
	Goroutines  int64 `json:"goroutines"`
	Threads     int64 `json:"threads"`
	OpenFDs     int64 `json:"open_fds"`
	RSSBytes    int64 `json:"rss_bytes"`
	Allocations int64 `json:"allocations_active"`
}

// result is the run's report.
type result struct {
	Server        string   `json:"server"`
	Requested     int      `json:"allocations_requested"`
	Warmup        int      `json:"warmup"`
	Created       int64    `json:"allocations_created"`
	Released      int64    `json:"allocations_released"`
	Failed        int64    `json:"failed"`
	Failures      []string `json:"failures,omitempty"`
	Concurrency   int      `json:"concurrency"`
	Seconds       float64  `json:"seconds"`
	PerSecond     float64  `json:"allocations_per_second"`
	SettleSeconds float64  `json:"settle_seconds"`
	Idle          sample   `json:"idle"`
	Before        sample   `json:"before"`
	Peak          sample   `json:"peak"`
	After         sample   `json:"after"`
	Settled       bool     `json:"settled"`
	Pass          bool     `json:"pass"`
	Source        string   `json:"source"`
}

func run(ctx context.Context, cfg *config, progress io.Writer) (*result, error) {
	server, err := net.ResolveUDPAddr("udp", cfg.server)
	if err != nil {
		return nil, fmt.Errorf("-server: %w", err)
	}
	probe := newProber(cfg)
	res := &result{Server: cfg.server, Requested: cfg.n, Warmup: cfg.warmup, Concurrency: cfg.concurrency, Source: probe.source()}
	if res.Idle, err = probe.sample(ctx); err != nil {
		return nil, fmt.Errorf("first sample: %w", err)
	}
	if cfg.warmup > 0 {
		fmt.Fprintf(progress, "warming up: %d allocations\n", cfg.warmup)
		w := churn(ctx, cfg, server, cfg.warmup, 0, time.Now().Add(cfg.duration), nil)
		if w.failed > 0 {
			return nil, fmt.Errorf("warm-up: %d of %d allocations failed (%s)", w.failed, cfg.warmup, strings.Join(w.failures(), "; "))
		}
		// Let the released warm-up allocations end before the baseline.
		if _, _, err := waitSettled(ctx, probe, res.Idle, cfg, 10*time.Second); err != nil {
			return nil, err
		}
	}
	if res.Before, err = probe.sample(ctx); err != nil {
		return nil, fmt.Errorf("baseline sample: %w", err)
	}
	res.Peak = res.Before

	// Sample once a second during the run for the peak.
	var peakMu sync.Mutex
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
			s, err := probe.sample(sampleCtx)
			if err != nil {
				continue
			}
			peakMu.Lock()
			res.Peak = maxSample(res.Peak, s)
			peakMu.Unlock()
		}
	}()

	fmt.Fprintf(progress, "soak: %d allocations, %d at a time, against %s\n", cfg.n, cfg.concurrency, cfg.server)
	start := time.Now()
	c := churn(ctx, cfg, server, cfg.n, cfg.warmup, start.Add(cfg.duration), progress)
	res.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
	stopSampling()
	<-sampled
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
	res.Pass = settled && res.Failed == 0 && res.Created == int64(cfg.n) && res.Released == res.Created
	return res, nil
}

// waitSettled polls until goroutines, descriptors, memory and live
// allocations are back within tolerance of base, or wait passes.
func waitSettled(ctx context.Context, p *prober, base sample, cfg *config, wait time.Duration) (sample, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		s, err := p.sample(ctx)
		if err != nil {
			return s, false, fmt.Errorf("sample while settling: %w", err)
		}
		if within(s, base, cfg) {
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

func within(s, base sample, cfg *config) bool {
	ok := func(v, b, tol int64) bool { return v < 0 || b < 0 || v <= b+tol }
	return ok(s.Goroutines, base.Goroutines, int64(cfg.goroutineOK)) &&
		ok(s.OpenFDs, base.OpenFDs, int64(cfg.fdOK)) &&
		ok(s.RSSBytes, base.RSSBytes, cfg.rssOK) &&
		ok(s.Allocations, base.Allocations, 0)
}

func maxSample(a, b sample) sample {
	return sample{
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

func (c *churnStats) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed++
	if c.kinds == nil {
		c.kinds = map[string]int64{}
	}
	// Error texts carry addresses and transaction IDs; keep the first
	// words so failures group by kind.
	kind := err.Error()
	if i := strings.Index(kind, " ("); i > 0 {
		kind = kind[:i]
	}
	c.kinds[kind]++
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
func churn(ctx context.Context, cfg *config, server *net.UDPAddr, n, first int, deadline time.Time, progress io.Writer) *churnStats {
	st := &churnStats{}
	var next atomic.Int64
	var wg sync.WaitGroup
	var lastReport atomic.Int64
	lastReport.Store(time.Now().UnixNano())
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || time.Now().After(deadline) {
					return
				}
				ip := cfg.clientIPs[(i+w)%len(cfg.clientIPs)]
				if err := oneAllocation(cfg, server, ip, first+i, buf, st); err != nil {
					st.fail(err)
				}
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

func (c *churnStats) failedCount() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// oneAllocation allocates for identity soak-<index> from a fresh socket on
// ip, then releases with a zero-lifetime Refresh.
func oneAllocation(cfg *config, server *net.UDPAddr, ip string, index int, buf []byte, st *churnStats) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return fmt.Errorf("client socket (%w)", err)
	}
	defer conn.Close()
	user, pass := credentials.MintTURN([]byte(cfg.secret), time.Now().Add(time.Hour), "soak-"+strconv.Itoa(index))
	s := &session{conn: conn, server: server, user: user, realm: cfg.realm, rto: cfg.rto, tries: cfg.tries, buf: buf,
		integrity: stun.NewLongTermIntegrity(user, cfg.realm, pass)}
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	if _, err := s.request(stun.MethodAllocate, transport); err != nil {
		return err
	}
	st.created.Add(1)
	lifetime := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}
	if _, err := s.request(stun.MethodRefresh, lifetime); err != nil {
		// A retransmitted release whose first copy was handled finds no
		// allocation: released all the same.
		var se *stunError
		if !errors.As(err, &se) || se.code != stun.CodeAllocMismatch || s.retransmitted == 0 {
			return err
		}
	}
	st.released.Add(1)
	return nil
}

// session is one client's long-term-credential exchange (RFC 8489 9.2).
type session struct {
	conn          *net.UDPConn
	server        *net.UDPAddr
	user, realm   string
	integrity     stun.MessageIntegrity
	nonce         stun.Nonce
	rto           time.Duration
	tries         int
	buf           []byte
	retransmitted int
}

type stunError struct {
	method stun.Method
	code   stun.ErrorCode
	reason string
}

func (e *stunError) Error() string {
	return fmt.Sprintf("%s: error %d %s", e.method, e.code, e.reason)
}

// request sends an authenticated request, learning the nonce from a 401 or
// 438 first, and returns the success response.
func (s *session) request(method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for range 3 {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		if s.nonce != nil {
			setters = append(setters, stun.NewUsername(s.user), stun.NewRealm(s.realm), s.nonce, s.integrity)
		}
		setters = append(setters, stun.Fingerprint)
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, fmt.Errorf("build %s (%w)", method, err)
		}
		res, err := s.transact(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if res.Type.Class == stun.ClassSuccessResponse {
			return res, nil
		}
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(res); err != nil {
			return nil, fmt.Errorf("%s: error response without ERROR-CODE (%w)", method, err)
		}
		if (code.Code == stun.CodeUnauthorized && s.nonce == nil) || code.Code == stun.CodeStaleNonce {
			var nonce stun.Nonce
			if err := nonce.GetFrom(res); err != nil {
				return nil, fmt.Errorf("%s: %d without NONCE (%w)", method, code.Code, err)
			}
			s.nonce = nonce
			continue
		}
		return nil, &stunError{method: method, code: code.Code, reason: string(code.Reason)}
	}
	return nil, fmt.Errorf("%s: refused after fresh nonces", method)
}

// transact sends req until an answer with its transaction ID arrives,
// doubling the wait each time (RFC 8489 6.2.1).
func (s *session) transact(req *stun.Message) (*stun.Message, error) {
	wait := s.rto
	for try := range s.tries {
		if try > 0 {
			s.retransmitted++
		}
		if _, err := s.conn.WriteToUDP(req.Raw, s.server); err != nil {
			return nil, fmt.Errorf("send (%w)", err)
		}
		deadline := time.Now().Add(wait)
		for {
			_ = s.conn.SetReadDeadline(deadline)
			n, err := s.conn.Read(s.buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("receive (%w)", err)
			}
			res := &stun.Message{Raw: append([]byte(nil), s.buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID {
				return res, nil
			}
		}
		wait = min(wait*2, 4*time.Second)
	}
	return nil, fmt.Errorf("no answer after %d transmissions", s.tries)
}

// prober reads the server's state from /metrics or /proc.
type prober struct {
	admin  string
	pid    int
	client *http.Client
}

func newProber(cfg *config) *prober {
	return &prober{admin: cfg.admin, pid: cfg.pid, client: &http.Client{Timeout: 5 * time.Second}}
}

func (p *prober) source() string {
	if p.admin != "" {
		return p.admin + "/metrics"
	}
	return fmt.Sprintf("/proc/%d", p.pid)
}

func (p *prober) sample(ctx context.Context) (sample, error) {
	s := sample{Goroutines: -1, Threads: -1, OpenFDs: -1, RSSBytes: -1, Allocations: -1}
	if p.admin != "" {
		m, err := p.scrape(ctx)
		if err != nil {
			return s, err
		}
		get := func(name string) int64 {
			if v, ok := m[name]; ok {
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

// scrape reads /metrics, summing each metric's series.
func (p *prober) scrape(ctx context.Context) (map[string]float64, error) {
	fams, err := promtext.Fetch(ctx, p.client, p.admin+"/metrics")
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(fams))
	for name := range fams {
		out[name], _ = fams.Value(name)
	}
	return out, nil
}

// procStatus reads VmRSS (bytes) and Threads from /proc/PID/status.
func procStatus(pid int) (rss, threads int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1, fmt.Errorf("read process status: %w", err)
	}
	rss, threads = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			continue
		}
		switch key {
		case "VmRSS":
			rss = n << 10
		case "Threads":
			threads = n
		}
	}
	return rss, threads, nil
}

// writeTable prints the before/peak/after/delta table.
func (r *result) writeTable(w io.Writer) {
	fmt.Fprintf(w, "turnkey soak: %d allocations created, %d released, %d failed in %.1f s (%.0f/s, %d at a time)\n",
		r.Created, r.Released, r.Failed, r.Seconds, r.PerSecond, r.Concurrency)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
	fmt.Fprintf(w, "source: %s; baseline after a warm-up of %d allocations (idle at start shown too)\n\n", r.Source, r.Warmup)
	fmt.Fprintf(w, "| %-22s | %10s | %10s | %10s | %10s | %10s |\n", "", "idle", "before", "peak", "after", "after−before")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 24), strings.Repeat("-", 12), strings.Repeat("-", 12),
		strings.Repeat("-", 12), strings.Repeat("-", 12), strings.Repeat("-", 14))
	row := func(name string, get func(sample) int64, memory bool) {
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
	row("goroutines", func(s sample) int64 { return s.Goroutines }, false)
	row("OS threads", func(s sample) int64 { return s.Threads }, false)
	row("open file descriptors", func(s sample) int64 { return s.OpenFDs }, false)
	row("resident memory", func(s sample) int64 { return s.RSSBytes }, true)
	row("live allocations", func(s sample) int64 { return s.Allocations }, false)
	verdict := "returned to baseline"
	if !r.Settled {
		verdict = "did NOT return to baseline"
	}
	fmt.Fprintf(w, "\nafter %.1f s of settling the server %s; pass: %v\n", r.SettleSeconds, verdict, r.Pass)
}
