package config

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/turnkey-dev/turnkey/internal/datadir"
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
	value, created, err = datadir.LoadOrCreate(filepath.Join(dataDir, name), func() (string, error) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(raw[:]), nil
	})
	if err != nil {
		return "", false, fmt.Errorf("config: %w", err)
	}
	return value, created, nil
}
