package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// sqlStore is the one implementation of Store: its SQL, row scanning and
// transaction shape serve both backends, and db and dialect hold what
// SQLite and PostgreSQL genuinely do differently.
//
// Queries are written once with numbered placeholders ($1, $2, ...):
// PostgreSQL's own, and the SQLite driver binds $N to the Nth argument.
// Timestamps are passed as time.Time; the SQLite connections store them as
// Unix seconds (_time_integer_format=unix) and timeCol reads either form.
type sqlStore struct {
	common
	db backend
	d  dialect
}

// backend is one database's connections.
type backend interface {
	// reads serves queries outside a transaction.
	reads() conn
	// writes serves single-statement writes outside a transaction.
	writes() conn
	// tx runs fn in a write transaction, committing if it returns nil.
	tx(ctx context.Context, fn func(conn) error) error
	ping(ctx context.Context) error
	close() error
}

// conn is a connection pool or a transaction of either driver.
type conn interface {
	exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	queryRow(ctx context.Context, query string, args ...any) rowScanner
	query(ctx context.Context, query string, args ...any) (rows, error)
	// execEach runs query once per argument list, batched where the driver
	// can.
	execEach(ctx context.Context, query string, argLists [][]any) error
}

// rowScanner is one result row; Scan returns an error matching
// sql.ErrNoRows when there is none (pgx.ErrNoRows does too).
type rowScanner interface{ Scan(dest ...any) error }

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dialect is the SQL that differs between the databases.
type dialect struct {
	name string // in errors: "sqlite" or "postgres"
	// forUpdate and forShare end a SELECT over "accounts a" whose rows a
	// write transaction must keep from changing under it. SQLite needs
	// neither: its write transactions take the write lock at BEGIN.
	forUpdate, forShare string
	// lockFeed, when set, runs before entries are appended to the
	// revocation feed (see appendFeed).
	lockFeed string
	// lockMigrations, when set, serialises the migrations of processes
	// starting at once.
	lockMigrations string
	// migrationsTable creates schema_migrations if it does not exist.
	migrationsTable string
	migrations      []migration
}

func newSQLStore(db backend, d dialect, s *sealer) *sqlStore {
	return &sqlStore{common: newCommon(s), db: db, d: d}
}

// init migrates the schema and verifies the seal key.
func (s *sqlStore) init(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return err
	}
	check, err := s.seal.seal(sealCheckContext, sealCheckValue)
	if err != nil {
		return err
	}
	// Of processes racing on a new database, the first insert wins and
	// every one, the winner included, verifies against what was stored.
	w := s.db.writes()
	if _, err := w.exec(ctx, `INSERT INTO store_meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, sealCheckName, check); err != nil {
		return errOpen(s.d.name, err)
	}
	var sealed []byte
	if err := w.queryRow(ctx, `SELECT value FROM store_meta WHERE name = $1`, sealCheckName).Scan(&sealed); err != nil {
		return errOpen(s.d.name, err)
	}
	return s.seal.verifySealCheck(sealed)
}

// migrate applies pending migrations in one transaction, so a crash leaves
// the schema at a whole version and two processes cannot both apply one.
func (s *sqlStore) migrate(ctx context.Context) error {
	err := s.db.tx(ctx, func(tx conn) error {
		if s.d.lockMigrations != "" {
			if _, err := tx.exec(ctx, s.d.lockMigrations); err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, s.d.migrationsTable); err != nil {
			return err
		}
		var current int
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		pending, err := pendingMigrations(s.d.migrations, current)
		if err != nil {
			return err
		}
		for _, m := range pending {
			for _, stmt := range m.statements {
				if _, err := tx.exec(ctx, stmt); err != nil {
					return fmt.Errorf("version %d: %w", m.version, err)
				}
			}
			if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, s.timestamp()); err != nil {
				return fmt.Errorf("version %d: %w", m.version, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", s.d.name, err)
	}
	return nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.ping(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.d.name, err)
	}
	return nil
}

func (s *sqlStore) Close() error {
	return s.db.close()
}

// queryAll runs q on c and scans every row.
func queryAll[T any](ctx context.Context, c conn, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rs, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []T{}
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// timeCol scans a timestamp of either backend: Unix seconds from SQLite, a
// timestamptz from PostgreSQL.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.t = time.Unix(v, 0).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("timestamp column holds %T", src)
	}
	return nil
}

// dayCol scans a usage day: YYYY-MM-DD text from SQLite, a date from
// PostgreSQL.
type dayCol struct{ t *time.Time }

func (c dayCol) Scan(src any) error {
	switch v := src.(type) {
	case string:
		t, err := time.Parse(dayLayout, v)
		if err != nil {
			return fmt.Errorf("day %q: %w", v, err)
		}
		*c.t = t
	case time.Time:
		*c.t = utcDay(v)
	default:
		return fmt.Errorf("day column holds %T", src)
	}
	return nil
}

// Both Scan methods serve database/sql and pgx alike.
var (
	_ sql.Scanner = timeCol{}
	_ sql.Scanner = dayCol{}
)
