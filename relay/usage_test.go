package relay

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

// usageLoad drives turnkey's side of allocations without pion: admit, the
// relay socket's counters and the created and deleted events, as pion calls
// them, on distinct client 5-tuples.
type usageLoad struct {
	s  *Server
	ev struct {
		created func(src, dst net.Addr, protocol, username, realm string, relayAddr net.Addr, requestedPort int)
		deleted func(src, dst net.Addr, protocol, username, realm string)
	}
	dst *net.UDPAddr
}

func newUsageLoad(s *Server) *usageLoad {
	l := &usageLoad{s: s, dst: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}}
	h := s.eventHandler()
	l.ev.created, l.ev.deleted = h.OnAllocationCreated, h.OnAllocationDeleted
	return l
}

// accountUser is an issued username of account n.
func accountUser(tb testing.TB, n int) string {
	tb.Helper()
	rest, err := credentials.IssuedRest(fmt.Sprintf("AC%032x", n), fmt.Sprintf("SK%032x", n), testSecretID, "id")
	if err != nil {
		tb.Fatal(err)
	}
	user, _ := credentials.MintTURN([]byte(testSecret), time.Now().Add(time.Hour), rest)
	return user
}

// liveTestAlloc is one allocation usageLoad opened.
type liveTestAlloc struct {
	src  *net.UDPAddr
	user string
	st   *allocState
}

// open makes allocation i of user, which relays bytes client→peer.
func (l *usageLoad) open(tb testing.TB, i int, user string, bytes uint64) liveTestAlloc {
	src := &net.UDPAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i)), Port: 40000}
	if !l.s.admit(user, testRealm, src) {
		tb.Errorf("allocation %d not admitted", i)
	}
	st := l.s.openAlloc(user)
	st.counters.bytesUp.Add(bytes)
	st.counters.packetsUp.Add(1)
	l.ev.created(src, l.dst, "udp", user, testRealm, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20000 + i}, 0)
	return liveTestAlloc{src: src, user: user, st: st}
}

// close ends it as pion does: the deleted event, then the relay socket's
// close folding its counters into the totals.
func (l *usageLoad) close(a liveTestAlloc) {
	l.ev.deleted(a.src, l.dst, "udp", a.user, testRealm)
	l.s.closeAlloc(a.st)
}

// TestAccountUsageAtScale: 5000 allocations of 300 accounts opened and
// half of them closed from many goroutines at once leave every account's
// usage exact (live allocations, bytes of live and closed ones) and every
// quota slot accounted for; reading all 300 usages takes no time.
func TestAccountUsageAtScale(t *testing.T) {
	const allocs, accounts, workers = 5000, 300, 16
	ts := startServer(t, func(c *Config) {
		c.TrackedAccounts = accounts
		c.Quotas = Quotas{PerIdentity: allocs, PerAccount: allocs, Total: allocs}
		c.Logger = slog.New(slog.DiscardHandler) // 7500 log lines are not the point
	})
	l := newUsageLoad(ts.Server)
	users := make([]string, accounts)
	for i := range users {
		users[i] = accountUser(t, i)
	}
	var wantLive [accounts]int
	var wantBytes [accounts]uint64
	for i := range allocs {
		wantBytes[i%accounts] += uint64(i + 1)
		if i%2 == 1 {
			wantLive[i%accounts]++
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < allocs; i += workers {
				a := l.open(t, i, users[i%accounts], uint64(i+1))
				if i%2 == 0 {
					l.close(a)
				}
			}
		})
	}
	// Usage requests meanwhile, as the token API makes them.
	wg.Go(func() {
		for range 50 {
			for n := range accounts {
				ts.AccountUsage(fmt.Sprintf("AC%032x", n))
			}
		}
	})
	wg.Wait()
	churn := time.Since(start)

	start = time.Now()
	for n := range accounts {
		u := ts.AccountUsage(fmt.Sprintf("AC%032x", n))
		if u.AllocationsActive != wantLive[n] || u.BytesClientToPeer != wantBytes[n] {
			t.Errorf("account %d: %d live, %d bytes; want %d, %d", n, u.AllocationsActive, u.BytesClientToPeer,
				wantLive[n], wantBytes[n])
		}
	}
	read := time.Since(start)
	if got := ts.quota.Active(); got != allocs/2 {
		t.Errorf("%d quota slots held, want %d", got, allocs/2)
	}
	t.Logf("%d allocations opened, %d closed in %v; %d usages read in %v", allocs, allocs/2, churn, accounts, read)
	if read > 2*time.Second {
		t.Errorf("reading %d usages took %v", accounts, read)
	}
}

// BenchmarkAccountUsage is one usage request for an account with 10 live
// allocations while the relay holds n others: the cost must not grow with n.
func BenchmarkAccountUsage(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			ts := startServer(b, func(c *Config) {
				c.TrackedAccounts = 1000
				c.Quotas = Quotas{}
				c.Logger = slog.New(slog.DiscardHandler)
			})
			l := newUsageLoad(ts.Server)
			users := make([]string, 100)
			for i := range users {
				users[i] = accountUser(b, i+1)
			}
			for i := range n {
				l.open(b, i, users[i%len(users)], 1)
			}
			mine := accountUser(b, 0)
			for i := range 10 {
				l.open(b, n+i, mine, 1)
			}
			account := fmt.Sprintf("AC%032x", 0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if u := ts.AccountUsage(account); u.AllocationsActive != 10 {
					b.Fatalf("%d live allocations, want 10", u.AllocationsActive)
				}
			}
		})
	}
}
