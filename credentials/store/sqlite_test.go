package store

import (
	"context"
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
	ss := s.(*sqliteStore)
	if _, err := ss.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
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
