// Package bandwidth limits the byte rate of one relay allocation (coturn's
// max-bps). Allow runs on every relayed packet, so it takes no locks and
// does not allocate: the bucket is a single atomic int64 updated with a CAS
// loop. Packets over the rate are dropped, never queued, as a UDP relay
// should: queueing adds latency that real-time media cannot use.
package bandwidth
