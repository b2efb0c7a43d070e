package tokenapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureBootstrapAccount(t *testing.T) {
	t.Run("empty store", func(t *testing.T) {
		st, dir, out := newFakeStore(time.Now), t.TempDir(), &bytes.Buffer{}
		created, err := EnsureBootstrapAccount(t.Context(), st, dir, out)
		if err != nil || !created {
			t.Fatalf("created %v, %v", created, err)
		}
		accts, _ := st.ListAccounts(t.Context())
		if len(accts) != 1 {
			t.Fatalf("%d accounts", len(accts))
		}
		a := accts[0]
		if !strings.Contains(out.String(), a.SID) || !strings.Contains(out.String(), a.AuthToken) {
			t.Errorf("output lacks the credentials: %q", out)
		}
		path := filepath.Join(dir, InitialAccountFile)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("file %v, %v; want mode 0600", fi, err)
		}
		b, _ := os.ReadFile(path)
		var saved struct {
			AccountSID string `json:"account_sid"`
			AuthToken  string `json:"auth_token"`
		}
		if err := json.Unmarshal(b, &saved); err != nil || saved.AccountSID != a.SID || saved.AuthToken != a.AuthToken {
			t.Errorf("saved %s, %v", b, err)
		}
		// A second run does nothing and prints nothing.
		out.Reset()
		created, err = EnsureBootstrapAccount(t.Context(), st, dir, out)
		if err != nil || created || out.Len() != 0 {
			t.Errorf("second run: created %v, %v, output %q", created, err, out)
		}
	})
	t.Run("leftover file", func(t *testing.T) {
		st, dir := newFakeStore(time.Now), t.TempDir()
		path := filepath.Join(dir, InitialAccountFile)
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		created, err := EnsureBootstrapAccount(t.Context(), st, dir, &bytes.Buffer{})
		if err == nil || created {
			t.Fatalf("created %v, %v; want an error", created, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Error("leftover file overwritten")
		}
		if accts, _ := st.ListAccounts(t.Context()); len(accts) != 0 {
			t.Error("account created despite the error")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		st := newFakeStore(time.Now)
		_, err := EnsureBootstrapAccount(t.Context(), st, filepath.Join(t.TempDir(), "nope"), &bytes.Buffer{})
		if err == nil {
			t.Fatal("no error")
		}
		if accts, _ := st.ListAccounts(t.Context()); len(accts) != 0 {
			t.Error("account created despite the error")
		}
	})
	t.Run("store down", func(t *testing.T) {
		st := newFakeStore(time.Now)
		st.setFail(errStoreDown)
		if _, err := EnsureBootstrapAccount(t.Context(), st, t.TempDir(), &bytes.Buffer{}); err == nil {
			t.Fatal("no error")
		}
	})
}
