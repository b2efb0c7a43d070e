package e2e

import "testing"

// The parsers are tested everywhere: they need no tools. (The metrics
// text is read by internal/promtext, tested there.)

// TestParseUclient reads the summary of a real turnutils_uclient run
// (coturn 4.6.1), progress lines included.
func TestParseUclient(t *testing.T) {
	out := `10: : start_mclient: msz=50, tot_send_msgs=9994, tot_recv_msgs=9987, tot_send_bytes ~ 1199280, tot_recv_bytes ~ 1198440
10: : start_mclient: tot_send_msgs=10000, tot_recv_msgs=9998
10: : start_mclient: tot_send_bytes ~ 1200000, tot_recv_bytes ~ 1199760
10: : Total transmit time is 10
10: : Total lost packets 2 (0.020000%), total send dropped 0 (0.000000%)
`
	r, err := parseUclient(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.sent != 10000 || r.received != 9998 || r.lost != 2 || r.lostPct != "0.020000" {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseUclient("0: : Cannot complete Allocation\n"); err == nil {
		t.Error("output without totals parsed without error")
	}
}
