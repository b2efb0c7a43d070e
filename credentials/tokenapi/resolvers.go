package tokenapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// keyResolver finds API key secrets in the store, for token verification.
type keyResolver struct{ st store.Store }

// ResolveKey returns the key's account and secret, or
// credentials.ErrUnknownKey when no such key exists (or it was deleted).
func (k keyResolver) ResolveKey(ctx context.Context, keySID string) (string, string, error) {
	key, err := resolveCred(ctx, k.st, "key", keySID, "SK", credentials.ErrUnknownKey)
	return key.AccountSID, key.Secret, err
}

// accountResolver finds auth tokens in the store, for Capability Tokens.
type accountResolver struct{ st store.Store }

// ResolveAccount returns the account's current auth token and its ID, or
// credentials.ErrUnknownAccount when there is no such account.
func (a accountResolver) ResolveAccount(ctx context.Context, accountSID string) (string, string, error) {
	acct, err := resolveCred(ctx, a.st, "account", accountSID, "AC", credentials.ErrUnknownAccount)
	return acct.Secret, acct.CredID, err
}

// resolveCred looks up sid for a resolver: unknown when it is not a SID
// with prefix (accounts and keys share the lookup, and only the kind asked
// for may resolve) or does not exist.
func resolveCred(ctx context.Context, st store.Store, what, sid, prefix string, unknown error) (storedCred, error) {
	if !credentials.ValidSID(sid, prefix) {
		return storedCred{}, unknown
	}
	c, err := lookupCred(ctx, st, sid)
	if errors.Is(err, store.ErrNotFound) {
		return storedCred{}, unknown
	}
	if err != nil {
		return storedCred{}, fmt.Errorf("resolving %s %s: %w", what, sid, err)
	}
	return c, nil
}

// KeyResolver resolves API keys through the API's store.
func (a *API) KeyResolver() credentials.KeyResolver { return a.keys }

// AccountResolver resolves accounts through the API's store.
func (a *API) AccountResolver() credentials.AccountResolver { return a.accounts }
