package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// testKeyKinds: keys are Standard unless made Main, and the kind persists.
func testKeyKinds(c *conformance) {
	t := c.t
	s := c.open()
	a := c.createAccount(s, "a")
	std := c.createKey(s, a.SID, "std")
	main, err := s.CreateMainKey(c.ctx, a.SID, "main")
	if err != nil {
		t.Fatalf("CreateMainKey: %v", err)
	}
	if std.Main || !main.Main {
		t.Fatalf("kinds: std.Main=%v main.Main=%v", std.Main, main.Main)
	}
	for _, k := range []Key{std, main} {
		got, err := s.GetKey(c.ctx, "", k.SID)
		if err != nil || got.Main != k.Main {
			t.Errorf("GetKey(%s) = %+v, %v; want Main=%v", k.FriendlyName, got, err, k.Main)
		}
	}
	renamed, err := s.UpdateKey(c.ctx, a.SID, main.SID, "still main")
	if err != nil || !renamed.Main {
		t.Errorf("UpdateKey of a Main key = %+v, %v; want it still Main", renamed, err)
	}
	if _, err := s.CreateMainKey(c.ctx, "AC00000000000000000000000000000000", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateMainKey for a missing account: %v, want ErrNotFound", err)
	}
}

// testKeysPage: keyset pages follow (DateUpdated, SID), never repeat or
// skip a key, and a rename moves a key to the end.
func testKeysPage(c *conformance) {
	t := c.t
	s, clock, a, other := c.openWithTwoAccounts()
	const n = 250
	var all []Key
	for i := range n {
		// Many keys share a second, so the SID breaks ties.
		clock.set(baseTime.Add(time.Duration(i/7) * time.Second))
		all = append(all, c.createKey(s, a.SID, fmt.Sprint(i)))
		if i%10 == 0 {
			c.createKey(s, other.SID, fmt.Sprint(i))
		}
	}
	slices.SortFunc(all, func(x, y Key) int {
		if d := x.DateUpdated.Compare(y.DateUpdated); d != 0 {
			return d
		}
		return compareStrings(x.SID, y.SID)
	})
	var got []Key
	var cur KeyCursor
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page, err := s.ListKeysPage(c.ctx, a.SID, cur, 33)
		if err != nil {
			t.Fatalf("ListKeysPage: %v", err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		last := page[len(page)-1]
		cur = KeyCursor{DateUpdated: last.DateUpdated, SID: last.SID}
	}
	if !slices.Equal(got, all) {
		t.Fatalf("paged %d keys, want %d in (DateUpdated, SID) order", len(got), len(all))
	}

	clock.set(baseTime.Add(time.Hour))
	moved, err := s.UpdateKey(c.ctx, a.SID, all[0].SID, "renamed")
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.ListKeysPage(c.ctx, a.SID, KeyCursor{DateUpdated: all[n-1].DateUpdated, SID: all[n-1].SID}, 10)
	if err != nil || len(page) != 1 || page[0] != moved {
		t.Errorf("after rename, page past the old end = %+v, %v; want just the renamed key", page, err)
	}

	empty := c.createAccount(s, "empty")
	if page, err := s.ListKeysPage(c.ctx, empty.SID, KeyCursor{}, 10); err != nil || page == nil || len(page) != 0 {
		t.Errorf("ListKeysPage(no keys) = %#v, %v; want an empty non-nil slice", page, err)
	}
	if _, err := s.ListKeysPage(c.ctx, "AC00000000000000000000000000000000", KeyCursor{}, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListKeysPage(missing account) error = %v, want ErrNotFound", err)
	}
	if _, err := s.ListKeysPage(c.ctx, a.SID, KeyCursor{}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("ListKeysPage(limit 0) error = %v, want ErrInvalid", err)
	}
}

// testKeysPageRemoveAll is the helper libraries' "page, remove each, next
// page" loop: it must remove every key, however many share a timestamp.
func testKeysPageRemoveAll(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	a := c.createAccount(s, "a")
	for i := range 120 {
		clock.set(baseTime.Add(time.Duration(i%3) * time.Second))
		c.createKey(s, a.SID, fmt.Sprint(i))
	}
	var cur KeyCursor
	for pages := 0; ; pages++ {
		if pages > 120 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListKeysPage(c.ctx, a.SID, cur, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
				t.Fatal(err)
			}
		}
		last := page[len(page)-1]
		cur = KeyCursor{DateUpdated: last.DateUpdated, SID: last.SID}
	}
	if left, err := s.ListKeys(c.ctx, a.SID); err != nil || len(left) != 0 {
		t.Errorf("%d keys left after page-and-remove (%v)", len(left), err)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
