package relay

import (
	"net/netip"
	"slices"
	"testing"
)

// TestIPSet checks the set across its inline-to-map boundary against a
// plain map, for a sequence of adds and removes.
func TestIPSet(t *testing.T) {
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	ops := []struct {
		add bool
		ip  int
	}{
		{true, 1}, {true, 1}, {true, 2}, {true, 3}, {true, 4}, {false, 1}, {true, 5},
		{false, 3}, {false, 9}, {false, 2}, {false, 4}, {true, 1}, {false, 5}, {false, 1}, {true, 6},
	}
	var s ipSet
	want := map[netip.Addr]bool{}
	for i, op := range ops {
		if op.add {
			s.add(ip(op.ip))
			want[ip(op.ip)] = true
		} else {
			s.remove(ip(op.ip))
			delete(want, ip(op.ip))
		}
		if s.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", i, s.len(), len(want))
		}
		for k := range 10 {
			if s.has(ip(k)) != want[ip(k)] {
				t.Fatalf("step %d: has(%v) = %v", i, ip(k), s.has(ip(k)))
			}
		}
		got := s.all()
		slices.SortFunc(got, netip.Addr.Compare)
		if len(got) != len(want) || slices.ContainsFunc(got, func(a netip.Addr) bool { return !want[a] }) {
			t.Fatalf("step %d: all() = %v", i, got)
		}
	}
}
