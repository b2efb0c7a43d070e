package relay

import "time"

// allocationGone wakes a Drain waiting for the allocations to end.
func (s *Server) allocationGone() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

// AllocationCount is the number of live allocations.
func (s *Server) AllocationCount() int { return s.turn.AllocationCount() }

// Drain refuses new allocations from now on and waits until the live ones
// end or the deadline passes. It returns the number still alive.
func (s *Server) Drain(deadline time.Time) int {
	s.draining.Store(true)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		n := s.AllocationCount()
		if n == 0 {
			return 0
		}
		select {
		case <-t.C:
			return s.AllocationCount()
		case <-s.idle:
		case <-tick.C:
		}
	}
}
