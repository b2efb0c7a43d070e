package bandwidth

import (
	"sync/atomic"
	"testing"
)

func BenchmarkAllow(b *testing.B) {
	bucket := NewBucket(12_500_000, 256<<10)
	var now int64
	b.ReportAllocs()
	for b.Loop() {
		now += 100
		bucket.Allow(1200, now)
	}
}

func BenchmarkAllowUnlimited(b *testing.B) {
	bucket := NewBucket(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		bucket.Allow(1200, 0)
	}
}

// BenchmarkAllowParallel measures the CAS loop under contention, the worst
// case of several relay goroutines sharing one allocation's bucket.
func BenchmarkAllowParallel(b *testing.B) {
	bucket := NewBucket(12_500_000, 256<<10)
	var clock atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bucket.Allow(1200, clock.Add(100))
		}
	})
}

func BenchmarkAllowNow(b *testing.B) {
	bucket := NewBucket(12_500_000, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		bucket.AllowNow(1200)
	}
}
