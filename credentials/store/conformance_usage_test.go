package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

func (c *conformance) usage(s Store, sid string, subs bool, from, to time.Time) []UsageDay {
	c.t.Helper()
	u, err := s.UsageDays(c.ctx, sid, subs, from, to)
	if err != nil {
		c.t.Fatalf("UsageDays(%s): %v", sid, err)
	}
	return u
}

func testUsage(c *conformance) {
	t := c.t
	s := c.open()
	parent := c.createAccount(s, "parent")
	sub := c.createSub(s, parent.SID, "sub")
	other := c.createAccount(s, "other")
	day1 := time.Date(2031, 3, 4, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(time.Second) // the next UTC day
	add := func(ds ...UsageDelta) {
		t.Helper()
		if err := s.AddUsage(c.ctx, ds); err != nil {
			t.Fatalf("AddUsage: %v", err)
		}
	}
	add(UsageDelta{AccountSID: parent.SID, Region: "eu", Day: day1, Bytes: 1000},
		UsageDelta{AccountSID: parent.SID, Region: "", Day: day1, Bytes: 7},
		UsageDelta{AccountSID: sub.SID, Region: "eu", Day: day1, Bytes: 5},
		UsageDelta{AccountSID: other.SID, Region: "eu", Day: day1, Bytes: 1 << 40})
	// Deltas add up, also within one batch.
	add(UsageDelta{AccountSID: parent.SID, Region: "eu", Day: day1.Add(-time.Hour), Bytes: 24},
		UsageDelta{AccountSID: parent.SID, Region: "eu", Day: day2, Bytes: 3},
		UsageDelta{AccountSID: parent.SID, Region: "eu", Day: day2, Bytes: 4})
	add()

	d1, d2 := utcDay(day1), utcDay(day2)
	if got, want := c.usage(s, parent.SID, false, d1, d2), []UsageDay{
		{Region: "", Day: d1, Bytes: 7}, {Region: "eu", Day: d1, Bytes: 1024}, {Region: "eu", Day: d2, Bytes: 7},
	}; !slices.Equal(got, want) {
		t.Errorf("parent's own usage = %+v; want %+v", got, want)
	}
	if got, want := c.usage(s, parent.SID, true, d1, d1), []UsageDay{
		{Region: "", Day: d1, Bytes: 7}, {Region: "eu", Day: d1, Bytes: 1029},
	}; !slices.Equal(got, want) {
		t.Errorf("parent with subaccounts on day 1 = %+v; want %+v", got, want)
	}
	if got, want := c.usage(s, sub.SID, true, d1, d2), []UsageDay{{Region: "eu", Day: d1, Bytes: 5}}; !slices.Equal(got, want) {
		t.Errorf("subaccount's usage = %+v; want %+v", got, want)
	}
	if got := c.usage(s, other.SID, true, d2, d2.AddDate(1, 0, 0)); len(got) != 0 || got == nil {
		t.Errorf("usage outside the range = %#v; want empty, non-nil", got)
	}
	if got := c.usage(s, other.SID, false, d1, d1); len(got) != 1 || got[0].Bytes != 1<<40 {
		t.Errorf("large total = %+v", got)
	}

	for _, bad := range [][]UsageDelta{
		{{AccountSID: "", Region: "eu", Day: day1, Bytes: 1}},
		{{AccountSID: parent.SID, Region: "eu", Day: day1, Bytes: 1}, {AccountSID: parent.SID, Day: day1, Bytes: -1}},
		{{AccountSID: parent.SID, Region: "e\x00u", Day: day1, Bytes: 1}},
	} {
		if err := s.AddUsage(c.ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUsage(%+v) error = %v, want ErrInvalid", bad, err)
		}
	}
	// A refused batch adds nothing.
	if got := c.usage(s, parent.SID, false, d1, d1); got[1].Bytes != 1024 {
		t.Errorf("after refused batches, parent's eu usage = %d; want 1024", got[1].Bytes)
	}

	// Totals survive a restart.
	s.Close()
	s = c.open()
	if got := c.usage(s, parent.SID, true, d1, d2); len(got) != 3 || got[1].Bytes != 1029 {
		t.Errorf("after reopening: %+v", got)
	}
}

// testConcurrentUsage is several relay nodes flushing into the same rows.
func testConcurrentUsage(c *conformance) {
	t := c.t
	const nodes, flushes, accounts = 4, 25, 20
	stores := make([]Store, nodes)
	for i := range stores {
		stores[i] = c.open()
	}
	var sids []string
	for i := range accounts {
		sids = append(sids, c.createAccount(stores[0], fmt.Sprint(i)).SID)
	}
	day := time.Date(2031, 5, 6, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flushes {
				var batch []UsageDelta
				for _, sid := range sids {
					batch = append(batch, UsageDelta{AccountSID: sid, Region: "eu", Day: day, Bytes: 3})
				}
				if err := stores[n].AddUsage(c.ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AddUsage: %v", err)
	}
	for _, sid := range sids {
		got := c.usage(stores[0], sid, false, day, day)
		if len(got) != 1 || got[0].Bytes != nodes*flushes*3 {
			t.Fatalf("%s: %+v; want %d bytes", sid, got, nodes*flushes*3)
		}
	}
}
