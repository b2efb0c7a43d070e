package store

import (
	"context"
	"strings"
	"testing"
)

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	key := randomKey(t)
	tests := []struct {
		name, dsn, dataDir string
		key                []byte
		wantErr            string
	}{
		{"short key", "", t.TempDir(), key[:16], "16 bytes"},
		{"no key", "", t.TempDir(), nil, "0 bytes"},
		{"no data dir", "", "", key, "no data directory"},
		{"empty sqlite path", "sqlite:", "", key, "no path"},
		{"unknown scheme", "mysql://root:hunter2@db/turnkey", "", key, "must be empty, sqlite:PATH"},
		{"path with ?", "sqlite:" + t.TempDir() + "/a?b.db", "", key, "contains '?'"},
		{"unreachable postgres", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", "", key, "store: open postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.dsn, tt.dataDir, tt.key)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the DSN password", err)
			}
		})
	}
}
