package relay

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// otherAccount collects usage of accounts past the tracked-accounts cap, so
// the account label stays bounded.
const otherAccount = "other"

// allocCounters are one allocation's traffic counters. Only the relay
// sockets of that allocation write them, so they stay core-local.
type allocCounters struct {
	bytesUp, bytesDown     atomic.Uint64 // client→peer, peer→client
	packetsUp, packetsDown atomic.Uint64
	droppedUp, droppedDown atomic.Uint64 // over the bandwidth limit
	unpermitted            atomic.Uint64 // datagrams without a permission (see fastpath.go)
	account                string        // the metric label: capped, or "other"
	// accountSID is the real account, uncapped, for usage records; flushed
	// is how many of its bytes the ledger has taken (under relayStats.mu).
	accountSID string
	flushed    uint64
}

// usage is a traffic total.
type usage struct {
	BytesUp, BytesDown, PacketsUp, PacketsDown, DroppedUp, DroppedDown uint64
	Unpermitted                                                        uint64
}

func (u *usage) add(c *allocCounters) {
	u.BytesUp += c.bytesUp.Load()
	u.BytesDown += c.bytesDown.Load()
	u.PacketsUp += c.packetsUp.Load()
	u.PacketsDown += c.packetsDown.Load()
	u.DroppedUp += c.droppedUp.Load()
	u.DroppedDown += c.droppedDown.Load()
	u.Unpermitted += c.unpermitted.Load()
}

func (u *usage) plus(o usage) {
	u.BytesUp += o.BytesUp
	u.BytesDown += o.BytesDown
	u.PacketsUp += o.PacketsUp
	u.PacketsDown += o.PacketsDown
	u.DroppedUp += o.DroppedUp
	u.DroppedDown += o.DroppedDown
	u.Unpermitted += o.Unpermitted
}

// accounting is the server's metrics and its traffic totals.
type accounting struct {
	metrics *metrics
	stats   *relayStats
}

func (a *accounting) init(cfg Config) {
	a.stats = newRelayStats(cfg.TrackedAccounts)
	a.metrics = newMetrics(cfg.Metrics, a.stats)
}

// relayStats sums live allocations' counters with the totals of closed ones.
// It is a prometheus.Collector: the sum happens at scrape time.
type relayStats struct {
	mu sync.Mutex
	// live holds the open counter sets by account label, so one account's
	// usage sums its own allocations only, whatever the others number.
	live     map[string]map[*allocCounters]struct{}
	closed   usage
	accounts map[string]*usage // closed totals per tracked account
	maxAccts int
	ledger   usageLedger
	// kernel is the kernel fast path, if attached: its live entries'
	// traffic belongs to their allocations (kernelpath.go).
	kernel atomic.Pointer[kernelOffload]

	bytesDesc, packetsDesc, acctDesc, droppedDesc, unpermittedDesc *prometheus.Desc
}

func newRelayStats(trackedAccounts int) *relayStats {
	return &relayStats{
		live:     map[string]map[*allocCounters]struct{}{},
		accounts: map[string]*usage{},
		maxAccts: trackedAccounts,
		bytesDesc: prometheus.NewDesc("turnkey_relay_bytes_total",
			"Payload bytes relayed, by direction; counted as packets flow.", []string{"direction"}, nil),
		packetsDesc: prometheus.NewDesc("turnkey_relay_packets_total",
			"Packets relayed, by direction; counted as packets flow.", []string{"direction"}, nil),
		droppedDesc: prometheus.NewDesc("turnkey_bandwidth_dropped_packets_total",
			"Relayed packets dropped for exceeding the per-allocation bandwidth limit, by direction.", []string{"direction"}, nil),
		unpermittedDesc: prometheus.NewDesc("turnkey_relay_unpermitted_packets_total",
			"Datagrams dropped for want of a permission: from a peer without one at a UDP relay socket, or ChannelData either way on a channel whose peer's permission expired; not counted as relayed.", nil, nil),
		acctDesc: prometheus.NewDesc("turnkey_account_relay_bytes_total",
			"Payload bytes relayed in both directions per account (accounts past the tracked cap count as \"other\").", []string{"account"}, nil),
	}
}

// accountLabel maps an account SID to its label, admitting new accounts
// until the cap. Called once per allocation, with s.mu held.
func (s *relayStats) accountLabel(account string) string {
	if account == "" {
		return ""
	}
	if _, ok := s.accounts[account]; ok {
		return account
	}
	if len(s.accounts) < s.maxAccts {
		s.accounts[account] = &usage{}
		return account
	}
	return otherAccount
}

// open registers a new allocation's counters: one lock for the account label
// and the live set.
func (s *relayStats) open(account string) *allocCounters {
	c := &allocCounters{accountSID: account}
	s.mu.Lock()
	c.account = s.accountLabel(account)
	set := s.live[c.account]
	if set == nil {
		set = map[*allocCounters]struct{}{}
		s.live[c.account] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// close folds c into the closed totals; it reports false if c was already
// closed.
func (s *relayStats) close(c *allocCounters) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.live[c.account]
	if _, ok := set[c]; !ok {
		return false
	}
	delete(set, c)
	if len(set) == 0 {
		delete(s.live, c.account)
	}
	// The kernel fast path moved its counts into c when the channel went.
	s.ledger.take(c, s.kernel.Load())
	s.closed.add(c)
	if c.account != "" {
		u := s.accounts[c.account]
		if u == nil {
			u = &usage{}
			s.accounts[c.account] = u
		}
		u.add(c)
	}
	return true
}

// accountTotals is a tracked account's usage (zero for one past the cap):
// its closed allocations' running total plus its live ones' counters, each
// read with what the kernel path relayed for it. Its cost is that
// account's live allocations, not the relay's.
func (s *relayStats) accountTotals(account string) usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	closed := s.accounts[account]
	if account == "" || closed == nil {
		return usage{}
	}
	u := *closed
	k := s.kernel.Load()
	for c := range s.live[account] {
		// One reading per allocation under the kernel path's lock: an entry
		// removed meanwhile has moved its counts into c or not at all.
		u.plus(k.counted(c))
	}
	return u
}

// totals returns the server-wide usage and each tracked account's (acct:
// account's), for a scrape.
func (s *relayStats) totals(account string) (all, acct usage, perAccount map[string]usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kernel.Load()
	if k != nil {
		// Held across both readings: an entry removed meanwhile moves
		// its kernel counts into its allocation's counters under k.mu.
		k.mu.Lock()
		defer k.mu.Unlock()
	}
	all = s.closed
	perAccount = make(map[string]usage, len(s.accounts))
	for name, u := range s.accounts {
		perAccount[name] = *u
	}
	for label, set := range s.live {
		for c := range set {
			var u usage
			u.add(c)
			all.plus(u)
			if label != "" {
				p := perAccount[label]
				p.plus(u)
				perAccount[label] = p
			}
		}
	}
	if k != nil {
		k.eachLive(func(c *allocCounters, u usage) {
			if _, live := s.live[c.account][c]; !live {
				return
			}
			all.plus(u)
			if c.account != "" {
				p := perAccount[c.account]
				p.plus(u)
				perAccount[c.account] = p
			}
		})
	}
	return all, perAccount[account], perAccount
}

// Describe implements prometheus.Collector.
func (s *relayStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.bytesDesc
	ch <- s.packetsDesc
	ch <- s.droppedDesc
	ch <- s.unpermittedDesc
	ch <- s.acctDesc
}

// Collect implements prometheus.Collector.
func (s *relayStats) Collect(ch chan<- prometheus.Metric) {
	all, _, per := s.totals("")
	ch <- prometheus.MustNewConstMetric(s.bytesDesc, prometheus.CounterValue, float64(all.BytesUp), dirClientToPeer)
	ch <- prometheus.MustNewConstMetric(s.bytesDesc, prometheus.CounterValue, float64(all.BytesDown), dirPeerToClient)
	ch <- prometheus.MustNewConstMetric(s.packetsDesc, prometheus.CounterValue, float64(all.PacketsUp), dirClientToPeer)
	ch <- prometheus.MustNewConstMetric(s.packetsDesc, prometheus.CounterValue, float64(all.PacketsDown), dirPeerToClient)
	ch <- prometheus.MustNewConstMetric(s.droppedDesc, prometheus.CounterValue, float64(all.DroppedUp), dirClientToPeer)
	ch <- prometheus.MustNewConstMetric(s.droppedDesc, prometheus.CounterValue, float64(all.DroppedDown), dirPeerToClient)
	ch <- prometheus.MustNewConstMetric(s.unpermittedDesc, prometheus.CounterValue, float64(all.Unpermitted))
	for name, u := range per {
		ch <- prometheus.MustNewConstMetric(s.acctDesc, prometheus.CounterValue, float64(u.BytesUp+u.BytesDown), name)
	}
}

// Usage is an account's relay traffic, live.
type Usage struct {
	BytesClientToPeer, BytesPeerToClient     uint64
	PacketsClientToPeer, PacketsPeerToClient uint64
	AllocationsActive                        int
}

// AccountUsage reports an account's traffic (zero for an account not
// tracked) and its live allocations.
func (s *Server) AccountUsage(account string) Usage {
	u := s.stats.accountTotals(account)
	n := s.registry.accountAllocations(account)
	return Usage{BytesClientToPeer: u.BytesUp, BytesPeerToClient: u.BytesDown,
		PacketsClientToPeer: u.PacketsUp, PacketsPeerToClient: u.PacketsDown, AllocationsActive: n}
}
