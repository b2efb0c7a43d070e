package tokenapi

import (
	"context"
	"fmt"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// storedCred is what authenticating a request needs from an account or key.
type storedCred struct {
	AccountSID string
	// Secret is the account's auth token or the key's secret.
	Secret string
	// CredID is the auth-token ID for an account, the SID for a key: the ID
	// issued TURN usernames carry and the revocation feed names.
	CredID string
	// Main is true for the auth token and for Main keys: they may manage
	// keys and accounts; Standard keys may not.
	Main bool
	// Account is the account the credential belongs to, with its status
	// and parent: authentication refuses an account not in good standing.
	Account store.Account
}

// lookupCred reads the account (AC…) or API key (SK…) sid from the store.
//
// Every request reads the store: there is no credential cache, so a key
// deleted or an auth token rotated by any process or node (the CLI, another
// API node) is refused by the very next request here. The store keeps that
// read cheap (prepared statements; PostgreSQL's statement cache).
// store.ErrNotFound (wrapped) means there is no such account or key.
func lookupCred(ctx context.Context, st store.Store, sid string) (storedCred, error) {
	if len(sid) > 2 && sid[:2] == "AC" {
		acct, err := st.GetAccount(ctx, sid)
		if err != nil {
			return storedCred{}, fmt.Errorf("reading account: %w", err)
		}
		return storedCred{AccountSID: acct.SID, Secret: acct.AuthToken, CredID: acct.AuthTokenID, Main: true, Account: acct}, nil
	}
	key, err := st.GetKey(ctx, "", sid)
	if err != nil {
		return storedCred{}, fmt.Errorf("reading key: %w", err)
	}
	// Accounts are never deleted, so a key's account is always there.
	acct, err := st.GetAccount(ctx, key.AccountSID)
	if err != nil {
		return storedCred{}, fmt.Errorf("reading the key's account: %w", err)
	}
	return storedCred{AccountSID: key.AccountSID, Secret: key.Secret, CredID: key.SID, Main: key.Main, Account: acct}, nil
}
