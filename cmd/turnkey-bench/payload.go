package main

import "encoding/binary"

// payloadMin is the smallest -size: the send time, sequence number and
// allocation index every packet carries so the echo can be timed and counted.
const payloadMin = 16

// stamp writes the probe header into a payload. sendNs is nanoseconds since
// the run started (monotonic clock), so no wall-clock step can skew a RTT.
func stamp(p []byte, sendNs int64, seq uint32, alloc uint32) {
	binary.LittleEndian.PutUint64(p[0:8], uint64(sendNs))
	binary.LittleEndian.PutUint32(p[8:12], seq)
	binary.LittleEndian.PutUint32(p[12:16], alloc)
}

// unstamp reads the probe header back.
func unstamp(p []byte) (sendNs int64, seq uint32, alloc uint32, ok bool) {
	if len(p) < payloadMin {
		return 0, 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(p[0:8])), binary.LittleEndian.Uint32(p[8:12]),
		binary.LittleEndian.Uint32(p[12:16]), true
}
