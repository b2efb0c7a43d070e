// Package store keeps turnkey's shared state: accounts, API keys and the
// revocation feed. One implementation (sqlStore) serves SQLite (embedded,
// the default) and PostgreSQL, and the conformance suite runs on both.
//
// Secrets (auth tokens, key secrets) are sealed with AES-256-GCM under a key
// held outside the database, so a copied database file reveals none of them.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when an account or key does not exist (or a key
// does not belong to the account named).
var ErrNotFound = errors.New("store: not found")

// Account is a tenant: it owns API keys and an auth token.
type Account struct {
	SID          string // "AC" + 32 lowercase hex
	FriendlyName string
	// AuthToken is the account's current auth token (32 lowercase hex),
	// unsealed. It authenticates Basic auth and signs Capability Tokens.
	AuthToken string
	// AuthTokenID identifies the current auth token ("TK" + 32 hex) inside
	// issued TURN usernames; rotating the token revokes the old ID.
	AuthTokenID string
	// Status is the account's own status: StatusActive, StatusSuspended
	// or StatusClosed.
	Status string
	// ParentSID is the account that owns this subaccount; "" for a
	// top-level account.
	ParentSID string
	// ParentStatus is the parent's Status, read with the account; "" for a
	// top-level account. Standing combines the two.
	ParentStatus string
	DateCreated  time.Time
	DateUpdated  time.Time
}

// Key is an API key: SID + secret, belonging to one account.
type Key struct {
	SID          string // "SK" + 32 lowercase hex
	AccountSID   string
	FriendlyName string
	// Secret is the key secret (32 alphanumeric characters), unsealed.
	Secret string
	// Main marks a Main key, which may manage keys and accounts as the auth
	// token may; a Standard key (the default, and all Twilio's Keys
	// resource creates) may only use the account's other resources.
	Main        bool
	DateCreated time.Time
	DateUpdated time.Time
}

// KeyCursor is a position in an account's keys ordered by (DateUpdated,
// SID): a keyset, so removing keys already seen never shifts the next page.
// The zero value is the start.
type KeyCursor struct {
	DateUpdated time.Time
	SID         string
}

// Revocation says that credentials issued under CredID (an SK key SID, a
// TK auth-token ID, or an AC account SID for a suspended or closed account)
// must no longer be accepted; with Reinstated, that an account revoked
// earlier in the feed is active again.
type Revocation struct {
	// Seq orders the feed; readers ask for entries after the last Seq seen.
	Seq        int64
	CredID     string
	AccountSID string
	RevokedAt  time.Time
	// Reinstated lifts the earlier revocation of CredID (only ever an
	// account SID: deleted keys and rotated tokens never come back).
	Reinstated bool
}

// Store is the store over either database. Every method is
// safe for concurrent use. Timestamps are UTC with second precision.
type Store interface {
	// CreateAccount makes an account with a fresh SID, auth token and token ID.
	CreateAccount(ctx context.Context, friendlyName string) (Account, error)
	GetAccount(ctx context.Context, sid string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// CreateSubaccount makes an active account owned by parentSID, which
	// must exist (ErrNotFound), be a top-level account (ErrInvalid) and be
	// active (ErrAccountInactive).
	CreateSubaccount(ctx context.Context, parentSID, friendlyName string) (Account, error)
	// ListAccountsPage returns at most limit accounts matching f after the
	// cursor, ordered by (DateCreated, SID).
	ListAccountsPage(ctx context.Context, f AccountFilter, after AccountCursor, limit int) ([]Account, error)
	// UpdateAccount renames the account and/or changes its status, and in
	// the same transaction appends the revocation feed entries the change
	// implies (see statusChange). ErrAccountClosed: a closed account's
	// status cannot change; ErrAccountInactive: a subaccount's status
	// cannot change while its parent is not active.
	UpdateAccount(ctx context.Context, sid string, u AccountUpdate) (Account, error)
	// RotateAuthToken replaces the auth token and its ID and appends the old
	// ID to the revocation feed, in one transaction.
	RotateAuthToken(ctx context.Context, sid string) (Account, error)

	// CreateKey makes a Standard key with a fresh SID and secret for an
	// existing account.
	CreateKey(ctx context.Context, accountSID, friendlyName string) (Key, error)
	// CreateMainKey is CreateKey for a Main key.
	CreateMainKey(ctx context.Context, accountSID, friendlyName string) (Key, error)
	// GetKey finds a key by SID alone (accountSID == "") or within an account.
	GetKey(ctx context.Context, accountSID, keySID string) (Key, error)
	ListKeys(ctx context.Context, accountSID string) ([]Key, error)
	// ListKeysPage returns at most limit keys of the account after the
	// cursor, ordered by (DateUpdated, SID); ErrNotFound if the account
	// does not exist.
	ListKeysPage(ctx context.Context, accountSID string, after KeyCursor, limit int) ([]Key, error)
	UpdateKey(ctx context.Context, accountSID, keySID, friendlyName string) (Key, error)
	// DeleteKey removes the key and appends it to the revocation feed, in one
	// transaction.
	DeleteKey(ctx context.Context, accountSID, keySID string) error

	// RevocationsAfter returns feed entries with Seq > after, oldest first, at
	// most limit of them.
	RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, error)
	// PruneRevocations drops entries revoked before the given time (no
	// credential issued under them can still be valid).
	PruneRevocations(ctx context.Context, before time.Time) error

	// AddUsage adds each delta's bytes to its (account, region, day) total,
	// in one transaction: several relay nodes add to the same rows.
	AddUsage(ctx context.Context, deltas []UsageDelta) error
	// UsageDays returns the daily totals per region of accountSID (and, with
	// includeSubaccounts, of its subaccounts, summed) for the UTC days from
	// through to inclusive, ordered by day then region.
	UsageDays(ctx context.Context, accountSID string, includeSubaccounts bool, from, to time.Time) ([]UsageDay, error)

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}
