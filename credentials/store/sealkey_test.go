package store

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSealKeyConfigured(t *testing.T) {
	key := randomKey(t)
	tests := []struct {
		name       string
		configured string
		wantErr    string
	}{
		{"standard base64", base64.StdEncoding.EncodeToString(key), ""},
		{"surrounding space", " " + base64.StdEncoding.EncodeToString(key) + "\n", ""},
		{"not base64", "not base64!", "not standard base64"},
		{"url alphabet", strings.Repeat("-", 43) + "=", "not standard base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), "decodes to 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := LoadOrCreateSealKey(dir, tt.configured)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				// The configured key is never echoed back in the error.
				if err != nil && tt.configured != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.configured)) {
					t.Errorf("error %q contains the configured key", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("= %x, %v; want %x", got, err, key)
			}
			if _, err := os.Stat(filepath.Join(dir, sealKeyFileName)); !os.IsNotExist(err) {
				t.Errorf("a configured key must not create %s (stat: %v)", sealKeyFileName, err)
			}
		})
	}
}

func TestLoadOrCreateSealKeyFile(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateSealKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != SealKeySize {
		t.Fatalf("key is %d bytes", len(first))
	}
	path := filepath.Join(dir, sealKeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	// The file content is usable as store.encryption_key on other nodes.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fromConfig, err := LoadOrCreateSealKey(t.TempDir(), string(data)); err != nil || !bytes.Equal(fromConfig, first) {
		t.Errorf("file content as configured key = %x, %v", fromConfig, err)
	}
	second, err := LoadOrCreateSealKey(dir, "")
	if err != nil || !bytes.Equal(first, second) {
		t.Errorf("second load = %x, %v; want %x", second, err, first)
	}
}

func TestLoadOrCreateSealKeyRace(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateSealKey(dir, "") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("caller %d: %x, %v; want %x", i, keys[i], errs[i], keys[0])
		}
	}
}

func TestLoadOrCreateSealKeyBadFile(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"empty", "", "is empty"},
		{"garbage", "garbage!\n", "not standard base64"},
		{"short", base64.StdEncoding.EncodeToString([]byte("short")), "decodes to 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, sealKeyFileName), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateSealKey(dir, ""); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := LoadOrCreateSealKey("", ""); err == nil {
		t.Error("no data dir and no configured key: want an error")
	}
}
