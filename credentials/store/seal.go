package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// SealKeySize is the length of the store encryption key (AES-256).
const SealKeySize = 32

// sealVersion is the first byte of every sealed value, so a later key
// rotation scheme can tell old and new formats apart.
const sealVersion byte = 1

// ErrSealKeyMismatch is wrapped by every unseal failure, including Open's
// check of an existing database. GCM cannot tell a different key from a
// damaged value, and a different key is by far the likelier cause.
var ErrSealKeyMismatch = errors.New("the store encryption key differs from the one that wrote this database")

// sealer encrypts secrets before they reach the database. A sealed value is
// version || nonce || ciphertext+tag.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("store: encryption key is %d bytes, want %d", len(key), SealKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: encryption key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plaintext under a fresh random nonce. context names where the
// value lives (e.g. "key secret SK...") and is bound as associated data, so a
// sealed value copied into another row or column does not unseal.
func (s *sealer) seal(context, plaintext string) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: seal %s: read nonce: %w", context, err)
	}
	return s.aead.Seal(out, out[1:], []byte(plaintext), []byte(context)), nil
}

// open reverses seal for the same context.
func (s *sealer) open(context string, sealed []byte) (string, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return "", fmt.Errorf("store: cannot unseal %s: value is %d bytes, too short to be sealed", context, len(sealed))
	}
	if sealed[0] != sealVersion {
		return "", fmt.Errorf("store: cannot unseal %s: unknown format version %d", context, sealed[0])
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("store: cannot unseal %s: %w", context, ErrSealKeyMismatch)
	}
	return string(plain), nil
}

// Contexts for the sealed columns, bound to the row's SID.
func authTokenContext(accountSID string) string { return "auth token of " + accountSID }
func keySecretContext(keySID string) string     { return "key secret of " + keySID }

// Sealed check value kept in store_meta: unsealing it on open catches a
// wrong encryption key before any request is served.
const (
	sealCheckName    = "seal_check"
	sealCheckContext = "the database's key check value"
	sealCheckValue   = "turnkey"
)

// verifySealCheck unseals the stored check value.
func (s *sealer) verifySealCheck(sealed []byte) error {
	got, err := s.open(sealCheckContext, sealed)
	if err != nil {
		return err
	}
	if got != sealCheckValue {
		return fmt.Errorf("store: cannot unseal %s: unexpected content: %w", sealCheckContext, ErrSealKeyMismatch)
	}
	return nil
}
