package relay

import (
	"crypto/md5" //nolint:gosec // the STUN long-term credential key is MD5 by RFC 8489
	"sync"
	"sync/atomic"
	"time"
)

// secretSet is the rotating list of TURN REST secrets: the first signs, all
// verify. It is swapped whole on reload.
type secretSet struct {
	list atomic.Pointer[[][]byte]

	// hints remembers, per username, which secret verified the last request
	// carrying it. pion's AuthHandler can return only one key and never sees
	// the message, so the listener wrappers check MESSAGE-INTEGRITY against
	// each secret first and leave the answer here for authenticate.
	mu    sync.Mutex
	hints map[string]hint
}

type hint struct {
	index int
	at    time.Time
}

// hintTTL bounds how long an unconsumed hint lives (a request refused before
// authentication, e.g. for a stale nonce, never consumes its hint).
const hintTTL = 10 * time.Second

func newSecretSet(secrets [][]byte) *secretSet {
	s := &secretSet{hints: map[string]hint{}}
	s.set(secrets)
	return s
}

func (s *secretSet) set(secrets [][]byte) {
	cp := make([][]byte, len(secrets))
	copy(cp, secrets)
	s.list.Store(&cp)
}

func (s *secretSet) all() [][]byte { return *s.list.Load() }

// primary is the signing secret.
func (s *secretSet) primary() []byte { return s.all()[0] }

// note records that secret i verified username's request, for the
// authenticate that follows (request.go checks MESSAGE-INTEGRITY first).
func (s *secretSet) note(username string, i int) {
	if len(s.all()) < 2 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.hints[username] = hint{index: i, at: now}
	if len(s.hints) > 4096 {
		for k, h := range s.hints {
			if now.Sub(h.at) > hintTTL {
				delete(s.hints, k)
			}
		}
	}
	s.mu.Unlock()
}

// secretFor returns the secret that verified username's last request, or the
// primary secret when no hint is known (a wrong password then fails the
// MESSAGE-INTEGRITY check, as it should).
func (s *secretSet) secretFor(username string) []byte {
	secrets := s.all()
	if len(secrets) < 2 {
		return secrets[0]
	}
	s.mu.Lock()
	h, ok := s.hints[username]
	delete(s.hints, username)
	s.mu.Unlock()
	if ok && h.index < len(secrets) && time.Since(h.at) < hintTTL {
		return secrets[h.index]
	}
	return secrets[0]
}

// longTermKey is MD5(username ":" realm ":" password), RFC 8489 section 9.2.2.
func longTermKey(username, realm, password string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username + ":" + realm + ":" + password))
	return h.Sum(nil)
}
