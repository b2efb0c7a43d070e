package relay

// usageLedger holds, per account and exactly (no tracked-accounts cap), the
// relayed bytes not yet handed to the usage flusher. The per-packet path is
// untouched: a drain reads each live allocation's atomic counters and keeps
// what it has taken in the allocation (allocCounters.flushed), and an
// allocation that closes leaves its untaken remainder here. All of it runs
// under relayStats.mu (then the kernel path's lock, as totals takes them).
type usageLedger struct {
	pending map[string]uint64
}

// take moves c's bytes since the last drain into the ledger: its own
// counters plus what the kernel fast path (k, may be nil) relayed for it
// and has not yet moved into them. A total that reads lower than what was
// taken (a kernel counter that could not be read) takes nothing until it
// is past it again.
func (l *usageLedger) take(c *allocCounters, k *kernelOffload) {
	if c.accountSID == "" {
		return
	}
	u := k.counted(c)
	total := u.BytesUp + u.BytesDown
	if total <= c.flushed {
		return
	}
	if l.pending == nil {
		l.pending = map[string]uint64{}
	}
	l.pending[c.accountSID] += total - c.flushed
	c.flushed = total
}

// TakeUsage returns the bytes (sent plus received, as Twilio bills) each
// account relayed since the last call, and forgets them: the caller owns
// them now, and gives them back with ReturnUsage if it cannot store them.
func (s *Server) TakeUsage() map[string]uint64 {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	k := st.kernel.Load()
	for _, set := range st.live {
		for c := range set {
			st.ledger.take(c, k)
		}
	}
	out := st.ledger.pending
	st.ledger.pending = nil
	return out
}

// ReturnUsage puts back usage TakeUsage handed out that could not be
// stored, to be taken again with the next.
func (s *Server) ReturnUsage(u map[string]uint64) {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	for account, n := range u {
		if n == 0 {
			continue
		}
		if st.ledger.pending == nil {
			st.ledger.pending = map[string]uint64{}
		}
		st.ledger.pending[account] += n
	}
}
