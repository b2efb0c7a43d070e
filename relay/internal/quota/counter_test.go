package quota

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// step is one Acquire or Release in a scenario.
type step struct {
	release  bool
	identity string
	account  string
	wantOK   bool   // Acquire only
	wantKind string // Acquire only
}

func acq(id, acct string, ok bool, kind string) step {
	return step{identity: id, account: acct, wantOK: ok, wantKind: kind}
}

func rel(id, acct string) step { return step{release: true, identity: id, account: acct} }

func TestCounterScenarios(t *testing.T) {
	tests := []struct {
		name       string
		limits     Limits
		steps      []step
		wantActive int
	}{
		{
			name:   "unlimited",
			limits: Limits{},
			steps: []step{
				acq("a", "x", true, ""), acq("a", "x", true, ""), acq("a", "x", true, ""),
			},
			wantActive: 3,
		},
		{
			name:   "per identity",
			limits: Limits{PerIdentity: 2},
			steps: []step{
				acq("a", "x", true, ""), acq("a", "x", true, ""),
				acq("a", "x", false, KindIdentity),
				acq("b", "x", true, ""),
			},
			wantActive: 3,
		},
		{
			name:   "per account across identities",
			limits: Limits{PerAccount: 2},
			steps: []step{
				acq("a", "x", true, ""), acq("b", "x", true, ""),
				acq("c", "x", false, KindAccount),
				acq("c", "y", true, ""),
				acq("c", "", true, ""), // no account: not counted per account
			},
			wantActive: 4,
		},
		{
			name:   "total",
			limits: Limits{Total: 2},
			steps: []step{
				acq("a", "", true, ""), acq("b", "", true, ""),
				acq("c", "z", false, KindTotal),
			},
			wantActive: 2,
		},
		{
			name:   "most specific limit reported first",
			limits: Limits{PerIdentity: 1, PerAccount: 1, Total: 1},
			steps: []step{
				acq("a", "x", true, ""),
				acq("a", "x", false, KindIdentity),
				acq("b", "x", false, KindAccount),
				acq("b", "y", false, KindTotal),
			},
			wantActive: 1,
		},
		{
			name:   "refused acquire does not count",
			limits: Limits{PerIdentity: 1, Total: 3},
			steps: []step{
				acq("a", "x", true, ""),
				acq("a", "x", false, KindIdentity), acq("a", "x", false, KindIdentity),
				acq("b", "x", true, ""), acq("c", "x", true, ""),
			},
			wantActive: 3,
		},
		{
			name:   "release frees each kind",
			limits: Limits{PerIdentity: 1, PerAccount: 1, Total: 1},
			steps: []step{
				acq("a", "x", true, ""), rel("a", "x"),
				acq("a", "x", true, ""), rel("a", "x"),
				acq("b", "x", true, ""),
			},
			wantActive: 1,
		},
		{
			name:   "double and unknown release ignored",
			limits: Limits{Total: 2},
			steps: []step{
				acq("a", "x", true, ""), acq("b", "x", true, ""),
				rel("a", "x"), rel("a", "x"), rel("nobody", "x"), rel("", ""),
				acq("c", "", true, ""),
				acq("d", "", false, KindTotal),
			},
			wantActive: 2,
		},
		{
			name:   "negative limits mean unlimited",
			limits: Limits{PerIdentity: -1, PerAccount: -1, Total: -1},
			steps: []step{
				acq("a", "x", true, ""), acq("a", "x", true, ""),
			},
			wantActive: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.limits)
			for i, s := range tt.steps {
				if s.release {
					c.Release(s.identity, s.account)
					continue
				}
				ok, kind := c.Acquire(s.identity, s.account)
				if ok != s.wantOK || kind != s.wantKind {
					t.Fatalf("step %d Acquire(%q, %q) = %v, %q; want %v, %q", i, s.identity, s.account, ok, kind, s.wantOK, s.wantKind)
				}
			}
			if got := c.Active(); got != tt.wantActive {
				t.Errorf("Active() = %d, want %d", got, tt.wantActive)
			}
			assertConsistent(t, c)
		})
	}
}

// assertConsistent checks the invariants: no zero or negative entries are
// kept, and the identity counts add up to the total.
func assertConsistent(t *testing.T, c *Counter) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for k, n := range c.identities {
		if n <= 0 {
			t.Errorf("identity %q kept with count %d", k, n)
		}
		sum += n
	}
	for k, n := range c.accounts {
		if n <= 0 {
			t.Errorf("account %q kept with count %d", k, n)
		}
	}
	if sum != c.total || c.total < 0 {
		t.Errorf("identity counts sum to %d, total is %d", sum, c.total)
	}
}

func TestEphemeralIdentitiesDoNotLeak(t *testing.T) {
	c := New(Limits{PerIdentity: 1})
	for i := range 10000 {
		id := fmt.Sprintf("%d:user%d", 1700000000+i, i)
		if ok, kind := c.Acquire(id, "acct"); !ok {
			t.Fatalf("Acquire(%s) refused: %s", id, kind)
		}
		c.Release(id, "acct")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.identities) != 0 || len(c.accounts) != 0 || c.total != 0 {
		t.Fatalf("after releasing everything: %d identities, %d accounts, total %d", len(c.identities), len(c.accounts), c.total)
	}
}

func TestReloadLoweringLimits(t *testing.T) {
	c := New(Limits{PerIdentity: 10, PerAccount: 10, Total: 10})
	for range 5 {
		if ok, kind := c.Acquire("a", "x"); !ok {
			t.Fatalf("Acquire refused before reload: %s", kind)
		}
	}
	c.SetLimits(Limits{PerIdentity: 2, PerAccount: 2, Total: 2})
	if got := c.Limits(); got != (Limits{PerIdentity: 2, PerAccount: 2, Total: 2}) {
		t.Fatalf("Limits() = %+v after SetLimits", got)
	}
	if ok, kind := c.Acquire("a", "x"); ok || kind != KindIdentity {
		t.Fatalf("Acquire over the lowered limit = %v, %q; want refused by identity", ok, kind)
	}
	if ok, kind := c.Acquire("b", ""); ok || kind != KindTotal {
		t.Fatalf("Acquire over the lowered total = %v, %q; want refused by total", ok, kind)
	}
	// Existing allocations still drain one by one.
	for i := 4; i >= 0; i-- {
		c.Release("a", "x")
		if got := c.Active(); got != i {
			t.Fatalf("Active() = %d after release, want %d", got, i)
		}
	}
	assertConsistent(t, c)
	for range 2 {
		if ok, kind := c.Acquire("a", "x"); !ok {
			t.Fatalf("Acquire refused after draining: %s", kind)
		}
	}
	if ok, _ := c.Acquire("a", "x"); ok {
		t.Fatal("Acquire allowed past the new per-identity limit")
	}
}

func TestNilCounter(t *testing.T) {
	var c *Counter
	if ok, kind := c.Acquire("a", "x"); !ok || kind != "" {
		t.Fatalf("nil Acquire = %v, %q; want unlimited", ok, kind)
	}
	c.Release("a", "x")
	c.SetLimits(Limits{Total: 1})
	if c.Active() != 0 || c.Limits() != (Limits{}) {
		t.Fatal("nil Counter reported state")
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	const (
		workers = 16
		rounds  = 2000
		total   = 10
	)
	c := New(Limits{PerIdentity: 3, PerAccount: 6, Total: total})
	var live, maxLive atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("user%d", w%5)
			acct := fmt.Sprintf("acct%d", w%2)
			for r := range rounds {
				if ok, _ := c.Acquire(id, acct); !ok {
					continue
				}
				n := live.Add(1)
				for {
					m := maxLive.Load()
					if n <= m || maxLive.CompareAndSwap(m, n) {
						break
					}
				}
				if r%7 == 0 {
					c.SetLimits(Limits{PerIdentity: 3, PerAccount: 6, Total: total})
				}
				live.Add(-1)
				c.Release(id, acct)
			}
		})
	}
	wg.Wait()
	if m := maxLive.Load(); m > total {
		t.Errorf("saw %d concurrent allocations, limit %d", m, total)
	}
	if got := c.Active(); got != 0 {
		t.Errorf("Active() = %d after all releases", got)
	}
	assertConsistent(t, c)
}

func BenchmarkAcquireRelease(b *testing.B) {
	c := New(Limits{PerIdentity: 5, PerAccount: 50, Total: 1000})
	b.ReportAllocs()
	for b.Loop() {
		c.Acquire("1700000000:alice", "AC123")
		c.Release("1700000000:alice", "AC123")
	}
}
