package relay

// usageLedger holds, per account and exactly (no tracked-accounts cap), the
// relayed bytes not yet handed to the usage flusher. The per-packet path is
// untouched: a drain reads each live allocation's atomic counters and keeps
// what it has taken in the allocation (allocCounters.flushed), and an
// allocation that closes leaves its untaken remainder here. All of it runs
// under relayStats.mu.
type usageLedger struct {
	pending map[string]uint64
}

// take moves c's bytes since the last drain into the ledger.
func (l *usageLedger) take(c *allocCounters) {
	if c.accountSID == "" {
		return
	}
	total := c.bytesUp.Load() + c.bytesDown.Load()
	if d := total - c.flushed; d > 0 {
		if l.pending == nil {
			l.pending = map[string]uint64{}
		}
		l.pending[c.accountSID] += d
		c.flushed = total
	}
}

// TakeUsage returns the bytes (sent plus received, as Twilio bills) each
// account relayed since the last call, and forgets them: the caller owns
// them now, and gives them back with ReturnUsage if it cannot store them.
func (s *Server) TakeUsage() map[string]uint64 {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	for c := range st.live {
		st.ledger.take(c)
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
