package store

import (
	"errors"
	"fmt"
	"time"
)

// Account statuses, Twilio's names.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	// StatusClosed is permanent: a closed account never becomes active.
	StatusClosed = "closed"
)

var (
	// ErrAccountClosed is returned when a closed account's status would
	// change.
	ErrAccountClosed = errors.New("store: account is closed")
	// ErrAccountInactive is returned when a suspended or closed parent
	// would get a new subaccount or a subaccount's status would change.
	ErrAccountInactive = errors.New("store: parent account is not active")
)

// Standing is the account's effective status: a subaccount is suspended
// (or closed) while its parent is, whatever its own status, as Twilio
// suspends every subaccount of a suspended account.
func (a Account) Standing() string {
	if a.Status == StatusClosed || a.ParentStatus == StatusClosed {
		return StatusClosed
	}
	if a.Status == StatusSuspended || a.ParentStatus == StatusSuspended {
		return StatusSuspended
	}
	return StatusActive
}

// OwnerSID is Twilio's OwnerAccountSid: the parent, or the account itself
// for a top-level account.
func (a Account) OwnerSID() string {
	if a.ParentSID != "" {
		return a.ParentSID
	}
	return a.SID
}

// AccountUpdate is a change to an account; zero fields are left as they are.
type AccountUpdate struct {
	FriendlyName *string
	Status       string
}

// AccountFilter selects accounts for ListAccountsPage.
type AccountFilter struct {
	// Owner lists that account and its subaccounts; required.
	Owner string
	// FriendlyName, when set, keeps exact matches only.
	FriendlyName string
	// Status, when set, keeps accounts whose own status matches.
	Status string
}

// AccountCursor is a position in accounts ordered by (DateCreated, SID);
// the zero value is the start.
type AccountCursor struct {
	DateCreated time.Time
	SID         string
}

// ValidStatus reports whether s is one of the three statuses.
func ValidStatus(s string) bool {
	return s == StatusActive || s == StatusSuspended || s == StatusClosed
}

// checkAccountFilter rejects a filter that would list every tenant.
func checkAccountFilter(f AccountFilter) error {
	if f.Owner == "" {
		return fmt.Errorf("%w: the owner account is required", ErrInvalid)
	}
	if f.Status != "" && !ValidStatus(f.Status) {
		return fmt.Errorf("%w: status %q is not active, suspended or closed", ErrInvalid, f.Status)
	}
	return checkFriendlyName(f.FriendlyName)
}

// feedEntry is one revocation feed row a status change appends.
type feedEntry struct {
	credID, accountSID string
	reinstated         bool
}

// statusChange checks moving cur (with its subaccounts subs, read in the
// same transaction) to status next and returns the feed entries that make
// relays follow: leaving active revokes the account and every subaccount
// (their use depends on the parent's); closing a suspended account revokes
// them again, so the entries stay inside the feed's window; returning to
// active reinstates the account and those of its subaccounts that are
// themselves active.
func statusChange(cur Account, subs []Account, next string) ([]feedEntry, error) {
	if !ValidStatus(next) {
		return nil, fmt.Errorf("%w: status %q is not active, suspended or closed", ErrInvalid, next)
	}
	if next == cur.Status {
		return nil, nil
	}
	if cur.Status == StatusClosed {
		return nil, fmt.Errorf("%w: %s cannot become %s", ErrAccountClosed, cur.SID, next)
	}
	if cur.ParentSID != "" && cur.ParentStatus != StatusActive {
		return nil, fmt.Errorf("%w: %s's parent %s is %s", ErrAccountInactive, cur.SID, cur.ParentSID, cur.ParentStatus)
	}
	var out []feedEntry
	reinstate := next == StatusActive
	out = append(out, feedEntry{credID: cur.SID, accountSID: cur.SID, reinstated: reinstate})
	for _, s := range subs {
		if reinstate && s.Status != StatusActive {
			continue
		}
		out = append(out, feedEntry{credID: s.SID, accountSID: s.SID, reinstated: reinstate})
	}
	return out, nil
}

// checkParent refuses a new subaccount under parent: Twilio has one level
// of subaccounts, and a suspended or closed account makes none.
func checkParent(parent Account) error {
	if parent.ParentSID != "" {
		return fmt.Errorf("%w: %s is a subaccount; subaccounts cannot have subaccounts", ErrInvalid, parent.SID)
	}
	if parent.Status != StatusActive {
		return fmt.Errorf("%w: %s is %s", ErrAccountInactive, parent.SID, parent.Status)
	}
	return nil
}

// wrapAccountErr adds context to an account write's error, keeping the
// sentinels callers map to answers recognisable.
func wrapAccountErr(what string, err error) error {
	for _, sentinel := range []error{ErrNotFound, ErrInvalid, ErrAccountClosed, ErrAccountInactive} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
