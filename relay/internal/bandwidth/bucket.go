package bandwidth

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// maxBurstNanos caps the burst expressed in time so that now+burst stays far
// from int64 overflow for any realistic process uptime (2^62 ns is about 146
// years).
const maxBurstNanos = 1 << 62

// Bucket is a token bucket in its GCRA form (the "virtual scheduling"
// algorithm): instead of a token count and a last-refill time, which would
// need a lock to update together, it stores one value, the theoretical
// arrival time (TAT) at which the bucket will be full again. A packet of n
// bytes costs n/rate seconds; it is allowed if, after paying, the TAT is no
// further ahead of now than burst/rate seconds. A full bucket is TAT <= now.
//
// Rate and burst are fixed at construction; a config change makes a new
// Bucket for new allocations.
type Bucket struct {
	rate       int64 // bytes per second; <= 0 means unlimited
	burst      int64 // bytes
	burstNanos int64 // burst expressed as time at rate
	tat        atomic.Int64
}

// NewBucket returns a bucket that passes bytesPerSecond on average with
// bursts of up to burst bytes, starting full. bytesPerSecond <= 0 means
// unlimited. burst <= 0 defaults to one second's worth of bytes. A packet
// larger than burst can never pass, so burst should be at least the largest
// datagram relayed (64 KiB is safe).
func NewBucket(bytesPerSecond int64, burst int64) *Bucket {
	b := &Bucket{rate: bytesPerSecond, burst: burst}
	if bytesPerSecond <= 0 {
		return b
	}
	if burst <= 0 {
		b.burst = bytesPerSecond
	}
	b.burstNanos = nanosFor(b.burst, bytesPerSecond, false)
	if b.burstNanos > maxBurstNanos {
		b.burstNanos = maxBurstNanos
	}
	// The smallest int64 makes the first Allow see a full bucket whatever
	// time base the caller uses.
	b.tat.Store(math.MinInt64)
	return b
}

// Rate returns the configured bytes per second (<= 0: unlimited).
func (b *Bucket) Rate() int64 {
	if b == nil {
		return 0
	}
	return b.rate
}

// Burst returns the bucket size in bytes.
func (b *Bucket) Burst() int64 {
	if b == nil {
		return 0
	}
	return b.burst
}

// Allow reports whether a packet of n bytes may pass at time now
// (monotonic nanoseconds, normally from Now), and if so takes its bytes
// from the bucket. A refused packet takes nothing. n <= 0 always passes; a
// nil or unlimited bucket always passes. Safe for concurrent use; callers
// may pass slightly out-of-order times, which only makes the check stricter
// for the caller with the older time.
func (b *Bucket) Allow(n int, now int64) bool {
	if b == nil || b.rate <= 0 || n <= 0 {
		return true
	}
	if int64(n) > b.burst {
		return false
	}
	// Rounded up so the sum of costs never lets more than rate through.
	cost := nanosFor(int64(n), b.rate, true)
	if cost > b.burstNanos {
		return false
	}
	slack := b.burstNanos - cost
	for {
		tat := b.tat.Load()
		base := tat
		if base < now {
			base = now // the bucket refilled completely while idle
		}
		// base >= now, so the unsigned difference is exact even when the
		// signed one would overflow on extreme caller-supplied times.
		if uint64(base-now) > uint64(slack) {
			return false
		}
		if base > math.MaxInt64-cost {
			return false // the TAT would wrap; only reachable with absurd times
		}
		if b.tat.CompareAndSwap(tat, base+cost) {
			return true
		}
	}
}

// AllowNow is Allow at the current time.
func (b *Bucket) AllowNow(n int) bool {
	return b.Allow(n, Now())
}

// nanosFor returns bytes/rate seconds in nanoseconds, computed in 128 bits
// so large bursts do not overflow, saturating at math.MaxInt64. bytes and
// rate must be positive.
func nanosFor(bytes, rate int64, roundUp bool) int64 {
	hi, lo := bits.Mul64(uint64(bytes), 1e9)
	if hi >= uint64(rate) {
		return math.MaxInt64 // the quotient would not fit in 64 bits
	}
	q, rem := bits.Div64(hi, lo, uint64(rate))
	if roundUp && rem != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
