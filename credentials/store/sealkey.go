package store

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/turnkey-dev/turnkey/internal/datadir"
)

// sealKeyFileName holds the generated encryption key inside the data
// directory when none is configured.
const sealKeyFileName = "store.key"

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
	encoded, _, err := datadir.LoadOrCreate(path, func() (string, error) {
		key := make([]byte, SealKeySize)
		if _, err := rand.Read(key); err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(key), nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: encryption key: %w", err)
	}
	key, err := decodeSealKey(encoded)
	if err != nil {
		return nil, fmt.Errorf("store: encryption key file %s: %w", path, err)
	}
	return key, nil
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
