package tokenapi

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// The fake's account model: enough for handlers that only read accounts;
// the account and usage tests run on SQLite (sqlite_test.go).

func (f *fakeStore) CreateSubaccount(ctx context.Context, parentSID, name string) (store.Account, error) {
	parent, err := f.GetAccount(ctx, parentSID)
	if err != nil {
		return store.Account{}, err
	}
	a, err := f.CreateAccount(ctx, name)
	if err != nil {
		return store.Account{}, err
	}
	defer f.lock()()
	a.ParentSID, a.ParentStatus = parent.SID, parent.Status
	f.accounts[a.SID] = a
	return a, nil
}

func (f *fakeStore) ListAccountsPage(_ context.Context, flt store.AccountFilter, after store.AccountCursor, limit int) ([]store.Account, error) {
	defer f.lock()()
	if f.failAll != nil {
		return nil, f.failAll
	}
	var out []store.Account
	for _, a := range f.accounts {
		if a.SID != flt.Owner && a.ParentSID != flt.Owner {
			continue
		}
		if c := cmp.Or(a.DateCreated.Compare(after.DateCreated), cmp.Compare(a.SID, after.SID)); c > 0 {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b store.Account) int {
		return cmp.Or(a.DateCreated.Compare(b.DateCreated), cmp.Compare(a.SID, b.SID))
	})
	return out[:min(limit, len(out))], nil
}

func (f *fakeStore) UpdateAccount(_ context.Context, sid string, u store.AccountUpdate) (store.Account, error) {
	defer f.lock()()
	a, err := f.account(sid)
	if err != nil {
		return store.Account{}, err
	}
	if u.FriendlyName != nil {
		a.FriendlyName = *u.FriendlyName
	}
	if u.Status != "" {
		a.Status = u.Status
	}
	a.DateUpdated = f.stamp()
	f.accounts[sid] = a
	return a, nil
}

func (f *fakeStore) AddUsage(context.Context, []store.UsageDelta) error {
	defer f.lock()()
	return f.failAll
}

func (f *fakeStore) UsageDays(context.Context, string, bool, time.Time, time.Time) ([]store.UsageDay, error) {
	defer f.lock()()
	return []store.UsageDay{}, f.failAll
}
