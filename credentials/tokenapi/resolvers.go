package tokenapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// keyResolver finds API key secrets in the store, through the credential
// cache unless fresh, for token verification.
type keyResolver struct {
	c     *credCache
	fresh bool
}

// ResolveKey returns the key's account and secret, or
// credentials.ErrUnknownKey when no such key exists (or it was deleted).
func (k keyResolver) ResolveKey(ctx context.Context, keySID string) (string, string, error) {
	// The cache holds accounts too: only a key SID may resolve here.
	if !credentials.ValidSID(keySID, "SK") {
		return "", "", credentials.ErrUnknownKey
	}
	key, err := k.c.lookup(ctx, keySID, k.fresh)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", credentials.ErrUnknownKey
	}
	if err != nil {
		return "", "", fmt.Errorf("resolving key %s: %w", keySID, err)
	}
	return key.AccountSID, key.Secret, nil
}

// accountResolver finds auth tokens in the store, through the credential
// cache unless fresh, for Capability Tokens.
type accountResolver struct {
	c     *credCache
	fresh bool
}

// ResolveAccount returns the account's current auth token and its ID, or
// credentials.ErrUnknownAccount when there is no such account.
func (a accountResolver) ResolveAccount(ctx context.Context, accountSID string) (string, string, error) {
	if !credentials.ValidSID(accountSID, "AC") {
		return "", "", credentials.ErrUnknownAccount
	}
	acct, err := a.c.lookup(ctx, accountSID, a.fresh)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", credentials.ErrUnknownAccount
	}
	if err != nil {
		return "", "", fmt.Errorf("resolving account %s: %w", accountSID, err)
	}
	return acct.Secret, acct.CredID, nil
}

// lookup is get, or reload when fresh.
func (c *credCache) lookup(ctx context.Context, sid string, fresh bool) (cachedCred, error) {
	if fresh {
		return c.reload(ctx, sid)
	}
	cred, _, err := c.get(ctx, sid)
	return cred, err
}

// KeyResolver resolves API keys through the API's store.
func (a *API) KeyResolver() credentials.KeyResolver { return a.keys }

// AccountResolver resolves accounts through the API's store.
func (a *API) AccountResolver() credentials.AccountResolver { return a.accounts }
