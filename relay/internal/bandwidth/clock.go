package bandwidth

import "time"

// start anchors Now. time.Since on a time.Now() value reads the monotonic
// clock, so Now is immune to wall-clock steps (NTP, manual changes).
var start = time.Now()

// Now returns monotonic nanoseconds since the process started, the time base
// Bucket.Allow expects. It does not allocate.
func Now() int64 {
	return int64(time.Since(start))
}
