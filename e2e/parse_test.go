package e2e

import "testing"

// The parsers are tested everywhere: they need no tools.

// TestParseMetrics reads the Prometheus text format as turnkey writes it.
func TestParseMetrics(t *testing.T) {
	text := `# HELP turnkey_relay_bytes_total Bytes relayed.
# TYPE turnkey_relay_bytes_total counter
turnkey_relay_bytes_total{direction="client_to_peer"} 1234
turnkey_relay_bytes_total{direction="peer_to_client"} 5.5e+03
turnkey_allocations_total{transport="udp",note="a \"q\", b"} 3
go_goroutines 12
`
	got, err := parseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d samples, want 4: %+v", len(got), got)
	}
	if got[1].value != 5500 || got[1].labels["direction"] != "peer_to_client" {
		t.Errorf("sample 1 = %+v", got[1])
	}
	if got[2].labels["note"] != `a "q", b` || got[2].labels["transport"] != "udp" {
		t.Errorf("escaped label: %+v", got[2].labels)
	}
	if got[3].name != "go_goroutines" || got[3].value != 12 {
		t.Errorf("unlabelled sample = %+v", got[3])
	}
	if _, err := parseMetrics("broken{x=\"1\" 2\n"); err == nil {
		t.Error("unterminated labels parsed without error")
	}
}

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
