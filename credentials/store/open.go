package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// sqliteFileName is the embedded database inside the data directory.
const sqliteFileName = "turnkey.db"

// Open connects to the store named by dsn and brings its schema up to date:
//
//   - "" opens SQLite at <dataDir>/turnkey.db;
//   - "sqlite:PATH" opens SQLite at PATH (relative to the working directory);
//   - "postgres://..." or "postgresql://..." opens PostgreSQL.
//
// sealKey (SealKeySize bytes) seals auth tokens and key secrets; every
// process sharing the database must use the same one, and Open fails with
// ErrSealKeyMismatch when the database was written under another.
func Open(ctx context.Context, dsn, dataDir string, sealKey []byte) (Store, error) {
	s, err := newSealer(sealKey)
	if err != nil {
		return nil, err
	}
	switch {
	case dsn == "":
		if dataDir == "" {
			return nil, errors.New("store: open: no DSN and no data directory to put the SQLite database in")
		}
		return openSQLite(ctx, filepath.Join(dataDir, sqliteFileName), s)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("store: open: sqlite: DSN has no path")
		}
		return openSQLite(ctx, path, s)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, s)
	default:
		// The DSN is not echoed: it may carry a password.
		return nil, errors.New("store: open: DSN must be empty, sqlite:PATH, or a postgres:// or postgresql:// URL")
	}
}

// errOpen wraps a failure while opening, naming the backend.
func errOpen(backend string, err error) error {
	return fmt.Errorf("store: open %s: %w", backend, err)
}
