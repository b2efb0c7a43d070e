package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
)

func (s *sqliteStore) CreateSubaccount(ctx context.Context, parentSID, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create subaccount: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		parent, err := s.scanAccount(tx.QueryRowContext(ctx, sqliteAccountSelect+` WHERE a.sid = ?`, parentSID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundAccount(parentSID)
		}
		if err != nil {
			return err
		}
		if err := checkParent(parent); err != nil {
			return err
		}
		a.ParentSID, a.ParentStatus = parent.SID, parent.Status
		_, err = tx.ExecContext(ctx, `INSERT INTO accounts
			(sid, friendly_name, auth_token_sealed, auth_token_id, date_created, date_updated, status, parent_sid)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.SID, a.FriendlyName, sealed, a.AuthTokenID, a.DateCreated.Unix(), a.DateUpdated.Unix(), a.Status, parentSID)
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("create subaccount", err)
	}
	return a, nil
}

func (s *sqliteStore) ListAccountsPage(ctx context.Context, f AccountFilter, after AccountCursor, limit int) ([]Account, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	if err := checkAccountFilter(f); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	at := int64(math.MinInt64)
	if !after.DateCreated.IsZero() {
		at = after.DateCreated.Unix()
	}
	rows, err := s.r.QueryContext(ctx, sqliteAccountSelect+`
		WHERE (a.sid = ? OR a.parent_sid = ?)
		AND (? = '' OR a.friendly_name = ?) AND (? = '' OR a.status = ?)
		AND (a.date_created > ? OR (a.date_created = ? AND a.sid > ?))
		ORDER BY a.date_created, a.sid LIMIT ?`,
		f.Owner, f.Owner, f.FriendlyName, f.FriendlyName, f.Status, f.Status, at, at, after.SID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return scanRows(rows, "list accounts", s.scanAccount)
}

func (s *sqliteStore) UpdateAccount(ctx context.Context, sid string, u AccountUpdate) (Account, error) {
	if u.FriendlyName != nil {
		if err := checkFriendlyName(*u.FriendlyName); err != nil {
			return Account{}, fmt.Errorf("store: update account: %w", err)
		}
	}
	now := s.timestamp()
	var a Account
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := s.scanAccount(tx.QueryRowContext(ctx, sqliteAccountSelect+` WHERE a.sid = ?`, sid))
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundAccount(sid)
		}
		if err != nil {
			return err
		}
		var entries []feedEntry
		status := cur.Status
		if u.Status != "" {
			subs, err := s.subaccounts(ctx, tx, sid)
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
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET friendly_name = ?, status = ?, date_updated = ? WHERE sid = ?`,
			name, status, now.Unix(), sid); err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (cred_id, account_sid, revoked_at, reinstated)
				VALUES (?, ?, ?, ?)`, e.credID, e.accountSID, now.Unix(), e.reinstated); err != nil {
				return err
			}
		}
		a, err = s.scanAccount(tx.QueryRowContext(ctx, sqliteAccountSelect+` WHERE a.sid = ?`, sid))
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("update account", err)
	}
	return a, nil
}

// subaccounts reads sid's subaccounts inside tx.
func (s *sqliteStore) subaccounts(ctx context.Context, tx *sql.Tx, sid string) ([]Account, error) {
	rows, err := tx.QueryContext(ctx, sqliteAccountSelect+` WHERE a.parent_sid = ? ORDER BY a.date_created, a.sid`, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := s.scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
