package relay

import (
	"maps"
	"testing"
)

// TestUsageLedger: the ledger hands out each account's bytes exactly once,
// past the tracked-accounts cap of the metrics, for live and closed
// allocations, and keeps what is given back.
func TestUsageLedger(t *testing.T) {
	s := &Server{accounting: accounting{stats: newRelayStats(1)}}
	a := s.stats.open("ACa")
	b := s.stats.open("ACb") // past the cap: "other" in metrics
	b2 := s.stats.open("ACb")
	anon := s.stats.open("") // not issued by turnkey: no account
	if b.account != otherAccount {
		t.Fatalf("metric label %q, want %q", b.account, otherAccount)
	}
	a.bytesUp.Add(100)
	a.bytesDown.Add(20)
	b.bytesUp.Add(5)
	b2.bytesDown.Add(7)
	anon.bytesUp.Add(1000)
	if got, want := s.TakeUsage(), map[string]uint64{"ACa": 120, "ACb": 12}; !maps.Equal(got, want) {
		t.Fatalf("first take = %v, want %v", got, want)
	}
	if got := s.TakeUsage(); len(got) != 0 {
		t.Errorf("second take without traffic = %v, want nothing", got)
	}
	a.bytesUp.Add(1)
	b.bytesDown.Add(3)
	s.stats.close(b) // its remainder waits in the ledger
	b.bytesDown.Add(50)
	got := s.TakeUsage()
	if want := map[string]uint64{"ACa": 1, "ACb": 3}; !maps.Equal(got, want) {
		t.Fatalf("take after a close = %v, want %v", got, want)
	}
	s.ReturnUsage(got)
	a.bytesDown.Add(2)
	if got, want := s.TakeUsage(), map[string]uint64{"ACa": 3, "ACb": 3}; !maps.Equal(got, want) {
		t.Errorf("take after a return = %v, want %v", got, want)
	}
}
