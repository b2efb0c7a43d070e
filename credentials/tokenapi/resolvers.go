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
	// Accounts share the lookup: only a key SID may resolve here.
	if !credentials.ValidSID(keySID, "SK") {
		return "", "", credentials.ErrUnknownKey
	}
	key, err := lookupCred(ctx, k.st, keySID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", credentials.ErrUnknownKey
	}
	if err != nil {
		return "", "", fmt.Errorf("resolving key %s: %w", keySID, err)
	}
	return key.AccountSID, key.Secret, nil
}

// accountResolver finds auth tokens in the store, for Capability Tokens.
type accountResolver struct{ st store.Store }

// ResolveAccount returns the account's current auth token and its ID, or
// credentials.ErrUnknownAccount when there is no such account.
func (a accountResolver) ResolveAccount(ctx context.Context, accountSID string) (string, string, error) {
	if !credentials.ValidSID(accountSID, "AC") {
		return "", "", credentials.ErrUnknownAccount
	}
	acct, err := lookupCred(ctx, a.st, accountSID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", credentials.ErrUnknownAccount
	}
	if err != nil {
		return "", "", fmt.Errorf("resolving account %s: %w", accountSID, err)
	}
	return acct.Secret, acct.CredID, nil
}

// KeyResolver resolves API keys through the API's store.
func (a *API) KeyResolver() credentials.KeyResolver { return a.keys }

// AccountResolver resolves accounts through the API's store.
func (a *API) AccountResolver() credentials.AccountResolver { return a.accounts }
