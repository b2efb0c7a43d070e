package tokenapi

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxTrackedSources bounds the limiter's memory: about 100 bytes an entry.
const maxTrackedSources = 100_000

// failureLimiter limits failed authentications per source address with a
// token bucket per source: a source may fail `perMinute` times in a burst,
// then once every 60s/perMinute. Only failures take tokens, so a client that
// authenticates correctly is never slowed.
//
// Memory is bounded: a bucket that has refilled completely carries no
// information and is dropped by sweeps; if the table is still full, new
// sources are not tracked (they are not limited rather than evicting someone
// who is, which an attacker with many addresses could otherwise force).
type failureLimiter struct {
	perMinute int
	rate      float64 // tokens per second
	max       int
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFailureLimiter(perMinute, maxSources int, now func() time.Time) *failureLimiter {
	return &failureLimiter{
		perMinute: perMinute,
		rate:      float64(perMinute) / 60,
		max:       maxSources,
		now:       now,
		buckets:   make(map[netip.Prefix]*bucket),
	}
}

// sourceKey groups addresses one party controls: a single IPv4 address, or
// an IPv6 /64 (one subnet, the usual smallest allocation to a site).
func sourceKey(remoteAddr string) (netip.Prefix, bool) {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// refill brings b up to now; callers hold mu.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(l.perMinute), b.tokens+el*l.rate)
	}
	b.last = now
}

// Blocked reports whether remoteAddr has used up its failures, and if so how
// long until it may try again.
func (l *failureLimiter) Blocked(remoteAddr string) (time.Duration, bool) {
	if l.perMinute == 0 {
		return 0, false
	}
	key, ok := sourceKey(remoteAddr)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return 0, false
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return max(wait, time.Second), true
}

// Fail records a failed authentication from remoteAddr.
func (l *failureLimiter) Fail(remoteAddr string) {
	if l.perMinute == 0 {
		return
	}
	key, ok := sourceKey(remoteAddr)
	if !ok {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		since := now.Sub(l.lastSweep)
		if since > time.Minute || (len(l.buckets) >= l.max && since > time.Second) {
			l.sweep(now)
		}
		if len(l.buckets) >= l.max {
			return
		}
		b = &bucket{tokens: float64(l.perMinute), last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(b.tokens-1, 0)
}

// sweep drops buckets that have refilled completely; callers hold mu. It
// runs at most once a minute, or once a second while the table is full, so
// a flood of new sources cannot make every failure pay for a full scan.
func (l *failureLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= float64(l.perMinute) {
			delete(l.buckets, k)
		}
	}
}

// Len reports how many sources are tracked (for tests and debugging).
func (l *failureLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
