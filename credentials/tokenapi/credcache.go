package tokenapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// Credential cache tuning.
//
// credCacheTTL bounds how stale an answer may be: a key deleted or an auth
// token rotated by another process (`turnkey keys delete`, `turnkey accounts
// rotate-token`, another API node) stops authenticating here at most this
// long after it commits. Changes made through this API invalidate at once.
// The bound is far inside the 1 s allowed (and the revocation feed's poll),
// and shorter than an out-of-process admin command takes to run, so a client
// that waits for such a command to finish practically never sees the old
// credential accepted. It is still long enough to matter: a hot credential
// costs one store read per TTL instead of one per request, and that read was
// what the token endpoints spent their time on (a SQLite query parses its SQL
// on every call, about as much CPU as the rest of the request). A credential
// that is new (a rotated auth token) is never refused because of the cache:
// a mismatch against a cached secret is re-checked against the store.
const (
	credCacheTTL = 20 * time.Millisecond
	// credCacheRefreshAfter is the age from which one request refreshes an
	// entry while the others keep using it, so a hot credential is re-read
	// before it expires and never makes a crowd of requests miss at once.
	credCacheRefreshAfter = credCacheTTL * 3 / 4
	// credCacheMaxEntries bounds memory (an entry is ~200 bytes). Only
	// credentials that exist are cached, so unknown SIDs cannot fill it.
	credCacheMaxEntries = 10_000
)

// cachedCred is what authenticating a request needs from an account or key.
// The secret is held unsealed in memory, as the process already does while
// it serves any request.
type cachedCred struct {
	AccountSID string
	// Secret is the account's auth token or the key's secret.
	Secret string
	// CredID is the auth-token ID for an account, the SID for a key: the ID
	// issued TURN usernames carry and the revocation feed names.
	CredID string
}

type credEntry struct {
	cred cachedCred
	// fetched is when the store read that produced cred began (monotonic),
	// so staleness is measured from the earliest moment it could reflect.
	fetched    time.Time
	refreshing atomic.Bool
}

// credCache is a short-lived read-through cache of accounts and API keys by
// SID, shared by Basic authentication and the bearer-token resolvers.
type credCache struct {
	st  store.Store
	now func() time.Time // the real clock, whatever Config.Now is

	mu      sync.RWMutex
	entries map[string]*credEntry
	// gen changes with every invalidation. A fill whose store read began
	// under an older gen is dropped: it may have read the row before the
	// change that caused the invalidation committed.
	gen uint64
}

func newCredCache(st store.Store) *credCache {
	return &credCache{st: st, now: time.Now, entries: make(map[string]*credEntry)}
}

// get returns the credential for sid (an AC account or SK key SID), from the
// cache when fresh enough (cached is then true), else from the store.
// store.ErrNotFound (wrapped) means there is no such account or key; other
// errors are store failures.
func (c *credCache) get(ctx context.Context, sid string) (cred cachedCred, cached bool, err error) {
	start := c.now()
	c.mu.RLock()
	e := c.entries[sid]
	gen := c.gen
	c.mu.RUnlock()
	if e != nil {
		age := start.Sub(e.fetched)
		if age < credCacheTTL && (age < credCacheRefreshAfter || !e.refreshing.CompareAndSwap(false, true)) {
			return e.cred, true, nil
		}
	}
	cred, err = c.load(ctx, sid, start, gen, e)
	if err != nil && e != nil && !errors.Is(err, store.ErrNotFound) {
		e.refreshing.Store(false)
		// A failed refresh of an entry still within its TTL loses nothing
		// by answering from it.
		if c.now().Sub(e.fetched) < credCacheTTL {
			return e.cred, true, nil
		}
	}
	return cred, false, err
}

// reload reads sid from the store whatever the cache holds, and caches the
// answer: for a secret that did not match the cached one, which may be a
// credential changed since the entry was read.
func (c *credCache) reload(ctx context.Context, sid string) (cachedCred, error) {
	start := c.now()
	c.mu.RLock()
	e := c.entries[sid]
	gen := c.gen
	c.mu.RUnlock()
	return c.load(ctx, sid, start, gen, e)
}

// load reads sid from the store and updates the cache: the answer is cached
// (under the rules of put), a missing record drops the stale entry e.
func (c *credCache) load(ctx context.Context, sid string, start time.Time, gen uint64, e *credEntry) (cachedCred, error) {
	cred, err := c.fetch(ctx, sid)
	switch {
	case err == nil:
		c.put(sid, cred, start, gen)
	case errors.Is(err, store.ErrNotFound) && e != nil:
		// Deleted elsewhere. Unknown SIDs (e == nil) skip the write lock,
		// so a flood of them does not stall lookups of real ones.
		c.forget(sid, e)
	}
	return cred, err
}

// fetch reads sid from the store.
func (c *credCache) fetch(ctx context.Context, sid string) (cachedCred, error) {
	if len(sid) > 2 && sid[:2] == "AC" {
		acct, err := c.st.GetAccount(ctx, sid)
		if err != nil {
			return cachedCred{}, fmt.Errorf("reading account: %w", err)
		}
		return cachedCred{AccountSID: acct.SID, Secret: acct.AuthToken, CredID: acct.AuthTokenID}, nil
	}
	key, err := c.st.GetKey(ctx, "", sid)
	if err != nil {
		return cachedCred{}, fmt.Errorf("reading key: %w", err)
	}
	return cachedCred{AccountSID: key.AccountSID, Secret: key.Secret, CredID: key.SID}, nil
}

// put caches cred for sid as read from a store read begun at fetched, unless
// an invalidation happened since gen was read.
func (c *credCache) put(sid string, cred cachedCred, fetched time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[sid]; !ok && len(c.entries) >= credCacheMaxEntries {
		c.sweepLocked()
		if len(c.entries) >= credCacheMaxEntries {
			// Full of live entries: serve this one uncached rather than
			// evict a credential that is in use.
			return
		}
	}
	c.entries[sid] = &credEntry{cred: cred, fetched: fetched}
}

// sweepLocked drops expired entries; callers hold mu for writing.
func (c *credCache) sweepLocked() {
	now := c.now()
	for sid, e := range c.entries {
		if now.Sub(e.fetched) >= credCacheTTL {
			delete(c.entries, sid)
		}
	}
}

// forget drops sid's entry if it is still e.
func (c *credCache) forget(sid string, e *credEntry) {
	c.mu.Lock()
	if c.entries[sid] == e {
		delete(c.entries, sid)
	}
	c.mu.Unlock()
}

// invalidate forgets sid and voids fills in flight, so a change made through
// this process applies to the next request.
func (c *credCache) invalidate(sid string) {
	c.mu.Lock()
	delete(c.entries, sid)
	c.gen++
	c.mu.Unlock()
}

// len reports how many entries are cached (tests).
func (c *credCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
