package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ResolveDataDir fills in DataDir when empty and creates it (mode 0700).
func ResolveDataDir(c *Config) error {
	if c.DataDir == "" {
		switch {
		case os.Geteuid() == 0:
			c.DataDir = "/var/lib/turnkey"
		case os.Getenv("XDG_STATE_HOME") != "":
			c.DataDir = filepath.Join(os.Getenv("XDG_STATE_HOME"), "turnkey")
		default:
			home, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("config: data_dir is empty and there is no home directory: %w", err)
			}
			c.DataDir = filepath.Join(home, ".local", "state", "turnkey")
		}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("config: data_dir %s: %w", c.DataDir, err)
	}
	return nil
}

// LoadOrCreateSecretFile returns the content of name in the data directory,
// creating it (mode 0600) with 32 random bytes in base64 if it does not
// exist. created reports whether it was made now.
func LoadOrCreateSecretFile(dataDir, name string) (value string, created bool, err error) {
	path := filepath.Join(dataDir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		v := strings.TrimSpace(string(data))
		if v == "" {
			return "", false, fmt.Errorf("config: %s is empty; delete it to generate a new one", path)
		}
		return v, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("config: read %s: %w", path, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("config: generate %s: %w", name, err)
	}
	v := base64.RawURLEncoding.EncodeToString(raw[:])
	// O_EXCL: two processes starting at once must not overwrite each other.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecretFile(dataDir, name)
	}
	if err != nil {
		return "", false, fmt.Errorf("config: create %s: %w", path, err)
	}
	if _, err := f.WriteString(v + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("config: write %s: %w", path, err)
	}
	return v, true, nil
}
