package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const keyColumns = `sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated`

// The key and feed reads every authenticated request or feed poll runs.
const (
	qKey         = `SELECT ` + keyColumns + ` FROM keys WHERE sid = $1`
	qAccountKey  = `SELECT ` + keyColumns + ` FROM keys WHERE sid = $1 AND account_sid = $2`
	qRevocations = `SELECT seq, cred_id, account_sid, revoked_at, reinstated FROM revocations
		WHERE seq > $1 ORDER BY seq LIMIT $2`
)

// hotReads are the queries a backend may prepare once per connection.
var hotReads = []string{qAccount, qKey, qAccountKey, qRevocations}

func (s *sqlStore) scanKey(row rowScanner) (Key, error) {
	var (
		k      Key
		sealed []byte
	)
	if err := row.Scan(&k.SID, &k.AccountSID, &k.FriendlyName, &sealed, &k.Main,
		timeCol{&k.DateCreated}, timeCol{&k.DateUpdated}); err != nil {
		return Key{}, err
	}
	if err := s.unsealKey(&k, sealed); err != nil {
		return Key{}, err
	}
	return k, nil
}

func (s *sqlStore) CreateKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, false)
}

func (s *sqlStore) CreateMainKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, true)
}

func (s *sqlStore) createKey(ctx context.Context, accountSID, friendlyName string, main bool) (Key, error) {
	k, sealed, err := s.newKey(accountSID, friendlyName, main)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	// INSERT ... SELECT ... WHERE EXISTS checks the account in the same
	// statement: no row inserted means no such account.
	n, err := s.db.writes().exec(ctx, `INSERT INTO keys
		(sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated)
		SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM accounts WHERE sid = $2)`,
		k.SID, k.AccountSID, k.FriendlyName, sealed, k.Main, k.DateCreated, k.DateUpdated)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	if n == 0 {
		return Key{}, notFoundAccount(accountSID)
	}
	return k, nil
}

func (s *sqlStore) GetKey(ctx context.Context, accountSID, keySID string) (Key, error) {
	var row rowScanner
	if accountSID == "" {
		row = s.db.reads().queryRow(ctx, qKey, keySID)
	} else {
		row = s.db.reads().queryRow(ctx, qAccountKey, keySID, accountSID)
	}
	k, err := s.scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, notFoundKey(accountSID, keySID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("store: get key: %w", err)
	}
	return k, nil
}

func (s *sqlStore) ListKeys(ctx context.Context, accountSID string) ([]Key, error) {
	return s.listKeys(ctx, accountSID, `WHERE account_sid = $1 ORDER BY date_created, sid`, accountSID)
}

func (s *sqlStore) ListKeysPage(ctx context.Context, accountSID string, after KeyCursor, limit int) ([]Key, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	// The zero cursor's time (year 1) is before every key. A row-value
	// comparison uses the (account_sid, date_updated, sid) index.
	return s.listKeys(ctx, accountSID, `WHERE account_sid = $1 AND (date_updated, sid) > ($2, $3)
		ORDER BY date_updated, sid LIMIT $4`, accountSID, after.DateUpdated.UTC(), after.SID, limit)
}

// listKeys reads the keys of accountSID that where selects; ErrNotFound if
// there are none because the account does not exist.
func (s *sqlStore) listKeys(ctx context.Context, accountSID, where string, args ...any) ([]Key, error) {
	out, err := queryAll(ctx, s.db.reads(), s.scanKey, `SELECT `+keyColumns+` FROM keys `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	if len(out) == 0 {
		// Accounts are never deleted, so checking after the query is not racy.
		if _, err := s.GetAccount(ctx, accountSID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) UpdateKey(ctx context.Context, accountSID, keySID, friendlyName string) (Key, error) {
	if err := requireAccount(accountSID); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	if err := checkFriendlyName(friendlyName); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	k, err := s.scanKey(s.db.writes().queryRow(ctx, `UPDATE keys SET friendly_name = $1, date_updated = $2
		WHERE sid = $3 AND account_sid = $4 RETURNING `+keyColumns,
		friendlyName, s.timestamp(), keySID, accountSID))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, notFoundKey(accountSID, keySID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	return k, nil
}

func (s *sqlStore) DeleteKey(ctx context.Context, accountSID, keySID string) error {
	if err := requireAccount(accountSID); err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	now := s.timestamp()
	err := s.db.tx(ctx, func(tx conn) error {
		n, err := tx.exec(ctx, `DELETE FROM keys WHERE sid = $1 AND account_sid = $2`, keySID, accountSID)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFoundKey(accountSID, keySID)
		}
		return s.appendFeed(ctx, tx, now, feedEntry{credID: keySID, accountSID: accountSID})
	})
	if err != nil {
		return wrapAccountErr("delete key", err)
	}
	return nil
}

// appendFeed adds entries to the revocation feed inside tx, under the
// dialect's feed lock when it has one.
func (s *sqlStore) appendFeed(ctx context.Context, tx conn, at time.Time, entries ...feedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if s.d.lockFeed != "" {
		if _, err := tx.exec(ctx, s.d.lockFeed); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if _, err := tx.exec(ctx, `INSERT INTO revocations (cred_id, account_sid, revoked_at, reinstated) VALUES ($1, $2, $3, $4)`,
			e.credID, e.accountSID, at, e.reinstated); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	out, err := queryAll(ctx, s.db.reads(), func(row rowScanner) (Revocation, error) {
		var r Revocation
		err := row.Scan(&r.Seq, &r.CredID, &r.AccountSID, timeCol{&r.RevokedAt}, &r.Reinstated)
		return r, err
	}, qRevocations, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	return out, nil
}

func (s *sqlStore) PruneRevocations(ctx context.Context, before time.Time) error {
	cutoff := before.UTC().Truncate(time.Second)
	if _, err := s.db.writes().exec(ctx, `DELETE FROM revocations WHERE revoked_at < $1`, cutoff); err != nil {
		return fmt.Errorf("store: prune revocations: %w", err)
	}
	return nil
}
