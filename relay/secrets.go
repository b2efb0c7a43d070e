package relay

import (
	"crypto/md5" //nolint:gosec // the STUN long-term credential key is MD5 by RFC 8489

	"github.com/turnkey-dev/turnkey/credentials"
)

// secretPicker chooses the TURN secret a username was signed with, from the
// process's one keyring (main owns it and swaps it on reload).
//
// A username turnkey issued names its secret by ID, so the choice is a
// lookup. Only usernames without an ID (coturn-style "expiry:user" from
// other issuers, and turnkey's own issued before the ID existed) need each
// secret tried against the request's MESSAGE-INTEGRITY; that happens in
// request.go, the one place that sees the message. pion's AuthHandler can
// return only one key and never sees the message, so for those usernames
// authenticate takes the secret that verified from the user cache (auth.go),
// which keeps a key only once it has verified: no table of its own.
type secretPicker struct {
	ring *credentials.KeyringHolder
}

func newSecretPicker(ring *credentials.KeyringHolder) *secretPicker {
	return &secretPicker{ring: ring}
}

// candidates are the secrets that may have signed u: the one it names, none
// when it names a secret no longer listed, else every secret.
func (p *secretPicker) candidates(u *credentials.TURNUser) []*credentials.TURNSecret {
	ring := p.ring.Load()
	if u.SecretID != "" {
		if s, ok := ring.ByID(u.SecretID); ok {
			return []*credentials.TURNSecret{s}
		}
		return nil
	}
	return ring.All()
}

// forAuth is the secret authenticate derives e's key from: the one its
// username names, else the one that verified its last request (e's, while
// still listed), else the primary (a wrong password or a secret no longer
// listed then fails pion's MESSAGE-INTEGRITY check, as it should).
func (p *secretPicker) forAuth(e *userEntry) *credentials.TURNSecret {
	ring := p.ring.Load()
	id := e.user.SecretID
	if id == "" && e.secret != nil {
		id = e.secret.ID()
	}
	if id != "" {
		if s, ok := ring.ByID(id); ok {
			return s
		}
	}
	return ring.Primary()
}

// longTermKey is MD5(username ":" realm ":" password), RFC 8489 section 9.2.2.
func longTermKey(username, realm, password string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username + ":" + realm + ":" + password))
	return h.Sum(nil)
}
