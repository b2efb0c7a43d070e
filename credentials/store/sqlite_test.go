package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freshSQLite is a new database file in its own temporary directory.
func freshSQLite(t *testing.T) testDB {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "store.db")
	return testDB{
		open: func(ctx context.Context, key []byte) (Store, error) {
			return Open(ctx, "sqlite:"+path, "", key)
		},
		// The main file plus any -wal/-shm beside it: recent writes live in
		// the WAL until a checkpoint.
		raw: func(t *testing.T) []byte {
			t.Helper()
			files, err := filepath.Glob(path + "*")
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		},
	}
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, freshSQLite)
}

// TestSQLiteDefaultPath checks that an empty DSN puts the database in the
// data directory, and that it and its WAL are private to the owner.
func TestSQLiteDefaultPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir, randomKey(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sqliteFileName, sqliteFileName + "-wal"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, mode)
		}
	}
}

// TestSQLiteRefusesNewerSchema checks that a database migrated by a newer
// turnkey is not used by an older one.
func TestSQLiteRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	db := freshSQLite(t)
	key := randomKey(t)
	s, err := db.open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	w := s.(*sqlStore).db.(*sqliteDB).w
	if _, err := w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := db.open(ctx, key); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Errorf("open of a version 999 database: error = %v, want a newer-schema error", err)
	}
}

// TestSQLiteMigrateKeysFromV1: keys written by a version 1 schema survive
// the upgrade and become Standard keys.
func TestSQLiteMigrateKeysFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	key := randomKey(t)
	sl, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	c := newCommon(sl)
	a, aSealed, err := c.newAccount("a")
	if err != nil {
		t.Fatal(err)
	}
	k, kSealed, err := c.newKey(a.SID, "old", false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append([]string{
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES (1, 0)`,
	}, sqliteTypes.migrations()[0].statements...)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO accounts VALUES (?, ?, ?, ?, 0, 0)`, a.SID, a.FriendlyName, aSealed, a.AuthTokenID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO keys VALUES (?, ?, ?, ?, 0, 0)`, k.SID, a.SID, k.FriendlyName, kSealed); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, "sqlite:"+path, "", key)
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	defer s.Close()
	got, err := s.GetKey(ctx, "", k.SID)
	if err != nil || got.Main || got.Secret != k.Secret {
		t.Errorf("migrated key = %+v, %v; want the same Standard key", got, err)
	}
}
