package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *postgresStore) CreateSubaccount(ctx context.Context, parentSID, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create subaccount: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR SHARE on the parent's row: a concurrent suspension waits, so
		// no subaccount is born active under a parent just suspended.
		parent, err := s.scanAccount(tx.QueryRow(ctx, pgAccountSelect+` WHERE a.sid = $1 FOR SHARE OF a`, parentSID))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundAccount(parentSID)
		}
		if err != nil {
			return err
		}
		if err := checkParent(parent); err != nil {
			return err
		}
		a.ParentSID, a.ParentStatus = parent.SID, parent.Status
		_, err = tx.Exec(ctx, `INSERT INTO accounts
			(sid, friendly_name, auth_token_sealed, auth_token_id, date_created, date_updated, status, parent_sid)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.SID, a.FriendlyName, sealed, a.AuthTokenID, a.DateCreated, a.DateUpdated, a.Status, parentSID)
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("create subaccount", err)
	}
	return a, nil
}

func (s *postgresStore) ListAccountsPage(ctx context.Context, f AccountFilter, after AccountCursor, limit int) ([]Account, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	if err := checkAccountFilter(f); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	at := time.Unix(0, 0).UTC().AddDate(-2000, 0, 0)
	if !after.DateCreated.IsZero() {
		at = after.DateCreated
	}
	rows, err := s.pool.Query(ctx, pgAccountSelect+`
		WHERE (a.sid = $1 OR a.parent_sid = $1)
		AND ($2 = '' OR a.friendly_name = $2) AND ($3 = '' OR a.status = $3)
		AND (a.date_created, a.sid) > ($4, $5)
		ORDER BY a.date_created, a.sid LIMIT $6`,
		f.Owner, f.FriendlyName, f.Status, at, after.SID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) { return s.scanAccount(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	if out == nil {
		out = []Account{}
	}
	return out, nil
}

func (s *postgresStore) UpdateAccount(ctx context.Context, sid string, u AccountUpdate) (Account, error) {
	if u.FriendlyName != nil {
		if err := checkFriendlyName(*u.FriendlyName); err != nil {
			return Account{}, fmt.Errorf("store: update account: %w", err)
		}
	}
	now := s.timestamp()
	var a Account
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR UPDATE serialises status changes of one account; the parent's
		// status is read under FOR SHARE so it cannot change meanwhile.
		cur, err := s.scanAccount(tx.QueryRow(ctx, pgAccountSelect+` WHERE a.sid = $1 FOR UPDATE OF a`, sid))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundAccount(sid)
		}
		if err != nil {
			return err
		}
		if cur.ParentSID != "" {
			if err := tx.QueryRow(ctx, `SELECT status FROM accounts WHERE sid = $1 FOR SHARE`, cur.ParentSID).Scan(&cur.ParentStatus); err != nil {
				return err
			}
		}
		var entries []feedEntry
		status := cur.Status
		if u.Status != "" {
			rows, err := tx.Query(ctx, pgAccountSelect+` WHERE a.parent_sid = $1 ORDER BY a.date_created, a.sid`, sid)
			if err != nil {
				return err
			}
			subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) { return s.scanAccount(row) })
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
		if _, err := tx.Exec(ctx, `UPDATE accounts SET friendly_name = $1, status = $2, date_updated = $3 WHERE sid = $4`,
			name, status, now, sid); err != nil {
			return err
		}
		if err := appendFeed(ctx, tx, now, entries...); err != nil {
			return err
		}
		a, err = s.scanAccount(tx.QueryRow(ctx, pgAccountSelect+` WHERE a.sid = $1`, sid))
		return err
	})
	if err != nil {
		return Account{}, wrapAccountErr("update account", err)
	}
	return a, nil
}
