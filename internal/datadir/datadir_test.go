package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	tests := []struct {
		name        string
		existing    *string // file content before the call; nil: no file
		generateErr error
		want        string
		wantCreated bool
		wantErr     error  // errors.Is target
		wantErrText string // substring
	}{
		{name: "absent", want: "generated", wantCreated: true},
		{name: "present", existing: ptr("kept\n"), want: "kept"},
		{name: "present, space around", existing: ptr("  kept \n\n"), want: "kept"},
		{name: "empty", existing: ptr(""), wantErr: ErrEmpty, wantErrText: "delete it"},
		{name: "blank", existing: ptr(" \n"), wantErr: ErrEmpty},
		{name: "generate fails", generateErr: errors.New("no entropy"), wantErrText: "no entropy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "secret")
			if tt.existing != nil {
				if err := os.WriteFile(path, []byte(*tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, created, err := LoadOrCreate(path, func() (string, error) { return "generated", tt.generateErr })
			if tt.wantErr != nil || tt.wantErrText != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.wantErr, tt.wantErrText)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				return
			}
			if err != nil || got != tt.want || created != tt.wantCreated {
				t.Fatalf("= %q, %v, %v; want %q, %v", got, created, err, tt.want, tt.wantCreated)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCreated && fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
			}
			assertOnlyFile(t, dir)
		})
	}
}

// TestLoadOrCreateRace: callers starting at once all get the one value
// that was stored, and exactly one of them created it.
func TestLoadOrCreateRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	const n = 16
	var (
		values  [n]string
		errs    [n]error
		created atomic.Int32
		wg      sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			var c bool
			values[i], c, errs[i] = LoadOrCreate(path, func() (string, error) { return fmt.Sprint("value ", i), nil })
			if c {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || values[i]+"\n" != string(stored) {
			t.Errorf("caller %d: %q, %v; stored %q", i, values[i], errs[i], stored)
		}
	}
	if created.Load() != 1 {
		t.Errorf("%d callers created the file, want 1", created.Load())
	}
	assertOnlyFile(t, dir)
}

func TestLoadOrCreateNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "secret")
	if _, _, err := LoadOrCreate(path, func() (string, error) { return "v", nil }); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
}

// assertOnlyFile checks that no temporary file was left beside the result.
func assertOnlyFile(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the file", names)
	}
}

func ptr(s string) *string { return &s }
