package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrationLock names the advisory lock that serialises migrations of
// nodes starting at once (CREATE TABLE IF NOT EXISTS alone races in
// PostgreSQL).
const pgMigrationLock = "turnkey store migrations"

// postgresStore keeps the store in PostgreSQL, shared by many nodes.
type postgresStore struct {
	common
	pool *pgxpool.Pool
}

func openPostgres(ctx context.Context, dsn string, s *sealer) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, errOpen("postgres", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errOpen("postgres", err)
	}
	st := &postgresStore{common: newCommon(s), pool: pool}
	if err := st.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return st, nil
}

func (s *postgresStore) init(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return errOpen("postgres", err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	check, err := s.seal.seal(sealCheckContext, sealCheckValue)
	if err != nil {
		return err
	}
	// Of nodes racing on a new database, the first insert wins and every
	// node, the winner included, verifies against what was stored.
	if _, err := s.pool.Exec(ctx, `INSERT INTO store_meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, sealCheckName, check); err != nil {
		return errOpen("postgres", err)
	}
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM store_meta WHERE name = $1`, sealCheckName).Scan(&sealed); err != nil {
		return errOpen("postgres", err)
	}
	return s.seal.verifySealCheck(sealed)
}

func (s *postgresStore) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, pgMigrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		pending, err := pendingMigrations(postgresMigrations, current)
		if err != nil {
			return err
		}
		for _, m := range pending {
			for _, stmt := range m.statements {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("version %d: %w", m.version, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, s.timestamp()); err != nil {
				return fmt.Errorf("version %d: %w", m.version, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate postgres: %w", err)
	}
	return nil
}

// appendRevocation adds an entry to the feed inside tx. The EXCLUSIVE table
// lock (which still admits plain SELECTs) makes writers take seq values in
// commit order: without it a transaction holding seq 9 could commit after
// one holding seq 10, and a reader that had already moved past 10 would
// never see 9.
func appendRevocation(ctx context.Context, tx pgx.Tx, credID, accountSID string, at time.Time) error {
	return appendFeed(ctx, tx, at, feedEntry{credID: credID, accountSID: accountSID})
}

// appendFeed is appendRevocation for several entries, reinstating ones
// included, under one lock.
func appendFeed(ctx context.Context, tx pgx.Tx, at time.Time, entries ...feedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE revocations IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := tx.Exec(ctx, `INSERT INTO revocations (cred_id, account_sid, revoked_at, reinstated) VALUES ($1, $2, $3, $4)`,
			e.credID, e.accountSID, at, e.reinstated); err != nil {
			return err
		}
	}
	return nil
}

func (s *postgresStore) CreateAccount(ctx context.Context, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO accounts
		(sid, friendly_name, auth_token_sealed, auth_token_id, date_created, date_updated, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.SID, a.FriendlyName, sealed, a.AuthTokenID, a.DateCreated, a.DateUpdated, a.Status)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

// pgAccountSelect reads accounts with their parent's status, which
// Standing needs.
const pgAccountSelect = `SELECT a.sid, a.friendly_name, a.auth_token_sealed, a.auth_token_id,
	a.date_created, a.date_updated, a.status, COALESCE(a.parent_sid, ''), COALESCE(p.status, '')
	FROM accounts a LEFT JOIN accounts p ON p.sid = a.parent_sid`

func (s *postgresStore) scanAccount(row pgx.Row) (Account, error) {
	var (
		a      Account
		sealed []byte
	)
	if err := row.Scan(&a.SID, &a.FriendlyName, &sealed, &a.AuthTokenID, &a.DateCreated, &a.DateUpdated,
		&a.Status, &a.ParentSID, &a.ParentStatus); err != nil {
		return Account{}, err
	}
	a.DateCreated, a.DateUpdated = a.DateCreated.UTC(), a.DateUpdated.UTC()
	if err := s.unsealAccount(&a, sealed); err != nil {
		return Account{}, err
	}
	return a, nil
}

func (s *postgresStore) GetAccount(ctx context.Context, sid string) (Account, error) {
	a, err := s.scanAccount(s.pool.QueryRow(ctx, pgAccountSelect+` WHERE a.sid = $1`, sid))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, notFoundAccount(sid)
	}
	if err != nil {
		return Account{}, fmt.Errorf("store: get account: %w", err)
	}
	return a, nil
}

func (s *postgresStore) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.pool.Query(ctx, pgAccountSelect+` ORDER BY a.date_created, a.sid`)
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

func (s *postgresStore) RotateAuthToken(ctx context.Context, sid string) (Account, error) {
	next, err := s.newToken(sid)
	if err != nil {
		return Account{}, fmt.Errorf("store: rotate auth token: %w", err)
	}
	now := s.timestamp()
	var a Account
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var oldID string
		// FOR UPDATE: two concurrent rotations must each revoke the ID the
		// other replaced, not both revoke the same one.
		err := tx.QueryRow(ctx, `SELECT auth_token_id FROM accounts WHERE sid = $1 FOR UPDATE`, sid).Scan(&oldID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundAccount(sid)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts
			SET auth_token_sealed = $1, auth_token_id = $2, date_updated = $3
			WHERE sid = $4`, next.sealed, next.tokenID, now, sid); err != nil {
			return err
		}
		a, err = s.scanAccount(tx.QueryRow(ctx, pgAccountSelect+` WHERE a.sid = $1`, sid))
		if err != nil {
			return err
		}
		return appendRevocation(ctx, tx, oldID, sid, now)
	})
	if errors.Is(err, ErrNotFound) {
		return Account{}, err
	}
	if err != nil {
		return Account{}, fmt.Errorf("store: rotate auth token: %w", err)
	}
	return a, nil
}

func (s *postgresStore) CreateKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, false)
}

func (s *postgresStore) CreateMainKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, true)
}

func (s *postgresStore) createKey(ctx context.Context, accountSID, friendlyName string, main bool) (Key, error) {
	k, sealed, err := s.newKey(accountSID, friendlyName, main)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	// INSERT ... SELECT ... WHERE EXISTS checks the account in the same
	// statement: no row inserted means no such account.
	tag, err := s.pool.Exec(ctx, `INSERT INTO keys
		(sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated)
		SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM accounts WHERE sid = $2)`,
		k.SID, k.AccountSID, k.FriendlyName, sealed, k.Main, k.DateCreated, k.DateUpdated)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Key{}, notFoundAccount(accountSID)
	}
	return k, nil
}

const pgKeyColumns = `sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated`

func (s *postgresStore) scanKey(row pgx.Row) (Key, error) {
	var (
		k      Key
		sealed []byte
	)
	if err := row.Scan(&k.SID, &k.AccountSID, &k.FriendlyName, &sealed, &k.Main, &k.DateCreated, &k.DateUpdated); err != nil {
		return Key{}, err
	}
	k.DateCreated, k.DateUpdated = k.DateCreated.UTC(), k.DateUpdated.UTC()
	if err := s.unsealKey(&k, sealed); err != nil {
		return Key{}, err
	}
	return k, nil
}

func (s *postgresStore) GetKey(ctx context.Context, accountSID, keySID string) (Key, error) {
	var row pgx.Row
	if accountSID == "" {
		row = s.pool.QueryRow(ctx, `SELECT `+pgKeyColumns+` FROM keys WHERE sid = $1`, keySID)
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+pgKeyColumns+` FROM keys WHERE sid = $1 AND account_sid = $2`, keySID, accountSID)
	}
	k, err := s.scanKey(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, notFoundKey(accountSID, keySID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("store: get key: %w", err)
	}
	return k, nil
}

func (s *postgresStore) ListKeys(ctx context.Context, accountSID string) ([]Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgKeyColumns+` FROM keys
		WHERE account_sid = $1 ORDER BY date_created, sid`, accountSID)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) { return s.scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	if len(out) == 0 {
		// Accounts are never deleted, so checking after the query is not racy.
		if _, err := s.GetAccount(ctx, accountSID); err != nil {
			return nil, err
		}
		out = []Key{}
	}
	return out, nil
}

func (s *postgresStore) ListKeysPage(ctx context.Context, accountSID string, after KeyCursor, limit int) ([]Key, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	// A row-value comparison uses the (account_sid, date_updated, sid) index.
	at := time.Unix(0, 0).UTC().AddDate(-2000, 0, 0)
	if !after.DateUpdated.IsZero() {
		at = after.DateUpdated
	}
	rows, err := s.pool.Query(ctx, `SELECT `+pgKeyColumns+` FROM keys
		WHERE account_sid = $1 AND (date_updated, sid) > ($2, $3)
		ORDER BY date_updated, sid LIMIT $4`, accountSID, at, after.SID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) { return s.scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	if len(out) == 0 {
		if _, err := s.GetAccount(ctx, accountSID); err != nil {
			return nil, err
		}
		out = []Key{}
	}
	return out, nil
}

func (s *postgresStore) UpdateKey(ctx context.Context, accountSID, keySID, friendlyName string) (Key, error) {
	if err := requireAccount(accountSID); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	if err := checkFriendlyName(friendlyName); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	k, err := s.scanKey(s.pool.QueryRow(ctx, `UPDATE keys SET friendly_name = $1, date_updated = $2
		WHERE sid = $3 AND account_sid = $4 RETURNING `+pgKeyColumns,
		friendlyName, s.timestamp(), keySID, accountSID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, notFoundKey(accountSID, keySID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	return k, nil
}

func (s *postgresStore) DeleteKey(ctx context.Context, accountSID, keySID string) error {
	if err := requireAccount(accountSID); err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	now := s.timestamp()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM keys WHERE sid = $1 AND account_sid = $2`, keySID, accountSID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFoundKey(accountSID, keySID)
		}
		return appendRevocation(ctx, tx, keySID, accountSID, now)
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	return nil
}

func (s *postgresStore) RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, cred_id, account_sid, revoked_at, reinstated FROM revocations
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Revocation, error) {
		var r Revocation
		err := row.Scan(&r.Seq, &r.CredID, &r.AccountSID, &r.RevokedAt, &r.Reinstated)
		r.RevokedAt = r.RevokedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	if out == nil {
		out = []Revocation{}
	}
	return out, nil
}

func (s *postgresStore) PruneRevocations(ctx context.Context, before time.Time) error {
	cutoff := before.UTC().Truncate(time.Second)
	if _, err := s.pool.Exec(ctx, `DELETE FROM revocations WHERE revoked_at < $1`, cutoff); err != nil {
		return fmt.Errorf("store: prune revocations: %w", err)
	}
	return nil
}

func (s *postgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping postgres: %w", err)
	}
	return nil
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}
