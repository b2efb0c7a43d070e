package relay

import (
	"errors"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/credentials"
)

// credentialCheck is what judges a request's credentials: the realm and
// clock limits, the revocation feed, the secrets, the parsed-user cache and
// the client-bound nonces (nonce.go).
type credentialCheck struct {
	realm     string
	maxTTL    time.Duration
	clockSkew time.Duration
	revoked   func(string) bool
	secrets   *secretPicker
	users     userCache
	nonces    *nonceBinder
	refused   sync.Map // client address → credentials just refused (see autherror.go)
}

func (c *credentialCheck) init(cfg Config, now func() time.Time) error {
	nonces, err := newNonceBinder(nonceLifetime, now)
	if err != nil {
		return err
	}
	c.realm, c.maxTTL, c.clockSkew, c.revoked = cfg.Realm, cfg.MaxTTL, cfg.ClockSkew, cfg.Revoked
	c.secrets = newSecretPicker(cfg.Keyring)
	c.nonces = nonces
	return nil
}

// authenticate is pion's AuthHandler: it checks everything about a TURN REST
// credential except the HMAC itself, then returns the long-term key for
// pion's MESSAGE-INTEGRITY check (a wrong password fails there, counted as
// bad_hmac by the OnAuth event). The username is the user ID, so pion only
// honours Refresh, CreatePermission and ChannelBind from the user that
// created an allocation.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	refuse := func(reason string, err error) (string, []byte, bool) {
		s.noteRefusal(ra.SrcAddr)
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		// A refused Allocate is also a failed allocation; refusals of
		// Refresh, CreatePermission or ChannelBind concern one that exists.
		if ra.Method == stun.MethodAllocate {
			s.metrics.allocationFailures.WithLabelValues("auth").Inc()
		}
		s.log.Debug("relay: credentials refused", "reason", reason, "client", addrString(ra.SrcAddr),
			"method", ra.Method.String(), "username", ra.Username, "err", err)
		return "", nil, false
	}
	e, reason, err := s.checkCredentials(ra.Username, ra.Realm)
	if reason != "" {
		return refuse(reason, err)
	}
	return ra.Username, s.users.key(e, ra.Username, s.realm, s.secrets.forAuth(e)), true
}

// checkCredentials checks a TURN REST username and realm, all but the HMAC;
// reason is the metric label of a refusal, "" when they are good. Expiry
// and revocation are checked on every request, cached or not.
func (s *Server) checkCredentials(username, realm string) (*userEntry, string, error) {
	if realm != s.realm {
		return nil, "bad_realm", errors.New("realm " + quoteTrim(realm) + " is not ours")
	}
	e, err := s.users.get(username)
	if err != nil {
		return nil, "malformed", err
	}
	if err := e.user.CheckExpiry(s.now(), s.maxTTL, s.clockSkew); err != nil {
		if errors.Is(err, credentials.ErrExpired) {
			return nil, "expired", err
		}
		return nil, "too_far_ahead", err
	}
	if e.user.CredID != "" && s.revoked != nil && s.revoked(e.user.CredID) {
		return nil, "revoked", errors.New("credential " + e.user.CredID + " was revoked")
	}
	// A suspended or closed account's SID is in the feed too: every
	// credential it issued is refused, whichever key or token signed it.
	if e.user.AccountSID != "" && s.revoked != nil && s.revoked(e.user.AccountSID) {
		return nil, "revoked", errors.New("account " + e.user.AccountSID + " is suspended or closed")
	}
	return e, "", nil
}

// userCache remembers, per username, the parsed username and the long-term
// key last derived for it. An allocation authenticates four times (Allocate,
// CreatePermission, ChannelBind, Refresh) and its username is parsed again by
// admit, the allocation-created event and the relay socket's accounting; the
// cache turns all but the first parse and the first HMAC-SHA1 + MD5 into a
// map lookup. A key is reused only with the same realm and the same secret
// of the same keyring, so a reload derives it afresh.
//
// The entry's secret is also the one that verified the username's last
// request, which is how authenticate finds it for a username without a
// secret ID (secrets.go); so a key is stored only once it has verified, never
// for a secret merely tried.
// Entries are immutable once stored; the map is emptied when full, which
// costs only a re-derivation.
type userCache struct {
	mu sync.Mutex
	m  map[string]*userEntry
}

type userEntry struct {
	user     credentials.TURNUser
	quotaKey string
	// realm and secret are what key was derived from; key is nil until the
	// first authentication.
	realm  string
	secret *credentials.TURNSecret
	key    []byte
}

// userCacheMax bounds the cache: 8192 entries of a few hundred bytes.
const userCacheMax = 8192

// get returns username parsed, from the cache when it is there.
func (c *userCache) get(username string) (*userEntry, error) {
	c.mu.Lock()
	e := c.m[username]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	u, err := credentials.ParseTURNUsername(username)
	if err != nil {
		return nil, err
	}
	e = &userEntry{user: u, quotaKey: u.QuotaKey()}
	c.put(username, e)
	return e, nil
}

// key returns the long-term key of username under realm and secret, and
// keeps it.
func (c *userCache) key(e *userEntry, username, realm string, secret *credentials.TURNSecret) []byte {
	key, derived := e.keyFor(username, realm, secret)
	if derived {
		c.keep(e, username, realm, secret, key)
	}
	return key
}

// keyFor is the long-term key of username under realm and secret, the
// cached one when e holds it; derived says it was not.
func (e *userEntry) keyFor(username, realm string, secret *credentials.TURNSecret) (key []byte, derived bool) {
	if e.key != nil && e.realm == realm && e.secret == secret {
		return e.key, false
	}
	return longTermKey(username, realm, secret.Password(username)), true
}

// keep stores key, derived from secret, as username's.
func (c *userCache) keep(e *userEntry, username, realm string, secret *credentials.TURNSecret, key []byte) {
	c.put(username, &userEntry{user: e.user, quotaKey: e.quotaKey, realm: realm, secret: secret, key: key})
}

func (c *userCache) put(username string, e *userEntry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= userCacheMax {
		c.m = make(map[string]*userEntry, 64)
	}
	c.m[username] = e
	c.mu.Unlock()
}

// parseUser parses a TURN REST username, from the cache when it is there.
func (s *Server) parseUser(username string) (*userEntry, error) {
	return s.users.get(username)
}

// quoteTrim quotes a client-supplied string for a log line, bounded.
func quoteTrim(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
