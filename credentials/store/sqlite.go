package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
)

// sqliteBusyTimeoutMS is how long a statement waits for another process
// (e.g. `turnkey keys create` next to a running server) holding the write
// lock before failing with SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// sqliteReadConns sizes the read pool, open and idle alike. database/sql
// keeps only 2 idle connections by default, so with more concurrent readers
// than that every query past the second opened a fresh SQLite connection
// (file open, page cache set-up, schema parse on first prepare, all under
// SQLite's global mutex) and closed it again on release: under 50 concurrent
// token requests that churn was most of the API's CPU and nearly all of its
// blocking. Readers are CPU-bound pure-Go SQLite, so a few per core is
// plenty; extra callers queue in database/sql, which is far cheaper than an
// open.
func sqliteReadConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// sqliteStore keeps the store in one SQLite file in WAL mode.
type sqliteStore struct {
	common
	// w has a single connection, so writers in this process queue in
	// database/sql instead of contending for SQLite's lock; its transactions
	// are BEGIN IMMEDIATE so writers in other processes wait on busy_timeout
	// rather than failing when a read lock cannot be upgraded.
	w *sql.DB
	// r serves reads, which WAL lets run alongside the writer.
	r *sql.DB
	// reads are the statements every authenticated request and feed poll
	// runs, prepared once: database/sql keeps each prepared on every read
	// connection it is used on, so SQLite parses and plans them once per
	// connection instead of once per request.
	reads sqliteReads
}

// sqliteReads holds the prepared hot-path reads.
type sqliteReads struct {
	account, key, accountKey, revocations *sql.Stmt
}

func (rd *sqliteReads) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&rd.account, sqliteAccountSelect + ` WHERE a.sid = ?`},
		{&rd.key, `SELECT ` + sqliteKeyColumns + ` FROM keys WHERE sid = ?`},
		{&rd.accountKey, `SELECT ` + sqliteKeyColumns + ` FROM keys WHERE sid = ? AND account_sid = ?`},
		{&rd.revocations, `SELECT seq, cred_id, account_sid, revoked_at, reinstated FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return nil
}

func (rd *sqliteReads) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{rd.account, rd.key, rd.accountKey, rd.revocations} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

func openSQLite(ctx context.Context, path string, s *sealer) (Store, error) {
	path, err := prepareSQLiteFile(path)
	if err != nil {
		return nil, errOpen("sqlite", err)
	}
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", sqliteBusyTimeoutMS)
	w, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, errOpen("sqlite", err)
	}
	w.SetMaxOpenConns(1)
	st := &sqliteStore{common: newCommon(s), w: w}
	if err := st.init(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, errOpen("sqlite", err)
	}
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, errOpen("sqlite", err)
	}
	n := sqliteReadConns()
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	st.r = r
	if err := st.reads.prepare(ctx, r); err != nil {
		st.Close()
		return nil, errOpen("sqlite", err)
	}
	return st, nil
}

// prepareSQLiteFile returns the absolute path of the database, creating its
// directory (0700) and the file itself (0600) so the driver does not create
// it world-readable; SQLite gives the -wal and -shm files the same mode.
func prepareSQLiteFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	// The driver reads everything after '?' as its own parameters.
	if strings.ContainsRune(abs, '?') {
		return "", fmt.Errorf("path %s contains '?', which SQLite DSNs cannot carry", abs)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("create database file: %w", err)
	}
	return abs, nil
}

// init checks the connection, migrates the schema and verifies the seal key.
func (s *sqliteStore) init(ctx context.Context) error {
	if err := pingWriter(ctx, s.w); err != nil {
		return errOpen("sqlite", err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return errOpen("sqlite", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return errOpen("sqlite", fmt.Errorf("journal mode is %q, not WAL (is the file on a filesystem without shared memory?)", mode))
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var sealed []byte
		err := tx.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE name = ?`, sealCheckName).Scan(&sealed)
		if errors.Is(err, sql.ErrNoRows) {
			check, err := s.seal.seal(sealCheckContext, sealCheckValue)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES (?, ?)`, sealCheckName, check)
			return err
		}
		if err != nil {
			return err
		}
		return s.seal.verifySealCheck(sealed)
	})
}

// pingWriter opens the writer's connection, whose DSN pragmas switch the
// file to WAL. Processes opening a brand-new file at once race to switch
// it, and the loser's switch can fail with SQLITE_BUSY at once instead of
// waiting on busy_timeout (for a moment the two connections are in
// different journal modes), so a busy open is tried again, within the
// same bound. database/sql drops the failed connection; each try is a
// fresh one.
func pingWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	for {
		err := w.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code (extended codes add
// bits above the low byte).
const sqliteBusy = 5

// migrate applies pending migrations in one BEGIN IMMEDIATE transaction, so
// two processes opening a new file at once cannot both apply a version.
func (s *sqliteStore) migrate(ctx context.Context) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		pending, err := pendingMigrations(sqliteMigrations, current)
		if err != nil {
			return err
		}
		for _, m := range pending {
			for _, stmt := range m.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("version %d: %w", m.version, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.version, s.timestamp().Unix()); err != nil {
				return fmt.Errorf("version %d: %w", m.version, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate sqlite: %w", err)
	}
	return nil
}

// write runs fn in a write transaction, committing if it returns nil.
func (s *sqliteStore) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqliteStore) CreateAccount(ctx context.Context, friendlyName string) (Account, error) {
	a, sealed, err := s.newAccount(friendlyName)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO accounts
		(sid, friendly_name, auth_token_sealed, auth_token_id, date_created, date_updated, status)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.SID, a.FriendlyName, sealed, a.AuthTokenID, a.DateCreated.Unix(), a.DateUpdated.Unix(), a.Status)
	if err != nil {
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

// sqliteAccountSelect reads accounts with their parent's status, which
// Standing needs.
const sqliteAccountSelect = `SELECT a.sid, a.friendly_name, a.auth_token_sealed, a.auth_token_id,
	a.date_created, a.date_updated, a.status, COALESCE(a.parent_sid, ''), COALESCE(p.status, '')
	FROM accounts a LEFT JOIN accounts p ON p.sid = a.parent_sid`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// scanRows reads every row of rows with scan and closes rows; what names
// the query in errors.
func scanRows[T any](rows *sql.Rows, what string, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (s *sqliteStore) scanAccount(row rowScanner) (Account, error) {
	var (
		a                Account
		sealed           []byte
		created, updated int64
	)
	if err := row.Scan(&a.SID, &a.FriendlyName, &sealed, &a.AuthTokenID, &created, &updated,
		&a.Status, &a.ParentSID, &a.ParentStatus); err != nil {
		return Account{}, err
	}
	a.DateCreated, a.DateUpdated = unixUTC(created), unixUTC(updated)
	if err := s.unsealAccount(&a, sealed); err != nil {
		return Account{}, err
	}
	return a, nil
}

func (s *sqliteStore) GetAccount(ctx context.Context, sid string) (Account, error) {
	a, err := s.scanAccount(s.reads.account.QueryRowContext(ctx, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, notFoundAccount(sid)
	}
	if err != nil {
		return Account{}, fmt.Errorf("store: get account: %w", err)
	}
	return a, nil
}

func (s *sqliteStore) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.r.QueryContext(ctx, sqliteAccountSelect+` ORDER BY a.date_created, a.sid`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return scanRows(rows, "list accounts", s.scanAccount)
}

func (s *sqliteStore) RotateAuthToken(ctx context.Context, sid string) (Account, error) {
	next, err := s.newToken(sid)
	if err != nil {
		return Account{}, fmt.Errorf("store: rotate auth token: %w", err)
	}
	now := s.timestamp()
	var a Account
	err = s.write(ctx, func(tx *sql.Tx) error {
		var oldID string
		err := tx.QueryRowContext(ctx, `SELECT auth_token_id FROM accounts WHERE sid = ?`, sid).Scan(&oldID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundAccount(sid)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts
			SET auth_token_sealed = ?, auth_token_id = ?, date_updated = ?
			WHERE sid = ?`, next.sealed, next.tokenID, now.Unix(), sid); err != nil {
			return err
		}
		a, err = s.scanAccount(tx.QueryRowContext(ctx, sqliteAccountSelect+` WHERE a.sid = ?`, sid))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO revocations (cred_id, account_sid, revoked_at) VALUES (?, ?, ?)`,
			oldID, sid, now.Unix())
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Account{}, err
	}
	if err != nil {
		return Account{}, fmt.Errorf("store: rotate auth token: %w", err)
	}
	return a, nil
}

func (s *sqliteStore) CreateKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, false)
}

func (s *sqliteStore) CreateMainKey(ctx context.Context, accountSID, friendlyName string) (Key, error) {
	return s.createKey(ctx, accountSID, friendlyName, true)
}

func (s *sqliteStore) createKey(ctx context.Context, accountSID, friendlyName string, main bool) (Key, error) {
	k, sealed, err := s.newKey(accountSID, friendlyName, main)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	// INSERT ... SELECT ... WHERE EXISTS checks the account in the same
	// statement: no row inserted means no such account.
	res, err := s.w.ExecContext(ctx, `INSERT INTO keys
		(sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE sid = ?)`,
		k.SID, k.AccountSID, k.FriendlyName, sealed, k.Main, k.DateCreated.Unix(), k.DateUpdated.Unix(), accountSID)
	if err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Key{}, fmt.Errorf("store: create key: %w", err)
	} else if n == 0 {
		return Key{}, notFoundAccount(accountSID)
	}
	return k, nil
}

const sqliteKeyColumns = `sid, account_sid, friendly_name, secret_sealed, is_main, date_created, date_updated`

func (s *sqliteStore) scanKey(row rowScanner) (Key, error) {
	var (
		k                Key
		sealed           []byte
		created, updated int64
	)
	if err := row.Scan(&k.SID, &k.AccountSID, &k.FriendlyName, &sealed, &k.Main, &created, &updated); err != nil {
		return Key{}, err
	}
	k.DateCreated, k.DateUpdated = unixUTC(created), unixUTC(updated)
	if err := s.unsealKey(&k, sealed); err != nil {
		return Key{}, err
	}
	return k, nil
}

func (s *sqliteStore) GetKey(ctx context.Context, accountSID, keySID string) (Key, error) {
	var row *sql.Row
	if accountSID == "" {
		row = s.reads.key.QueryRowContext(ctx, keySID)
	} else {
		row = s.reads.accountKey.QueryRowContext(ctx, keySID, accountSID)
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

func (s *sqliteStore) ListKeys(ctx context.Context, accountSID string) ([]Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteKeyColumns+` FROM keys
		WHERE account_sid = ? ORDER BY date_created, sid`, accountSID)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out, err := scanRows(rows, "list keys", s.scanKey)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		// Accounts are never deleted, so checking after the query is not racy.
		if _, err := s.GetAccount(ctx, accountSID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqliteStore) ListKeysPage(ctx context.Context, accountSID string, after KeyCursor, limit int) ([]Key, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	at := int64(math.MinInt64)
	if !after.DateUpdated.IsZero() {
		at = after.DateUpdated.Unix()
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteKeyColumns+` FROM keys
		WHERE account_sid = ? AND (date_updated > ? OR (date_updated = ? AND sid > ?))
		ORDER BY date_updated, sid LIMIT ?`, accountSID, at, at, after.SID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out, err := scanRows(rows, "list keys", s.scanKey)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if _, err := s.GetAccount(ctx, accountSID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqliteStore) UpdateKey(ctx context.Context, accountSID, keySID, friendlyName string) (Key, error) {
	if err := requireAccount(accountSID); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	if err := checkFriendlyName(friendlyName); err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	k, err := s.scanKey(s.w.QueryRowContext(ctx, `UPDATE keys SET friendly_name = ?, date_updated = ?
		WHERE sid = ? AND account_sid = ? RETURNING `+sqliteKeyColumns,
		friendlyName, s.timestamp().Unix(), keySID, accountSID))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, notFoundKey(accountSID, keySID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("store: update key: %w", err)
	}
	return k, nil
}

func (s *sqliteStore) DeleteKey(ctx context.Context, accountSID, keySID string) error {
	if err := requireAccount(accountSID); err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	now := s.timestamp()
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE sid = ? AND account_sid = ?`, keySID, accountSID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFoundKey(accountSID, keySID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO revocations (cred_id, account_sid, revoked_at) VALUES (?, ?, ?)`,
			keySID, accountSID, now.Unix())
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store: delete key: %w", err)
	}
	return nil
}

func (s *sqliteStore) RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	rows, err := s.reads.revocations.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	defer rows.Close()
	out := []Revocation{}
	for rows.Next() {
		var (
			r  Revocation
			at int64
		)
		if err := rows.Scan(&r.Seq, &r.CredID, &r.AccountSID, &at, &r.Reinstated); err != nil {
			return nil, fmt.Errorf("store: revocations: %w", err)
		}
		r.RevokedAt = unixUTC(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	return out, nil
}

func (s *sqliteStore) PruneRevocations(ctx context.Context, before time.Time) error {
	cutoff := before.UTC().Truncate(time.Second)
	if _, err := s.w.ExecContext(ctx, `DELETE FROM revocations WHERE revoked_at < ?`, cutoff.Unix()); err != nil {
		return fmt.Errorf("store: prune revocations: %w", err)
	}
	return nil
}

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite: %w", err)
	}
	// A query, not just a ping, so a file that was replaced or damaged under
	// the open handles is noticed.
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping sqlite: %w", err)
	}
	return nil
}

func (s *sqliteStore) Close() error {
	return errors.Join(s.reads.close(), s.r.Close(), s.w.Close())
}

func unixUTC(sec int64) time.Time {
	return time.Unix(sec, 0).UTC()
}
