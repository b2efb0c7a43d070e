package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// accountSelect reads accounts with their parent's status, which Standing
// needs.
const accountSelect = `SELECT a.sid, a.friendly_name, a.auth_token_sealed, a.auth_token_id,
	a.date_created, a.date_updated, a.status, COALESCE(a.parent_sid, ''), COALESCE(p.status, '')
	FROM accounts a LEFT JOIN accounts p ON p.sid = a.parent_sid`

// qAccount reads one account; every authenticated request runs it.
const qAccount = accountSelect + ` WHERE a.sid = $1`

const qInsertAccount = `INSERT INTO accounts
	(sid, friendly_name, auth_token_sealed, auth_token_id, date_created, date_updated, status, parent_sid)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// insertAccountArgs are qInsertAccount's arguments; parentSID "" is NULL.
func insertAccountArgs(a Account, sealed []byte) []any {
	var parent sql.NullString
	if a.ParentSID != "" {
		parent = sql.NullString{String: a.ParentSID, Valid: true}
	}
	return []any{a.SID, a.FriendlyName, sealed, a.AuthTokenID, a.DateCreated, a.DateUpdated, a.Status, parent}
}

func (s *sqlStore) scanAccount(row rowScanner) (Account, error) {
	var (
		a      Account
		sealed []byte
	)
	if err := row.Scan(&a.SID, &a.FriendlyName, &sealed, &a.AuthTokenID, timeCol{&a.DateCreated}, timeCol{&a.DateUpdated},
		&a.Status, &a.ParentSID, &a.ParentStatus); err != nil {
		return Account{}, err
	}
	if err := s.unsealAccount(&a, sealed); err != nil {
		return Account{}, err
	}
	return a, nil
}

// readAccount reads sid on c (with the dialect's lock suffix, inside a
// transaction), ErrNotFound if there is none.
func (s *sqlStore) readAccount(ctx context.Context, c conn, sid, lock string) (Account, error) {
	a, err := s.scanAccount(c.queryRow(ctx, qAccount+lock, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, notFoundAccount(sid)
	}
	return a, err
}

func (s *sqlStore) CreateAccount(ctx context.Context, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	if _, err := s.db.writes().exec(ctx, qInsertAccount, insertAccountArgs(a, sealed)...); err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

func (s *sqlStore) GetAccount(ctx context.Context, sid string) (Account, error) {
	a, err := s.readAccount(ctx, s.db.reads(), sid, "")
	if err != nil {
		return Account{}, wrapAccountErr("get account", err)
	}
	return a, nil
}

func (s *sqlStore) ListAccounts(ctx context.Context) ([]Account, error) {
	out, err := queryAll(ctx, s.db.reads(), s.scanAccount, accountSelect+` ORDER BY a.date_created, a.sid`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

func (s *sqlStore) CreateSubaccount(ctx context.Context, parentSID, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create subaccount: %w", err)
	}
	err = s.db.tx(ctx, func(tx conn) error {
		// Shared lock on the parent's row: a concurrent suspension waits, so
		// no subaccount is born active under a parent just suspended.
		parent, err := s.readAccount(ctx, tx, parentSID, s.d.forShare)
		if err != nil {
			return err
		}
		if err := checkParent(parent); err != nil {
			return err
		}
		a.ParentSID, a.ParentStatus = parent.SID, parent.Status
		_, err = tx.exec(ctx, qInsertAccount, insertAccountArgs(a, sealed)...)
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("create subaccount", err)
	}
	return a, nil
}

func (s *sqlStore) ListAccountsPage(ctx context.Context, f AccountFilter, after AccountCursor, limit int) ([]Account, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	if err := checkAccountFilter(f); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	// The zero cursor's time (year 1) is before every account. A row-value
	// comparison uses the (parent_sid, date_created, sid) index.
	out, err := queryAll(ctx, s.db.reads(), s.scanAccount, accountSelect+`
		WHERE (a.sid = $1 OR a.parent_sid = $1)
		AND ($2 = '' OR a.friendly_name = $2) AND ($3 = '' OR a.status = $3)
		AND (a.date_created, a.sid) > ($4, $5)
		ORDER BY a.date_created, a.sid LIMIT $6`,
		f.Owner, f.FriendlyName, f.Status, after.DateCreated.UTC(), after.SID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

func (s *sqlStore) UpdateAccount(ctx context.Context, sid string, u AccountUpdate) (Account, error) {
	if u.FriendlyName != nil {
		if err := checkFriendlyName(*u.FriendlyName); err != nil {
			return Account{}, fmt.Errorf("store: update account: %w", err)
		}
	}
	now := s.timestamp()
	var a Account
	err := s.db.tx(ctx, func(tx conn) error {
		// Locking the account serialises its status changes; the parent's
		// status is read again under a shared lock so it cannot change
		// meanwhile.
		cur, err := s.readAccount(ctx, tx, sid, s.d.forUpdate)
		if err != nil {
			return err
		}
		if cur.ParentSID != "" {
			if err := tx.queryRow(ctx, `SELECT a.status FROM accounts a WHERE a.sid = $1`+s.d.forShare,
				cur.ParentSID).Scan(&cur.ParentStatus); err != nil {
				return err
			}
		}
		var entries []feedEntry
		status := cur.Status
		if u.Status != "" {
			subs, err := queryAll(ctx, tx, s.scanAccount, accountSelect+` WHERE a.parent_sid = $1 ORDER BY a.date_created, a.sid`, sid)
			if err != nil {
				return err
			}
			if entries, err = statusChange(cur, subs, u.Status); err != nil {
				return err
			}
			status = u.Status
		}
		name := cur.FriendlyName
		if u.FriendlyName != nil {
			name = *u.FriendlyName
		}
		if _, err := tx.exec(ctx, `UPDATE accounts SET friendly_name = $1, status = $2, date_updated = $3 WHERE sid = $4`,
			name, status, now, sid); err != nil {
			return err
		}
		if err := s.appendFeed(ctx, tx, now, entries...); err != nil {
			return err
		}
		a, err = s.readAccount(ctx, tx, sid, "")
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("update account", err)
	}
	return a, nil
}

func (s *sqlStore) RotateAuthToken(ctx context.Context, sid string) (Account, error) {
	next, err := s.newToken(sid)
	if err != nil {
		return Account{}, fmt.Errorf("store: rotate auth token: %w", err)
	}
	now := s.timestamp()
	var a Account
	err = s.db.tx(ctx, func(tx conn) error {
		// Locked: two concurrent rotations must each revoke the ID the
		// other replaced, not both revoke the same one.
		var oldID string
		err := tx.queryRow(ctx, `SELECT a.auth_token_id FROM accounts a WHERE a.sid = $1`+s.d.forUpdate, sid).Scan(&oldID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundAccount(sid)
		}
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE accounts
			SET auth_token_sealed = $1, auth_token_id = $2, date_updated = $3
			WHERE sid = $4`, next.sealed, next.tokenID, now, sid); err != nil {
			return err
		}
		if a, err = s.readAccount(ctx, tx, sid, ""); err != nil {
			return err
		}
		return s.appendFeed(ctx, tx, now, feedEntry{credID: oldID, accountSID: sid})
	})
	if err != nil {
		return Account{}, wrapAccountErr("rotate auth token", err)
	}
	return a, nil
}
