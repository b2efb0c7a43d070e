package store

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// postgresDSN returns the server the PostgreSQL tests use, skipping them
// when none is configured, except in CI where a silent skip would hide that
// the backend went untested.
func postgresDSN(t *testing.T) string {
	t.Helper()
	return testenv.PostgresDSN(t)
}

// freshPostgres makes a uniquely named schema, dropped at cleanup, and opens
// stores with it as the search_path, so runs never see each other's rows.
func freshPostgres(base string) func(t *testing.T) testDB {
	return func(t *testing.T) testDB {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to %s: %v", redactDSN(base), err)
		}
		suffix, err := randomHex(8)
		if err != nil {
			t.Fatal(err)
		}
		schema := "turnkey_test_" + suffix
		if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := admin.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
			admin.Close(ctx)
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn := u.String()

		return testDB{
			open: func(ctx context.Context, key []byte) (Store, error) {
				return Open(ctx, dsn, "", key)
			},
			raw: func(t *testing.T) []byte {
				t.Helper()
				return dumpSchema(t, admin, schema)
			},
		}
	}
}

// dumpSchema returns every row of every table in schema as text.
func dumpSchema(t *testing.T, conn *pgx.Conn, schema string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, table := range tables {
		ident := pgx.Identifier{schema, table}.Sanitize()
		rows, err := conn.Query(ctx, `SELECT row_to_json(t)::text FROM `+ident+` t`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

func TestPostgresConformance(t *testing.T) {
	runConformance(t, freshPostgres(postgresDSN(t)))
}
