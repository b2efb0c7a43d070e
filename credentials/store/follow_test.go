package store

import (
	"context"
	"testing"
	"time"
)

// TestRevocationCacheTellsEachNewRevocation: OnRevoke hears every
// revocation once, whether this process added it first or the feed
// brought it.
func TestRevocationCacheTellsEachNewRevocation(t *testing.T) {
	ctx := context.Background()
	st, err := freshSQLite(t).open(ctx, randomKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.CreateAccount(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, 3)
	for i := range keys {
		if keys[i], err = st.CreateKey(ctx, acct.SID, "k"); err != nil {
			t.Fatal(err)
		}
	}
	c := NewRevocationCache(time.Hour)
	var told []string
	c.OnRevoke(func(r Revocation) { told = append(told, r.CredID) })

	// Deleted here and added at once (as the API does), then seen again
	// in the feed: told once.
	if err := st.DeleteKey(ctx, acct.SID, keys[0].SID); err != nil {
		t.Fatal(err)
	}
	c.Add(keys[0].SID, time.Now())
	// Deleted elsewhere: told by the feed.
	for _, k := range keys[1:] {
		if err := st.DeleteKey(ctx, acct.SID, k.SID); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := c.Sync(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(keys[1].SID, time.Now())
	want := []string{keys[0].SID, keys[1].SID, keys[2].SID}
	if len(told) != len(want) {
		t.Fatalf("told %v, want %v", told, want)
	}
	for i := range want {
		if told[i] != want[i] || !c.Revoked(want[i]) {
			t.Errorf("revocation %d: told %s, want %s (revoked %v)", i, told[i], want[i], c.Revoked(want[i]))
		}
	}
}
