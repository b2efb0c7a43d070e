package main

import (
	"math/bits"
	"time"
)

// histogram records durations with about 1.5 % precision in fixed memory
// (log-linear buckets: 64 sub-buckets per power of two), so every packet's
// round trip is counted without storing samples or allocating.
type histogram struct {
	counts [64 * 42]uint64
	total  uint64
	max    int64
}

func bucketOf(v int64) int {
	if v < 64 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 7 // v>>e lies in [64, 127]
	return (e+1)*64 + int(v>>e) - 64
}

// lowerBound is the smallest value that falls in bucket i.
func lowerBound(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	e := i/64 - 1
	return int64(i%64+64) << e
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	i := bucketOf(v)
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the value below which a fraction q of samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if rank >= h.total {
		rank = h.total - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(lowerBound(i))
		}
	}
	return time.Duration(h.max)
}
