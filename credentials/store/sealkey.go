package store

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sealKeyFileName holds the generated encryption key inside the data
// directory when none is configured.
const sealKeyFileName = "store.key"

// sealKeyFileWait bounds how long a reader waits for another process that
// has just created the key file to finish writing it.
const sealKeyFileWait = 2 * time.Second

// LoadOrCreateSealKey returns the store encryption key. configured, when
// non-empty, is the key in standard base64 (store.encryption_key).
// Otherwise the key is read from <dataDir>/store.key, which is created
// (mode 0600, standard base64 of 32 random bytes, so it can be pasted into
// store.encryption_key of other nodes) if it does not exist.
func LoadOrCreateSealKey(dataDir, configured string) ([]byte, error) {
	if configured != "" {
		key, err := decodeSealKey(configured)
		if err != nil {
			return nil, fmt.Errorf("store: encryption_key: %w", err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, errors.New("store: encryption key: none configured and no data directory to keep one in")
	}
	path := filepath.Join(dataDir, sealKeyFileName)
	key, err := readSealKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	return createSealKeyFile(path)
}

func decodeSealKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not standard base64: %w", err)
	}
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(key), SealKeySize)
	}
	return key, nil
}

// readSealKeyFile reads an existing key file. An empty file may be one that
// another process created with O_EXCL a moment ago and is still writing, so
// it is re-read for a short while before being reported.
func readSealKeyFile(path string) ([]byte, error) {
	deadline := time.Now().Add(sealKeyFileWait)
	for {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("store: read encryption key: %w", err)
		}
		if strings.TrimSpace(string(data)) != "" {
			key, err := decodeSealKey(string(data))
			if err != nil {
				return nil, fmt.Errorf("store: encryption key file %s: %w", path, err)
			}
			return key, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("store: encryption key file %s is empty; if no database was written with it, delete it to generate a new one", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createSealKeyFile(path string) ([]byte, error) {
	key := make([]byte, SealKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: generate encryption key: %w", err)
	}
	// O_EXCL: of two processes starting at once, one creates the file and
	// the other reads it, so both end up with the same key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSealKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: create encryption key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	// Sync: losing this file after the database has used it loses every
	// stored secret.
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("store: write encryption key file: %w", werr)
	}
	return key, nil
}
