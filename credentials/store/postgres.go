package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresDB keeps the store in PostgreSQL, shared by many nodes.
type postgresDB struct {
	pool *pgxpool.Pool
	// pc is the conn over pool, made once so handing it out allocates
	// nothing.
	pc pgConn
}

// postgresDialect locks what SQLite's single writer serialises for free.
var postgresDialect = dialect{
	name: "postgres",
	// FOR UPDATE serialises read-modify-write of one account; FOR SHARE
	// holds a row (a parent's status) still while another is changed. OF
	// a: the row of accountSelect's outer side only.
	forUpdate: ` FOR UPDATE OF a`,
	forShare:  ` FOR SHARE OF a`,
	// The EXCLUSIVE table lock (which still admits plain SELECTs) makes
	// writers take seq values in commit order: without it a transaction
	// holding seq 9 could commit after one holding seq 10, and a reader
	// that had already moved past 10 would never see 9.
	lockFeed: `LOCK TABLE revocations IN EXCLUSIVE MODE`,
	// An advisory lock, as CREATE TABLE IF NOT EXISTS alone races in
	// PostgreSQL when nodes start at once.
	lockMigrations: `SELECT pg_advisory_xact_lock(hashtext('turnkey store migrations'))`,
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`,
	migrations: postgresTypes.migrations(),
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
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, errOpen("postgres", err)
	}
	st := newSQLStore(&postgresDB{pool: pool, pc: pgConn{pool}}, postgresDialect, s)
	if err := st.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return st, nil
}

func (db *postgresDB) reads() conn  { return &db.pc }
func (db *postgresDB) writes() conn { return &db.pc }

func (db *postgresDB) tx(ctx context.Context, fn func(conn) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(pgConn{tx}) })
}

func (db *postgresDB) ping(ctx context.Context) error { return db.pool.Ping(ctx) }

func (db *postgresDB) close() error {
	db.pool.Close()
	return nil
}

// pgConn is a conn over pgx: the pool or a transaction. pgx caches each
// connection's prepared statements itself.
type pgConn struct {
	db interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	}
}

func (c pgConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.db.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c pgConn) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return c.db.QueryRow(ctx, query, args...)
}

func (c pgConn) query(ctx context.Context, query string, args ...any) (rows, error) {
	return c.db.Query(ctx, query, args...)
}

// execEach sends every statement in one round trip.
func (c pgConn) execEach(ctx context.Context, query string, argLists [][]any) error {
	var b pgx.Batch
	for _, args := range argLists {
		b.Queue(query, args...)
	}
	return c.db.SendBatch(ctx, &b).Close()
}
