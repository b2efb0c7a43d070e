package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDB is one empty database under test. open may be called many times,
// also after earlier stores were closed, and always reaches the same data.
type testDB struct {
	open func(ctx context.Context, key []byte) (Store, error)
	// raw returns everything the database holds at rest, for checking that
	// no secret is stored in plaintext.
	raw func(t *testing.T) []byte
}

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	keySIDPattern     = regexp.MustCompile(`^SK[0-9a-f]{32}$`)
	tokenIDPattern    = regexp.MustCompile(`^TK[0-9a-f]{32}$`)
	authTokenPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	keySecretPattern  = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
)

// baseTime is where tests that pin the clock start.
var baseTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, SealKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeClock is a settable time source for setClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// conformance opens stores for one subtest.
type conformance struct {
	t   *testing.T
	ctx context.Context
	db  testDB
	key []byte
}

// open opens the database with the subtest's key and closes it at cleanup.
func (c *conformance) open() Store {
	c.t.Helper()
	s, err := c.db.open(c.ctx, c.key)
	if err != nil {
		c.t.Fatalf("open: %v", err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

// openWithClock opens the database with its clock pinned to the result.
func (c *conformance) openWithClock() (Store, *fakeClock) {
	c.t.Helper()
	s := c.open()
	clock := &fakeClock{t: baseTime}
	setter, ok := s.(interface{ setClock(func() time.Time) })
	if !ok {
		c.t.Fatalf("%T has no setClock", s)
	}
	setter.setClock(clock.now)
	return s, clock
}

// must fails the subtest when a setup call, named by format and args, fails.
func (c *conformance) must(err error, format string, args ...any) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf(format+": %v", append(args, err)...)
	}
}

func (c *conformance) createAccount(s Store, name string) Account {
	c.t.Helper()
	a, err := s.CreateAccount(c.ctx, name)
	c.must(err, "CreateAccount(%q)", name)
	return a
}

func (c *conformance) createKey(s Store, accountSID, name string) Key {
	c.t.Helper()
	k, err := s.CreateKey(c.ctx, accountSID, name)
	c.must(err, "CreateKey(%s, %q)", accountSID, name)
	return k
}

func (c *conformance) revocations(s Store, after int64) []Revocation {
	c.t.Helper()
	rs, err := s.RevocationsAfter(c.ctx, after, 1000)
	c.must(err, "RevocationsAfter(%d)", after)
	return rs
}

// openWithTwoAccounts opens with a pinned clock and creates accounts "a"
// and "other", the setup of the ordering and paging tests.
func (c *conformance) openWithTwoAccounts() (s Store, clock *fakeClock, a, other Account) {
	c.t.Helper()
	s, clock = c.openWithClock()
	return s, clock, c.createAccount(s, "a"), c.createAccount(s, "other")
}

// runConformance is the one suite every backend must pass. fresh returns a
// new, empty database for each subtest.
func runConformance(t *testing.T, fresh func(t *testing.T) testDB) {
	tests := []struct {
		name string
		run  func(c *conformance)
	}{
		{"Accounts", testAccounts},
		{"InvalidNames", testInvalidNames},
		{"AccountOrdering", testAccountOrdering},
		{"Keys", testKeys},
		{"KeysNotFound", testKeysNotFound},
		{"KeyOrdering", testKeyOrdering},
		{"KeyKinds", testKeyKinds},
		{"KeysPage", testKeysPage},
		{"KeysPageRemoveAll", testKeysPageRemoveAll},
		{"RevocationFeed", testRevocationFeed},
		{"PruneRevocations", testPruneRevocations},
		{"AccountStatus", testAccountStatus},
		{"Subaccounts", testSubaccounts},
		{"AccountsPage", testAccountsPage},
		{"ReinstatedFeed", testReinstatedFeed},
		{"Usage", testUsage},
		{"ConcurrentUsage", testConcurrentUsage},
		{"Persistence", testPersistence},
		{"WrongSealKey", testWrongSealKey},
		{"ConcurrentCreateKey", testConcurrentCreateKey},
		{"ConcurrentRevocations", testConcurrentRevocations},
		{"ConcurrentOpen", testConcurrentOpen},
		{"NoPlaintextAtRest", testNoPlaintextAtRest},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tt.run(&conformance{t: t, ctx: ctx, db: fresh(t), key: randomKey(t)})
		})
	}
}

func checkTimestamp(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.IsZero() || got.Location() != time.UTC || got.Nanosecond() != 0 {
		t.Errorf("%s = %v (%v): want a UTC time with whole seconds", what, got, got.Location())
	}
}

func testAccounts(c *conformance) {
	t, s := c.t, c.open()
	before := time.Now().UTC().Truncate(time.Second)
	a := c.createAccount(s, "Main account")
	after := time.Now().UTC()

	if !accountSIDPattern.MatchString(a.SID) || !authTokenPattern.MatchString(a.AuthToken) || !tokenIDPattern.MatchString(a.AuthTokenID) {
		t.Errorf("CreateAccount = %+v: malformed SID, auth token or token ID", a)
	}
	if a.FriendlyName != "Main account" {
		t.Errorf("FriendlyName = %q", a.FriendlyName)
	}
	checkTimestamp(t, "DateCreated", a.DateCreated)
	if a.DateCreated.Before(before) || a.DateCreated.After(after) || !a.DateUpdated.Equal(a.DateCreated) {
		t.Errorf("dates = %v / %v, want between %v and %v and equal", a.DateCreated, a.DateUpdated, before, after)
	}

	got, err := s.GetAccount(c.ctx, a.SID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	if got != a {
		t.Errorf("GetAccount = %+v, want %+v", got, a)
	}

	b := c.createAccount(s, "")
	if a.SID == b.SID || a.AuthToken == b.AuthToken || a.AuthTokenID == b.AuthTokenID {
		t.Errorf("two accounts share a SID, token or token ID: %+v %+v", a, b)
	}
	list, err := s.ListAccounts(c.ctx)
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if len(list) != 2 || !slices.Contains(list, a) || !slices.Contains(list, b) {
		t.Errorf("ListAccounts = %+v, want %+v and %+v", list, a, b)
	}

	for _, sid := range []string{"AC00000000000000000000000000000000", "", "not a sid", a.AuthTokenID} {
		if _, err := s.GetAccount(c.ctx, sid); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetAccount(%q) error = %v, want ErrNotFound", sid, err)
		}
		if _, err := s.RotateAuthToken(c.ctx, sid); !errors.Is(err, ErrNotFound) {
			t.Errorf("RotateAuthToken(%q) error = %v, want ErrNotFound", sid, err)
		}
	}
}

func testInvalidNames(c *conformance) {
	t, s := c.t, c.open()
	a := c.createAccount(s, "ok")
	k := c.createKey(s, a.SID, "ok")
	valid := []string{"", "x", strings.Repeat("é", MaxFriendlyNameLen), "Ünïcødé 🔑 key"}
	invalid := []struct {
		name, value string
	}{
		{"too long", strings.Repeat("a", MaxFriendlyNameLen+1)},
		{"NUL", "a\x00b"},
		{"invalid UTF-8", "a\xffb"},
		{"newline", "a\nb"},
		{"escape", "\x1b[31mred"},
	}
	for _, v := range valid {
		if _, err := s.CreateAccount(c.ctx, v); err != nil {
			t.Errorf("CreateAccount(%q): %v", v, err)
		}
		if _, err := s.CreateKey(c.ctx, a.SID, v); err != nil {
			t.Errorf("CreateKey(%q): %v", v, err)
		}
		if got, err := s.UpdateKey(c.ctx, a.SID, k.SID, v); err != nil || got.FriendlyName != v {
			t.Errorf("UpdateKey(%q) = %q, %v", v, got.FriendlyName, err)
		}
	}
	for _, tc := range invalid {
		if _, err := s.CreateAccount(c.ctx, tc.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateAccount(%s) error = %v, want ErrInvalid", tc.name, err)
		}
		if _, err := s.CreateKey(c.ctx, a.SID, tc.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateKey(%s) error = %v, want ErrInvalid", tc.name, err)
		}
		if _, err := s.UpdateKey(c.ctx, a.SID, k.SID, tc.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateKey(%s) error = %v, want ErrInvalid", tc.name, err)
		}
	}
}

// testAccountOrdering creates accounts out of date order, several within one
// second, and expects ListAccounts ordered by (date_created, sid).
func testAccountOrdering(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	var want []Account
	for _, offset := range []int{5, 0, 5, 2, 0, 5, 2} {
		clock.set(baseTime.Add(time.Duration(offset) * time.Second))
		want = append(want, c.createAccount(s, fmt.Sprint(offset)))
	}
	slices.SortFunc(want, func(a, b Account) int {
		if d := a.DateCreated.Compare(b.DateCreated); d != 0 {
			return d
		}
		return strings.Compare(a.SID, b.SID)
	})
	got, err := s.ListAccounts(c.ctx)
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListAccounts order:\n got %v\nwant %v", accountSIDs(got), accountSIDs(want))
	}
}

func accountSIDs(as []Account) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.DateCreated.Format(time.TimeOnly)+" "+a.SID)
	}
	return out
}

func testKeys(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	a := c.createAccount(s, "a")
	k := c.createKey(s, a.SID, "laptop")
	if !keySIDPattern.MatchString(k.SID) || !keySecretPattern.MatchString(k.Secret) {
		t.Errorf("CreateKey = %+v: malformed SID or secret", k)
	}
	if k.AccountSID != a.SID || k.FriendlyName != "laptop" || !k.DateCreated.Equal(baseTime) || !k.DateUpdated.Equal(baseTime) {
		t.Errorf("CreateKey = %+v", k)
	}
	checkTimestamp(t, "DateCreated", k.DateCreated)

	for _, account := range []string{a.SID, ""} {
		got, err := s.GetKey(c.ctx, account, k.SID)
		if err != nil || got != k {
			t.Errorf("GetKey(%q) = %+v, %v; want %+v", account, got, err, k)
		}
	}

	k2 := c.createKey(s, a.SID, "server")
	if k2.SID == k.SID || k2.Secret == k.Secret {
		t.Errorf("two keys share a SID or secret: %+v %+v", k, k2)
	}
	list, err := s.ListKeys(c.ctx, a.SID)
	if err != nil || !slices.Equal(list, sortedKeys(k, k2)) {
		t.Errorf("ListKeys = %+v, %v; want %+v", list, err, sortedKeys(k, k2))
	}

	clock.set(baseTime.Add(time.Hour))
	updated, err := s.UpdateKey(c.ctx, a.SID, k.SID, "renamed")
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	want := k
	want.FriendlyName, want.DateUpdated = "renamed", baseTime.Add(time.Hour)
	if updated != want {
		t.Errorf("UpdateKey = %+v, want %+v", updated, want)
	}
	if got, err := s.GetKey(c.ctx, a.SID, k.SID); err != nil || got != want {
		t.Errorf("GetKey after update = %+v, %v; want %+v", got, err, want)
	}

	if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if _, err := s.GetKey(c.ctx, "", k.SID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetKey after delete error = %v, want ErrNotFound", err)
	}
	if list, err := s.ListKeys(c.ctx, a.SID); err != nil || !slices.Equal(list, []Key{k2}) {
		t.Errorf("ListKeys after delete = %+v, %v; want only %s", list, err, k2.SID)
	}

	empty := c.createAccount(s, "no keys")
	if list, err := s.ListKeys(c.ctx, empty.SID); err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListKeys(account without keys) = %#v, %v; want an empty non-nil slice", list, err)
	}
}

func sortedKeys(ks ...Key) []Key {
	out := slices.Clone(ks)
	slices.SortFunc(out, func(a, b Key) int {
		if d := a.DateCreated.Compare(b.DateCreated); d != 0 {
			return d
		}
		return strings.Compare(a.SID, b.SID)
	})
	return out
}

func testKeysNotFound(c *conformance) {
	t, s := c.t, c.open()
	a := c.createAccount(s, "a")
	other := c.createAccount(s, "other")
	k := c.createKey(s, a.SID, "k")
	unknownAccount := "AC" + strings.Repeat("0", 32)
	unknownKey := "SK" + strings.Repeat("0", 32)

	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"CreateKey unknown account", func() error { _, err := s.CreateKey(c.ctx, unknownAccount, "x"); return err }, ErrNotFound},
		{"CreateKey empty account", func() error { _, err := s.CreateKey(c.ctx, "", "x"); return err }, ErrNotFound},
		{"ListKeys unknown account", func() error { _, err := s.ListKeys(c.ctx, unknownAccount); return err }, ErrNotFound},
		{"GetKey unknown key", func() error { _, err := s.GetKey(c.ctx, a.SID, unknownKey); return err }, ErrNotFound},
		{"GetKey unknown key, any account", func() error { _, err := s.GetKey(c.ctx, "", unknownKey); return err }, ErrNotFound},
		{"GetKey of another account", func() error { _, err := s.GetKey(c.ctx, other.SID, k.SID); return err }, ErrNotFound},
		{"UpdateKey of another account", func() error { _, err := s.UpdateKey(c.ctx, other.SID, k.SID, "x"); return err }, ErrNotFound},
		{"UpdateKey unknown key", func() error { _, err := s.UpdateKey(c.ctx, a.SID, unknownKey, "x"); return err }, ErrNotFound},
		{"UpdateKey without account", func() error { _, err := s.UpdateKey(c.ctx, "", k.SID, "x"); return err }, ErrInvalid},
		{"DeleteKey of another account", func() error { return s.DeleteKey(c.ctx, other.SID, k.SID) }, ErrNotFound},
		{"DeleteKey unknown key", func() error { return s.DeleteKey(c.ctx, a.SID, unknownKey) }, ErrNotFound},
		{"DeleteKey without account", func() error { return s.DeleteKey(c.ctx, "", k.SID) }, ErrInvalid},
	}
	for _, tc := range cases {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
	}
	// None of the refused calls touched the key or wrote to the feed.
	if got, err := s.GetKey(c.ctx, a.SID, k.SID); err != nil || got != k {
		t.Errorf("GetKey after refused calls = %+v, %v; want %+v", got, err, k)
	}
	if rs := c.revocations(s, 0); len(rs) != 0 {
		t.Errorf("revocations after refused calls = %+v, want none", rs)
	}

	if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if err := s.DeleteKey(c.ctx, a.SID, k.SID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteKey error = %v, want ErrNotFound", err)
	}
	if rs := c.revocations(s, 0); len(rs) != 1 {
		t.Errorf("revocations after deleting twice = %+v, want exactly one", rs)
	}
}

func testKeyOrdering(c *conformance) {
	t := c.t
	s, clock, a, other := c.openWithTwoAccounts()
	var want []Key
	for i, offset := range []int{3, 0, 3, 1, 0, 3} {
		clock.set(baseTime.Add(time.Duration(offset) * time.Second))
		want = append(want, c.createKey(s, a.SID, fmt.Sprint(i)))
		c.createKey(s, other.SID, fmt.Sprint(i))
	}
	got, err := s.ListKeys(c.ctx, a.SID)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if want = sortedKeys(want...); !slices.Equal(got, want) {
		t.Errorf("ListKeys order:\n got %+v\nwant %+v", got, want)
	}
}

func testRevocationFeed(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	a := c.createAccount(s, "a")
	k1 := c.createKey(s, a.SID, "1")
	k2 := c.createKey(s, a.SID, "2")

	if rs := c.revocations(s, 0); len(rs) != 0 {
		t.Fatalf("feed of a new store = %+v, want empty", rs)
	}

	clock.set(baseTime.Add(10 * time.Second))
	if err := s.DeleteKey(c.ctx, a.SID, k1.SID); err != nil {
		t.Fatal(err)
	}
	clock.set(baseTime.Add(20 * time.Second))
	rotated, err := s.RotateAuthToken(c.ctx, a.SID)
	if err != nil {
		t.Fatalf("RotateAuthToken: %v", err)
	}
	if rotated.SID != a.SID || rotated.FriendlyName != a.FriendlyName || !rotated.DateCreated.Equal(a.DateCreated) ||
		!rotated.DateUpdated.Equal(baseTime.Add(20*time.Second)) {
		t.Errorf("RotateAuthToken = %+v, from %+v", rotated, a)
	}
	if rotated.AuthToken == a.AuthToken || rotated.AuthTokenID == a.AuthTokenID ||
		!authTokenPattern.MatchString(rotated.AuthToken) || !tokenIDPattern.MatchString(rotated.AuthTokenID) {
		t.Errorf("RotateAuthToken kept or malformed the token: %+v, from %+v", rotated, a)
	}
	if got, err := s.GetAccount(c.ctx, a.SID); err != nil || got != rotated {
		t.Errorf("GetAccount after rotate = %+v, %v; want %+v", got, err, rotated)
	}
	clock.set(baseTime.Add(30 * time.Second))
	if err := s.DeleteKey(c.ctx, a.SID, k2.SID); err != nil {
		t.Fatal(err)
	}

	rs := c.revocations(s, 0)
	want := []struct {
		credID string
		at     time.Time
	}{
		{k1.SID, baseTime.Add(10 * time.Second)},
		{a.AuthTokenID, baseTime.Add(20 * time.Second)},
		{k2.SID, baseTime.Add(30 * time.Second)},
	}
	if len(rs) != len(want) {
		t.Fatalf("feed = %+v, want %d entries", rs, len(want))
	}
	for i, w := range want {
		r := rs[i]
		if r.CredID != w.credID || r.AccountSID != a.SID || !r.RevokedAt.Equal(w.at) {
			t.Errorf("feed[%d] = %+v, want %s of %s at %v", i, r, w.credID, a.SID, w.at)
		}
		checkTimestamp(t, "RevokedAt", r.RevokedAt)
		if i > 0 && r.Seq <= rs[i-1].Seq {
			t.Errorf("feed seqs not increasing: %d after %d", r.Seq, rs[i-1].Seq)
		}
	}

	if got := c.revocations(s, rs[0].Seq); !slices.Equal(got, rs[1:]) {
		t.Errorf("RevocationsAfter(first) = %+v, want %+v", got, rs[1:])
	}
	if got := c.revocations(s, rs[2].Seq); len(got) != 0 {
		t.Errorf("RevocationsAfter(last) = %+v, want none", got)
	}
	got, err := s.RevocationsAfter(c.ctx, 0, 2)
	if err != nil || !slices.Equal(got, rs[:2]) {
		t.Errorf("RevocationsAfter(0, limit 2) = %+v, %v; want %+v", got, err, rs[:2])
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.RevocationsAfter(c.ctx, 0, limit); !errors.Is(err, ErrInvalid) {
			t.Errorf("RevocationsAfter(limit %d) error = %v, want ErrInvalid", limit, err)
		}
	}
}

func testPruneRevocations(c *conformance) {
	t := c.t
	s, clock := c.openWithClock()
	a := c.createAccount(s, "a")
	var keys []Key
	for range 4 {
		keys = append(keys, c.createKey(s, a.SID, ""))
	}
	for i, k := range keys[:3] {
		clock.set(baseTime.Add(time.Duration(10*i) * time.Second))
		if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
			t.Fatal(err)
		}
	}
	all := c.revocations(s, 0)

	cases := []struct {
		before time.Time
		want   []Revocation
	}{
		{baseTime, all},
		// Sub-second cut-offs round down: pruning less is always safe.
		{baseTime.Add(10*time.Second + 900*time.Millisecond), all[1:]},
		{baseTime.Add(11 * time.Second), all[2:]},
		// Non-UTC cut-offs mean the same instant.
		{baseTime.Add(20 * time.Second).In(time.FixedZone("UTC+5", 5*3600)), all[2:]},
		{baseTime.Add(time.Hour), nil},
	}
	for _, tc := range cases {
		if err := s.PruneRevocations(c.ctx, tc.before); err != nil {
			t.Fatalf("PruneRevocations(%v): %v", tc.before, err)
		}
		if got := c.revocations(s, 0); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
			t.Errorf("after PruneRevocations(%v) feed = %+v, want %+v", tc.before, got, tc.want)
		}
	}

	// With the feed emptied, a new entry must still come after every seq a
	// reader may have seen.
	clock.set(baseTime.Add(2 * time.Hour))
	if err := s.DeleteKey(c.ctx, a.SID, keys[3].SID); err != nil {
		t.Fatal(err)
	}
	rs := c.revocations(s, 0)
	if len(rs) != 1 || rs[0].Seq <= all[len(all)-1].Seq || rs[0].CredID != keys[3].SID {
		t.Errorf("feed after prune and delete = %+v, want one entry for %s with seq > %d", rs, keys[3].SID, all[len(all)-1].Seq)
	}
}

func testPersistence(c *conformance) {
	t := c.t
	s := c.open()
	a := c.createAccount(s, "persisted")
	k := c.createKey(s, a.SID, "k")
	deleted := c.createKey(s, a.SID, "gone")
	if err := s.DeleteKey(c.ctx, a.SID, deleted.SID); err != nil {
		t.Fatal(err)
	}
	feed := c.revocations(s, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 2 { // the second reopen finds the schema already current
		s2 := c.open()
		if got, err := s2.GetAccount(c.ctx, a.SID); err != nil || got != a {
			t.Errorf("reopen %d: GetAccount = %+v, %v; want %+v", i, got, err, a)
		}
		if got, err := s2.ListKeys(c.ctx, a.SID); err != nil || !slices.Equal(got, []Key{k}) {
			t.Errorf("reopen %d: ListKeys = %+v, %v; want %+v", i, got, err, k)
		}
		if got := c.revocations(s2, 0); !slices.Equal(got, feed) {
			t.Errorf("reopen %d: feed = %+v, want %+v", i, got, feed)
		}
		if err := s2.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func testWrongSealKey(c *conformance) {
	t := c.t
	s := c.open()
	a := c.createAccount(s, "a")
	s.Close()

	other := randomKey(t)
	s2, err := c.db.open(c.ctx, other)
	if err == nil {
		s2.Close()
		t.Fatal("opening with another encryption key succeeded")
	}
	const msg = "the store encryption key differs from the one that wrote this database"
	if !errors.Is(err, ErrSealKeyMismatch) || !strings.Contains(err.Error(), msg) {
		t.Errorf("open with another key: error = %v, want ErrSealKeyMismatch saying %q", err, msg)
	}

	// The right key still works: the failed open changed nothing.
	s3 := c.open()
	if got, err := s3.GetAccount(c.ctx, a.SID); err != nil || got != a {
		t.Errorf("GetAccount with the right key = %+v, %v", got, err)
	}
}

func testConcurrentCreateKey(c *conformance) {
	t, s := c.t, c.open()
	a := c.createAccount(s, "busy")
	const n = 50
	keys := make([]Key, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = s.CreateKey(c.ctx, a.SID, fmt.Sprint(i)) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateKey %d: %v", i, err)
			continue
		}
		if seen[keys[i].SID] {
			t.Errorf("SID %s created twice", keys[i].SID)
		}
		seen[keys[i].SID] = true
	}
	list, err := s.ListKeys(c.ctx, a.SID)
	if err != nil || len(list) != n {
		t.Errorf("ListKeys = %d keys, %v; want %d", len(list), err, n)
	}
}

// testConcurrentRevocations deletes keys and rotates tokens at once and
// expects every revocation in the feed exactly once, in increasing seq.
func testConcurrentRevocations(c *conformance) {
	t, s := c.t, c.open()
	a := c.createAccount(s, "a")
	const nKeys, nRotations = 30, 10
	var keys []Key
	for range nKeys {
		keys = append(keys, c.createKey(s, a.SID, ""))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		oldIDs   = map[string]bool{a.AuthTokenID: true}
		finalIDs = map[string]bool{}
	)
	for _, k := range keys {
		wg.Go(func() {
			if err := s.DeleteKey(c.ctx, a.SID, k.SID); err != nil {
				t.Errorf("DeleteKey: %v", err)
			}
		})
	}
	for range nRotations {
		wg.Go(func() {
			r, err := s.RotateAuthToken(c.ctx, a.SID)
			if err != nil {
				t.Errorf("RotateAuthToken: %v", err)
				return
			}
			mu.Lock()
			oldIDs[r.AuthTokenID] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	final, err := s.GetAccount(c.ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	finalIDs[final.AuthTokenID] = true

	rs := c.revocations(s, 0)
	if len(rs) != nKeys+nRotations {
		t.Fatalf("feed has %d entries, want %d", len(rs), nKeys+nRotations)
	}
	revoked := map[string]bool{}
	for i, r := range rs {
		if i > 0 && r.Seq <= rs[i-1].Seq {
			t.Errorf("feed seqs not increasing: %d after %d", r.Seq, rs[i-1].Seq)
		}
		if revoked[r.CredID] {
			t.Errorf("%s revoked twice", r.CredID)
		}
		revoked[r.CredID] = true
	}
	for _, k := range keys {
		if !revoked[k.SID] {
			t.Errorf("deleted key %s missing from the feed", k.SID)
		}
	}
	// Every token ID but the current one was revoked, and the current one
	// was not: rotations must not lose or double-revoke an ID.
	for id := range oldIDs {
		if revoked[id] == finalIDs[id] {
			t.Errorf("token ID %s: revoked=%v, current=%v", id, revoked[id], finalIDs[id])
		}
	}
}

// testConcurrentOpen opens a new database from several goroutines at once,
// as nodes starting together do: migrations and the seal check must not race.
func testConcurrentOpen(c *conformance) {
	t := c.t
	const n = 4
	stores := make([]Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = c.db.open(c.ctx, c.key) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	a := c.createAccount(stores[0], "a")
	for i, s := range stores {
		if got, err := s.GetAccount(c.ctx, a.SID); err != nil || got != a {
			t.Errorf("store %d: GetAccount = %+v, %v", i, got, err)
		}
	}
}

func testNoPlaintextAtRest(c *conformance) {
	t, s := c.t, c.open()
	a := c.createAccount(s, "secretive")
	k := c.createKey(s, a.SID, "k")
	rotated, err := s.RotateAuthToken(c.ctx, a.SID)
	if err != nil {
		t.Fatal(err)
	}
	k2 := c.createKey(s, a.SID, "k2")

	check := func(when string) {
		raw := c.db.raw(t)
		// The dump must hold the rows, or the absence checks prove nothing.
		for _, id := range []string{a.SID, k.SID, k2.SID} {
			if !bytes.Contains(raw, []byte(id)) {
				t.Fatalf("%s: raw database does not contain %s: the dump is not reading the data", when, id)
			}
		}
		for what, secret := range map[string]string{
			"old auth token": a.AuthToken,
			"auth token":     rotated.AuthToken,
			"key secret":     k.Secret,
			"key secret 2":   k2.Secret,
		} {
			if bytes.Contains(raw, []byte(secret)) || bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(secret))) {
				t.Errorf("%s: raw database contains the %s in plaintext", when, what)
			}
		}
	}
	check("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}

func testPing(c *conformance) {
	t, s := c.t, c.open()
	if err := s.Ping(c.ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(c.ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}
