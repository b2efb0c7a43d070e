package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// sqliteDB keeps the store in one SQLite file in WAL mode.
type sqliteDB struct {
	// w has a single connection, so writers in this process queue in
	// database/sql instead of contending for SQLite's lock; its transactions
	// are BEGIN IMMEDIATE so writers in other processes wait on busy_timeout
	// rather than failing when a read lock cannot be upgraded.
	w *sql.DB
	// r serves reads, which WAL lets run alongside the writer.
	r *sql.DB
	// prepared are the hotReads, prepared once on r: database/sql keeps each
	// prepared on every read connection it is used on, so SQLite parses and
	// plans them once per connection instead of once per request.
	prepared map[string]*sql.Stmt
	// rc and wc are the conns over r and w, made once: handing out their
	// addresses keeps the hot path free of allocations.
	rc, wc sqlConn
}

// sqliteDialect: SQLite's write transactions hold the write lock from
// BEGIN IMMEDIATE, so no row, feed or migration lock is needed.
var sqliteDialect = dialect{
	name: "sqlite",
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`,
	migrations: sqliteTypes.migrations(),
}

func openSQLite(ctx context.Context, path string, s *sealer) (Store, error) {
	path, err := prepareSQLiteFile(path)
	if err != nil {
		return nil, errOpen("sqlite", err)
	}
	// _time_integer_format: time.Time arguments are stored as Unix seconds.
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_time_integer_format=unix", sqliteBusyTimeoutMS)
	w, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, errOpen("sqlite", err)
	}
	w.SetMaxOpenConns(1)
	db := &sqliteDB{w: w, wc: sqlConn{db: w}}
	st := newSQLStore(db, sqliteDialect, s)
	if err := db.checkWriter(ctx); err != nil {
		w.Close()
		return nil, errOpen("sqlite", err)
	}
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
	db.r = r
	if err := db.prepare(ctx); err != nil {
		st.Close()
		return nil, errOpen("sqlite", err)
	}
	return st, nil
}

func (db *sqliteDB) prepare(ctx context.Context) error {
	db.prepared = make(map[string]*sql.Stmt, len(hotReads))
	for _, q := range hotReads {
		stmt, err := db.r.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		db.prepared[q] = stmt
	}
	db.rc = sqlConn{db: db.r, prepared: db.prepared}
	return nil
}

func (db *sqliteDB) reads() conn  { return &db.rc }
func (db *sqliteDB) writes() conn { return &db.wc }

func (db *sqliteDB) tx(ctx context.Context, fn func(conn) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlConn{db: tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (db *sqliteDB) ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return err
	}
	// A query, not just a ping, so a file that was replaced or damaged under
	// the open handles is noticed.
	var one int
	return db.r.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one)
}

func (db *sqliteDB) close() error {
	var errs []error
	for _, stmt := range db.prepared {
		errs = append(errs, stmt.Close())
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	return errors.Join(append(errs, db.w.Close())...)
}

// sqlConn is a conn over database/sql: a pool or a transaction.
type sqlConn struct {
	db interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	}
	// prepared, when set, holds statements prepared on db by query text.
	prepared map[string]*sql.Stmt
}

func (c sqlConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if stmt, ok := c.prepared[query]; ok {
		return stmt.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

func (c sqlConn) query(ctx context.Context, query string, args ...any) (rows, error) {
	var (
		rs  *sql.Rows
		err error
	)
	if stmt, ok := c.prepared[query]; ok {
		rs, err = stmt.QueryContext(ctx, args...)
	} else {
		rs, err = c.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (c sqlConn) execEach(ctx context.Context, query string, argLists [][]any) error {
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, args := range argLists {
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// sqlRows gives *sql.Rows the Close of rows, dropping its error as the old
// loop did: Err already reports a failed read.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

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

// checkWriter opens the writer's connection and checks that the file is in
// WAL mode.
func (db *sqliteDB) checkWriter(ctx context.Context) error {
	if err := pingWriter(ctx, db.w); err != nil {
		return err
	}
	var mode string
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (is the file on a filesystem without shared memory?)", mode)
	}
	return nil
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
