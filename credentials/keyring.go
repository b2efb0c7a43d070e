package credentials

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// The keyring is the one copy of the TURN REST secrets in a process: main
// builds it from the configuration, the relay verifies with it and the
// token API signs with it. A reload builds a new keyring and swaps it in
// one store, so signing and verifying never disagree about which secrets
// are current.

// SecretIDLen is the length of a secret's ID: hex digits of a hash of the
// secret, enough to tell a handful of rotating secrets apart and far too
// few to say anything about the secret.
const SecretIDLen = 6

// TURNSecret is one TURN REST shared secret and its ID. It never prints
// its value: String and LogValue show only the ID.
type TURNSecret struct {
	id    string
	value []byte
}

// SecretID is the ID of secret: the first SecretIDLen hex digits of a
// domain-separated SHA-256 (so the ID is no hash of the bare secret that
// could be matched elsewhere).
func SecretID(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("turnkey TURN secret id\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))[:SecretIDLen]
}

// ID is the secret's short stable ID, carried in usernames turnkey issues.
func (s *TURNSecret) ID() string { return s.id }

// Password is the TURN REST password of username under this secret.
func (s *TURNSecret) Password(username string) string { return TURNPassword(s.value, username) }

// Mint returns a coturn-style username ("<expiry>:<rest>") and password
// signed with this secret.
func (s *TURNSecret) Mint(expiry time.Time, rest string) (username, password string) {
	return MintTURN(s.value, expiry, rest)
}

func (s *TURNSecret) String() string       { return "TURN secret " + s.id }
func (s *TURNSecret) GoString() string     { return s.String() }
func (s *TURNSecret) LogValue() slog.Value { return slog.StringValue(s.String()) }
func (s *TURNSecret) equal(o *TURNSecret) bool {
	return s.id == o.id && string(s.value) == string(o.value)
}

// Keyring is an immutable, ordered list of TURN secrets: the first signs,
// all verify.
type Keyring struct {
	secrets []*TURNSecret
}

// NewKeyring builds a keyring from secrets, the signing one first. It
// refuses an empty list, an empty secret, and two different secrets with
// the same ID (a one-in-millions chance: replace one of them); a secret
// listed twice counts once.
func NewKeyring(secrets [][]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("credentials: keyring: no TURN secret")
	}
	k := &Keyring{}
	for i, v := range secrets {
		if len(v) == 0 {
			return nil, fmt.Errorf("credentials: keyring: TURN secret %d is empty", i)
		}
		s := &TURNSecret{id: SecretID(v), value: append([]byte(nil), v...)}
		if prev, ok := k.ByID(s.id); ok {
			if prev.equal(s) {
				continue
			}
			return nil, fmt.Errorf("credentials: keyring: TURN secret %d has the same ID (%s) as an earlier one; replace it", i, s.id)
		}
		k.secrets = append(k.secrets, s)
	}
	return k, nil
}

// Primary is the secret that signs new credentials.
func (k *Keyring) Primary() *TURNSecret { return k.secrets[0] }

// ByID returns the secret with ID id.
func (k *Keyring) ByID(id string) (*TURNSecret, bool) {
	for _, s := range k.secrets {
		if s.id == id {
			return s, true
		}
	}
	return nil, false
}

// All returns the secrets, the signing one first.
func (k *Keyring) All() []*TURNSecret { return append([]*TURNSecret(nil), k.secrets...) }

// Len is the number of secrets.
func (k *Keyring) Len() int { return len(k.secrets) }

// KeyringHolder holds the current keyring; a reload stores a new one and
// every reader sees it on its next Load.
type KeyringHolder struct {
	p atomic.Pointer[Keyring]
}

// NewKeyringHolder returns a holder of k.
func NewKeyringHolder(k *Keyring) *KeyringHolder {
	h := &KeyringHolder{}
	h.Store(k)
	return h
}

// Load returns the current keyring.
func (h *KeyringHolder) Load() *Keyring { return h.p.Load() }

// Store makes k the current keyring; nil is ignored, so a holder always
// has one.
func (h *KeyringHolder) Store(k *Keyring) {
	if k != nil {
		h.p.Store(k)
	}
}
