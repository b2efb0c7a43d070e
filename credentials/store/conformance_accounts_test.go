package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (c *conformance) update(s Store, sid string, u AccountUpdate) Account {
	c.t.Helper()
	a, err := s.UpdateAccount(c.ctx, sid, u)
	c.must(err, "UpdateAccount(%s, %+v)", sid, u)
	return a
}

func (c *conformance) createSub(s Store, parent, name string) Account {
	c.t.Helper()
	a, err := s.CreateSubaccount(c.ctx, parent, name)
	c.must(err, "CreateSubaccount(%s, %q)", parent, name)
	return a
}

// feedOf is the revocation feed after seq as (credID, reinstated) pairs.
func (c *conformance) feedOf(s Store, after int64) []string {
	var out []string
	for _, r := range c.revocations(s, after) {
		e := r.CredID
		if r.Reinstated {
			e += "+"
		}
		out = append(out, e)
	}
	return out
}

func lastSeq(rs []Revocation) int64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)-1].Seq
}

func testAccountStatus(c *conformance) {
	t := c.t
	s := c.open()
	a := c.createAccount(s, "a")
	if a.Status != StatusActive || a.ParentSID != "" || a.Standing() != StatusActive || a.OwnerSID() != a.SID {
		t.Fatalf("new account = status %q parent %q standing %q; want active, top-level", a.Status, a.ParentSID, a.Standing())
	}
	name := "renamed"
	got := c.update(s, a.SID, AccountUpdate{FriendlyName: &name})
	if got.FriendlyName != name || got.Status != StatusActive {
		t.Errorf("rename = %+v", got)
	}
	if fs := c.feedOf(s, 0); len(fs) != 0 {
		t.Errorf("a rename wrote feed entries %v", fs)
	}

	got = c.update(s, a.SID, AccountUpdate{Status: StatusSuspended})
	if got.Status != StatusSuspended || got.Standing() != StatusSuspended {
		t.Errorf("suspend = status %q", got.Status)
	}
	if fetched, err := s.GetAccount(c.ctx, a.SID); err != nil || fetched.Status != StatusSuspended {
		t.Errorf("GetAccount after suspend = %q, %v", fetched.Status, err)
	}
	// Suspending again changes nothing and writes nothing.
	before := c.revocations(s, 0)
	c.update(s, a.SID, AccountUpdate{Status: StatusSuspended})
	if after := c.revocations(s, 0); len(after) != len(before) {
		t.Errorf("a repeated suspension wrote %d feed entries", len(after)-len(before))
	}
	c.update(s, a.SID, AccountUpdate{Status: StatusActive})
	if fs := c.feedOf(s, 0); !slices.Equal(fs, []string{a.SID, a.SID + "+"}) {
		t.Errorf("feed after suspend, reactivate = %v; want [%s %s+]", fs, a.SID, a.SID)
	}

	c.update(s, a.SID, AccountUpdate{Status: StatusClosed})
	for _, next := range []string{StatusActive, StatusSuspended} {
		if _, err := s.UpdateAccount(c.ctx, a.SID, AccountUpdate{Status: next}); !errors.Is(err, ErrAccountClosed) {
			t.Errorf("closed → %s: error %v, want ErrAccountClosed", next, err)
		}
	}
	if got, _ := s.GetAccount(c.ctx, a.SID); got.Status != StatusClosed {
		t.Errorf("a refused change left status %q", got.Status)
	}
	for _, bad := range []string{"paused", "Active", " active"} {
		if _, err := s.UpdateAccount(c.ctx, c.createAccount(s, "x").SID, AccountUpdate{Status: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("status %q: error %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.UpdateAccount(c.ctx, "AC00000000000000000000000000000000", AccountUpdate{Status: StatusSuspended}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing account: error %v, want ErrNotFound", err)
	}
	long := strings.Repeat("x", MaxFriendlyNameLen+1)
	if _, err := s.UpdateAccount(c.ctx, a.SID, AccountUpdate{FriendlyName: &long}); !errors.Is(err, ErrInvalid) {
		t.Errorf("long name: error %v, want ErrInvalid", err)
	}
}

func testSubaccounts(c *conformance) {
	t := c.t
	s := c.open()
	parent := c.createAccount(s, "parent")
	sub := c.createSub(s, parent.SID, "sub")
	if sub.ParentSID != parent.SID || sub.OwnerSID() != parent.SID || sub.Status != StatusActive || sub.AuthToken == parent.AuthToken {
		t.Fatalf("subaccount = %+v", sub)
	}
	if !accountSIDPattern.MatchString(sub.SID) || !authTokenPattern.MatchString(sub.AuthToken) {
		t.Errorf("subaccount SID/token malformed")
	}
	if got, err := s.GetAccount(c.ctx, sub.SID); err != nil || got != sub {
		t.Errorf("GetAccount(sub) = %+v, %v; want %+v", got, err, sub)
	}
	if _, err := s.CreateSubaccount(c.ctx, sub.SID, "nested"); !errors.Is(err, ErrInvalid) {
		t.Errorf("subaccount of a subaccount: error %v, want ErrInvalid", err)
	}
	if _, err := s.CreateSubaccount(c.ctx, "AC00000000000000000000000000000000", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("subaccount of a missing account: error %v, want ErrNotFound", err)
	}

	own := c.createSub(s, parent.SID, "suspended itself")
	c.update(s, own.SID, AccountUpdate{Status: StatusSuspended})
	seq := lastSeq(c.revocations(s, 0))

	// Suspending the parent suspends every subaccount's use.
	c.update(s, parent.SID, AccountUpdate{Status: StatusSuspended})
	got, _ := s.GetAccount(c.ctx, sub.SID)
	if got.Status != StatusActive || got.ParentStatus != StatusSuspended || got.Standing() != StatusSuspended {
		t.Errorf("sub of a suspended parent: status %q parent %q standing %q", got.Status, got.ParentStatus, got.Standing())
	}
	feed := c.feedOf(s, seq)
	slices.Sort(feed)
	want := []string{parent.SID, sub.SID, own.SID}
	slices.Sort(want)
	if !slices.Equal(feed, want) {
		t.Errorf("feed after suspending the parent = %v; want %v", feed, want)
	}
	if _, err := s.UpdateAccount(c.ctx, sub.SID, AccountUpdate{Status: StatusSuspended}); !errors.Is(err, ErrAccountInactive) {
		t.Errorf("changing a sub of a suspended parent: error %v, want ErrAccountInactive", err)
	}
	if _, err := s.CreateSubaccount(c.ctx, parent.SID, "x"); !errors.Is(err, ErrAccountInactive) {
		t.Errorf("subaccount of a suspended parent: error %v, want ErrAccountInactive", err)
	}

	// Reactivating reinstates the parent and the subaccounts active on
	// their own, not the one suspended by itself.
	seq = lastSeq(c.revocations(s, 0))
	c.update(s, parent.SID, AccountUpdate{Status: StatusActive})
	feed = c.feedOf(s, seq)
	slices.Sort(feed)
	want = []string{parent.SID + "+", sub.SID + "+"}
	slices.Sort(want)
	if !slices.Equal(feed, want) {
		t.Errorf("feed after reactivating the parent = %v; want %v", feed, want)
	}
	if got, _ := s.GetAccount(c.ctx, own.SID); got.Standing() != StatusSuspended {
		t.Errorf("the sub suspended by itself is %s after its parent's reactivation", got.Standing())
	}

	c.update(s, parent.SID, AccountUpdate{Status: StatusClosed})
	if got, _ := s.GetAccount(c.ctx, sub.SID); got.Standing() != StatusClosed {
		t.Errorf("sub of a closed parent stands %s", got.Standing())
	}
}

func testAccountsPage(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	parent := c.createAccount(s, "parent")
	other := c.createAccount(s, "other")
	c.createSub(s, other.SID, "not ours")
	const n = 300
	all := []Account{parent}
	for i := range n {
		// Many share a second, so the SID breaks ties.
		clock.set(baseTime.Add(time.Duration(i/9) * time.Second))
		all = append(all, c.createSub(s, parent.SID, fmt.Sprintf("sub %d", i%3)))
	}
	aSub := all[9]
	c.update(s, all[5].SID, AccountUpdate{Status: StatusSuspended})
	all[5].Status = StatusSuspended
	c.update(s, all[7].SID, AccountUpdate{Status: StatusClosed})
	all[7].Status = StatusClosed
	slices.SortFunc(all, func(x, y Account) int {
		if d := x.DateCreated.Compare(y.DateCreated); d != 0 {
			return d
		}
		return compareStrings(x.SID, y.SID)
	})
	list := func(f AccountFilter) []string {
		var got []string
		var cur AccountCursor
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging does not end")
			}
			page, err := s.ListAccountsPage(c.ctx, f, cur, 41)
			if err != nil {
				t.Fatalf("ListAccountsPage(%+v): %v", f, err)
			}
			if len(page) == 0 {
				return got
			}
			for _, a := range page {
				got = append(got, a.SID)
			}
			last := page[len(page)-1]
			cur = AccountCursor{DateCreated: last.DateCreated, SID: last.SID}
		}
	}
	for _, f := range []AccountFilter{
		{Owner: parent.SID},
		{Owner: parent.SID, FriendlyName: "sub 1"},
		{Owner: parent.SID, Status: StatusSuspended},
		{Owner: parent.SID, Status: StatusActive, FriendlyName: "sub 2"},
	} {
		var want []string
		for _, a := range all {
			if (f.FriendlyName == "" || a.FriendlyName == f.FriendlyName) && (f.Status == "" || a.Status == f.Status) {
				want = append(want, a.SID)
			}
		}
		if got := list(f); !slices.Equal(got, want) {
			t.Errorf("ListAccountsPage(%+v) paged %d accounts, want %d in (DateCreated, SID) order", f, len(got), len(want))
		}
	}
	if got := list(AccountFilter{Owner: aSub.SID}); len(got) != 1 || got[0] != aSub.SID {
		t.Errorf("a subaccount lists %v; want itself only", got)
	}
	for _, f := range []AccountFilter{{}, {Owner: parent.SID, Status: "paused"}} {
		if _, err := s.ListAccountsPage(c.ctx, f, AccountCursor{}, 10); !errors.Is(err, ErrInvalid) {
			t.Errorf("ListAccountsPage(%+v) error = %v, want ErrInvalid", f, err)
		}
	}
}

// testReinstatedFeed follows a suspension and a reactivation through the
// relays' cache.
func testReinstatedFeed(c *conformance) {
	t := c.t
	s := c.open()
	a := c.createAccount(s, "a")
	k := c.createKey(s, a.SID, "k")
	cache := NewRevocationCache(time.Hour)
	sync := func() {
		t.Helper()
		if err := cache.Sync(c.ctx, s); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	c.update(s, a.SID, AccountUpdate{Status: StatusSuspended})
	sync()
	if !cache.Revoked(a.SID) || cache.Revoked(k.SID) {
		t.Fatalf("after suspension: account revoked %v, key revoked %v; want true, false", cache.Revoked(a.SID), cache.Revoked(k.SID))
	}
	if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
		t.Fatal(err)
	}
	c.update(s, a.SID, AccountUpdate{Status: StatusActive})
	sync()
	if cache.Revoked(a.SID) || !cache.Revoked(k.SID) {
		t.Errorf("after reactivation: account revoked %v, deleted key revoked %v; want false, true", cache.Revoked(a.SID), cache.Revoked(k.SID))
	}
	// A cache that reads the whole feed at once ends in the same state.
	fresh := NewRevocationCache(time.Hour)
	if err := fresh.Sync(c.ctx, s); err != nil {
		t.Fatal(err)
	}
	if fresh.Revoked(a.SID) || !fresh.Revoked(k.SID) {
		t.Errorf("fresh cache: account revoked %v, key revoked %v", fresh.Revoked(a.SID), fresh.Revoked(k.SID))
	}
	c.update(s, a.SID, AccountUpdate{Status: StatusClosed})
	sync()
	if !cache.Revoked(a.SID) {
		t.Error("closed account not revoked")
	}
}
