package relay

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageLedgerCountsTheKernelPath: bytes the kernel fast path relays
// reach the usage ledger exactly once, while the channel lives in the
// kernel and after the allocation ends and its counts move over.
func TestUsageLedgerCountsTheKernelPath(t *testing.T) {
	n, ok := kernelTest(t)
	if !ok {
		return
	}
	ts := startKernelServer(t, nil)
	account := "AC" + strings.Repeat("8", 32)
	user, pass := issuedCreds(t, account, "SK"+strings.Repeat("9", 32), "ledger")
	c := kernelClient(t, n, ts, user, pass, listenIn(t, n.peer, kpPeer))
	if _, entries := kernelTotals(ts); entries != 1 {
		t.Fatalf("%d kernel entries after a channel bind, want 1", entries)
	}
	var want uint64
	for _, size := range []int{10, 200, 1200} {
		chanRoundTrip(t, c, bytes.Repeat([]byte{1}, size))
		want += 2 * uint64(size)
	}
	if got := ts.TakeUsage()[account]; got != want {
		t.Fatalf("ledger took %d bytes of a kernel channel, want %d", got, want)
	}
	chanRoundTrip(t, c, bytes.Repeat([]byte{2}, 50))
	if code := c.refresh(0); code != 0 {
		t.Fatalf("refresh 0: %d", code)
	}
	waitEntries(t, ts, 0, "entry removed with the allocation")
	if got := ts.TakeUsage()[account]; got != 100 {
		t.Errorf("ledger took %d bytes after the allocation ended, want the last 100", got)
	}
}
