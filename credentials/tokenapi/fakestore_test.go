package tokenapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// fakeStore is an in-memory store.Store for unit tests; the SQLite store is
// exercised by sqlite_test.go.
type fakeStore struct {
	mu       sync.Mutex
	accounts map[string]store.Account
	keys     map[string]store.Key
	revoked  []store.Revocation
	now      func() time.Time
	failAll  error // when set, every call fails with it
}

var _ store.Store = (*fakeStore)(nil)

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{accounts: map[string]store.Account{}, keys: map[string]store.Key{}, now: now}
}

func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setFail makes every later call fail with err (nil restores service).
func (f *fakeStore) setFail(err error) {
	defer f.lock()()
	f.failAll = err
}

func (f *fakeStore) stamp() time.Time { return f.now().UTC().Truncate(time.Second) }

func (f *fakeStore) CreateAccount(_ context.Context, name string) (store.Account, error) {
	defer f.lock()()
	if f.failAll != nil {
		return store.Account{}, f.failAll
	}
	t := f.stamp()
	a := store.Account{SID: "AC" + randHex(32), FriendlyName: name, AuthToken: randHex(32), AuthTokenID: "TK" + randHex(32), DateCreated: t, DateUpdated: t}
	f.accounts[a.SID] = a
	return a, nil
}

func (f *fakeStore) GetAccount(_ context.Context, sid string) (store.Account, error) {
	defer f.lock()()
	return f.account(sid)
}

// lock takes the fake's mutex and returns its unlock.
func (f *fakeStore) lock() func() {
	f.mu.Lock()
	return f.mu.Unlock
}

// account reads sid under the lock: failAll while set, else ErrNotFound
// when there is no such account.
func (f *fakeStore) account(sid string) (store.Account, error) {
	if f.failAll != nil {
		return store.Account{}, f.failAll
	}
	a, ok := f.accounts[sid]
	if !ok {
		return store.Account{}, store.ErrNotFound
	}
	return a, nil
}

func (f *fakeStore) ListAccounts(context.Context) ([]store.Account, error) {
	defer f.lock()()
	if f.failAll != nil {
		return nil, f.failAll
	}
	var out []store.Account
	for _, a := range f.accounts {
		out = append(out, a)
	}
	return out, nil
}

func (f *fakeStore) RotateAuthToken(_ context.Context, sid string) (store.Account, error) {
	defer f.lock()()
	a, ok := f.accounts[sid]
	if !ok {
		return store.Account{}, store.ErrNotFound
	}
	f.revoked = append(f.revoked, store.Revocation{Seq: int64(len(f.revoked) + 1), CredID: a.AuthTokenID, AccountSID: sid, RevokedAt: f.stamp()})
	a.AuthToken, a.AuthTokenID, a.DateUpdated = randHex(32), "TK"+randHex(32), f.stamp()
	f.accounts[sid] = a
	return a, nil
}

func (f *fakeStore) CreateKey(ctx context.Context, accountSID, name string) (store.Key, error) {
	return f.createKey(ctx, accountSID, name, false)
}

func (f *fakeStore) CreateMainKey(ctx context.Context, accountSID, name string) (store.Key, error) {
	return f.createKey(ctx, accountSID, name, true)
}

func (f *fakeStore) createKey(_ context.Context, accountSID, name string, main bool) (store.Key, error) {
	defer f.lock()()
	if f.failAll != nil {
		return store.Key{}, f.failAll
	}
	if _, ok := f.accounts[accountSID]; !ok {
		return store.Key{}, store.ErrNotFound
	}
	t := f.stamp()
	k := store.Key{SID: "SK" + randHex(32), AccountSID: accountSID, FriendlyName: name, Secret: randHex(32), Main: main, DateCreated: t, DateUpdated: t}
	f.keys[k.SID] = k
	return k, nil
}

func (f *fakeStore) GetKey(_ context.Context, accountSID, keySID string) (store.Key, error) {
	defer f.lock()()
	if f.failAll != nil {
		return store.Key{}, f.failAll
	}
	k, ok := f.keys[keySID]
	if !ok || (accountSID != "" && k.AccountSID != accountSID) {
		return store.Key{}, store.ErrNotFound
	}
	return k, nil
}

func (f *fakeStore) ListKeys(_ context.Context, accountSID string) ([]store.Key, error) {
	defer f.lock()()
	if f.failAll != nil {
		return nil, f.failAll
	}
	var out []store.Key
	for _, k := range f.keys {
		if k.AccountSID == accountSID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeStore) ListKeysPage(ctx context.Context, accountSID string, after store.KeyCursor, limit int) ([]store.Key, error) {
	all, err := f.ListKeys(ctx, accountSID)
	if err != nil {
		return nil, err
	}
	if _, err := f.GetAccount(ctx, accountSID); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(x, y store.Key) int {
		return cmp.Or(x.DateUpdated.Compare(y.DateUpdated), cmp.Compare(x.SID, y.SID))
	})
	out := []store.Key{}
	for _, k := range all {
		if (k.DateUpdated.After(after.DateUpdated) || (k.DateUpdated.Equal(after.DateUpdated) && k.SID > after.SID)) && len(out) < limit {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeStore) UpdateKey(_ context.Context, accountSID, keySID, name string) (store.Key, error) {
	defer f.lock()()
	k, ok := f.keys[keySID]
	if !ok || k.AccountSID != accountSID {
		return store.Key{}, store.ErrNotFound
	}
	k.FriendlyName, k.DateUpdated = name, f.stamp()
	f.keys[keySID] = k
	return k, nil
}

func (f *fakeStore) DeleteKey(_ context.Context, accountSID, keySID string) error {
	defer f.lock()()
	k, ok := f.keys[keySID]
	if !ok || k.AccountSID != accountSID {
		return store.ErrNotFound
	}
	delete(f.keys, keySID)
	f.revoked = append(f.revoked, store.Revocation{Seq: int64(len(f.revoked) + 1), CredID: keySID, AccountSID: accountSID, RevokedAt: f.stamp()})
	return nil
}

func (f *fakeStore) RevocationsAfter(_ context.Context, after int64, limit int) ([]store.Revocation, error) {
	defer f.lock()()
	var out []store.Revocation
	for _, r := range f.revoked {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) PruneRevocations(context.Context, time.Time) error { return nil }

func (f *fakeStore) Ping(context.Context) error {
	if f.failAll != nil {
		return f.failAll
	}
	return nil
}

func (f *fakeStore) Close() error { return nil }

var errStoreDown = errors.New("fake store: database unreachable at db.internal:5432")
