package tokenapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// bearerCacheMaxEntries bounds the verified-token cache (~300 bytes an
// entry). Only tokens that verified are cached, so filling it takes tokens
// signed with real secrets.
const bearerCacheMaxEntries = 10_000

// bearerCache remembers bearer tokens that verified, by SHA-256 of the raw
// token. A browser page calls /v1/ice-servers with the same token again and
// again; re-verifying it (two JSON decodes and an HMAC) was most of that
// endpoint's CPU.
//
// A hit is only as good as a fresh verification:
//   - the secret that signed it must still be the one the store holds for
//     its key or account (read on every hit), so a deleted key or rotated
//     auth token refuses the token at once, whichever process changed it;
//   - of the token's time claims only exp can turn a pass into a failure as
//     the clock moves forward, so a hit needs a clock no earlier than at
//     verification (a clock stepped back re-verifies) and before exp, not
//     counting the skew leeway (a token in its leeway re-verifies).
//
// Everything else verification checks (signature, algorithm, claims shape,
// lifetime, account) depends only on the token and that secret.
type bearerCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*bearerEntry
}

type bearerEntry struct {
	b          credentials.Bearer
	secret     string // the key secret or auth token that verified it
	verifiedAt time.Time
}

func newBearerCache() *bearerCache {
	return &bearerCache{entries: make(map[[sha256.Size]byte]*bearerEntry)}
}

// verifyBearer verifies a bearer token, from the verified-token cache when
// that gives the same answer, else in full.
func (a *API) verifyBearer(ctx context.Context, raw string, now time.Time) (*credentials.Bearer, error) {
	sum := sha256.Sum256([]byte(raw))
	b, acct, ok := a.bearers.lookup(ctx, sum, now, a.cfg.Store)
	if !ok {
		rec := &recordingResolvers{keys: a.keys, accounts: a.accounts}
		var err error
		if b, err = credentials.VerifyBearer(ctx, raw, rec, rec, now); err != nil {
			return nil, err
		}
		if rec.secret != "" {
			a.bearers.put(sum, b, rec.secret, now)
		}
		if acct, err = a.cfg.Store.GetAccount(ctx, b.AccountSID); err != nil {
			return nil, fmt.Errorf("reading account %s: %w", b.AccountSID, err)
		}
	}
	// Checked after the signature, so a forged token learns nothing of the
	// account; and on every hit (with the account the hit read), since a
	// suspension changes no secret.
	if acct.Standing() != store.StatusActive {
		return nil, &inactiveAccountError{acct: acct}
	}
	return b, nil
}

// inactiveAccountError refuses a valid bearer token of a suspended or
// closed account.
type inactiveAccountError struct{ acct store.Account }

func (e *inactiveAccountError) Error() string {
	return "account " + e.acct.SID + " is " + e.acct.Standing()
}

// lookup returns a copy of the cached verification of the token hashing to
// sum, if it still holds at now, and the token's account as just read.
func (c *bearerCache) lookup(ctx context.Context, sum [sha256.Size]byte, now time.Time, st store.Store) (*credentials.Bearer, store.Account, bool) {
	c.mu.RLock()
	e := c.entries[sum]
	c.mu.RUnlock()
	if e == nil || now.Before(e.verifiedAt) || !now.Before(e.b.Expires) {
		return nil, store.Account{}, false
	}
	var acct store.Account
	// The signing secret must be the current one. Any error (including a
	// store failure) falls back to full verification, which reports it.
	switch e.b.Kind {
	case credentials.BearerAccess:
		key, err := lookupCred(ctx, st, e.b.CredID)
		if err != nil || key.AccountSID != e.b.AccountSID || key.Secret != e.secret {
			return nil, store.Account{}, false
		}
		acct = key.Account
	case credentials.BearerCapability:
		cred, err := lookupCred(ctx, st, e.b.AccountSID)
		if err != nil || cred.CredID != e.b.CredID || cred.Secret != e.secret {
			return nil, store.Account{}, false
		}
		acct = cred.Account
	default:
		return nil, store.Account{}, false
	}
	b := e.b
	return &b, acct, true
}

// put caches a verification made at now with secret.
func (c *bearerCache) put(sum [sha256.Size]byte, b *credentials.Bearer, secret string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= bearerCacheMaxEntries {
		for k, e := range c.entries {
			if !now.Before(e.b.Expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= bearerCacheMaxEntries {
			return
		}
	}
	c.entries[sum] = &bearerEntry{b: *b, secret: secret, verifiedAt: now}
}

// recordingResolvers passes lookups through and remembers the secret handed
// to the verifier, so the cache keys a verification to exactly that secret
// even if the credential changes while the token is being checked.
type recordingResolvers struct {
	keys     credentials.KeyResolver
	accounts credentials.AccountResolver
	secret   string
}

func (r *recordingResolvers) ResolveKey(ctx context.Context, keySID string) (string, string, error) {
	acct, secret, err := r.keys.ResolveKey(ctx, keySID)
	r.secret = secret
	return acct, secret, err
}

func (r *recordingResolvers) ResolveAccount(ctx context.Context, accountSID string) (string, string, error) {
	token, tokenID, err := r.accounts.ResolveAccount(ctx, accountSID)
	r.secret = token
	return token, tokenID, err
}
