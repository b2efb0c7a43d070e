package relay

import (
	"crypto/md5" //nolint:gosec // the STUN long-term credential key is MD5 by RFC 8489
	"sync"
	"time"

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
// the secret that verified is remembered here, by ID, for authenticate.
type secretPicker struct {
	ring *credentials.KeyringHolder

	mu    sync.Mutex
	hints map[string]hint
}

type hint struct {
	secretID string
	at       time.Time
}

// hintTTL bounds how long an unconsumed hint lives (a request refused before
// authentication, e.g. for a stale nonce, never consumes its hint).
const hintTTL = 10 * time.Second

// hintsMax is the table size past which expired hints are swept.
const hintsMax = 4096

func newSecretPicker(ring *credentials.KeyringHolder) *secretPicker {
	return &secretPicker{ring: ring, hints: map[string]hint{}}
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

// verified records that secret s verified username's request, for the
// authenticate that follows; only usernames without a secret ID need it,
// and only while more than one secret is listed.
func (p *secretPicker) verified(u *credentials.TURNUser, username string, s *credentials.TURNSecret) {
	if u.SecretID != "" || p.ring.Load().Len() < 2 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	p.hints[username] = hint{secretID: s.ID(), at: now}
	if len(p.hints) > hintsMax {
		for k, h := range p.hints {
			if now.Sub(h.at) > hintTTL {
				delete(p.hints, k)
			}
		}
	}
	p.mu.Unlock()
}

// forAuth is the secret authenticate derives the key from: the one u names,
// else the one that verified username's last request, else the primary (a
// wrong password or a secret no longer listed then fails pion's
// MESSAGE-INTEGRITY check, as it should).
func (p *secretPicker) forAuth(u *credentials.TURNUser, username string) *credentials.TURNSecret {
	ring := p.ring.Load()
	if u.SecretID != "" {
		if s, ok := ring.ByID(u.SecretID); ok {
			return s
		}
		return ring.Primary()
	}
	if ring.Len() < 2 {
		return ring.Primary()
	}
	p.mu.Lock()
	h, ok := p.hints[username]
	delete(p.hints, username)
	p.mu.Unlock()
	if ok && time.Since(h.at) < hintTTL {
		if s, found := ring.ByID(h.secretID); found {
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
