package store

import (
	"fmt"
	"time"
)

// UsageDelta is relayed bytes to add to one account's total for one region
// and UTC day.
type UsageDelta struct {
	AccountSID string
	// Region is the relay node's configured region; "" for a node without
	// one.
	Region string
	// Day is any time within the UTC day; it is truncated.
	Day   time.Time
	Bytes int64
}

// UsageDay is one account's (or one parent's and its subaccounts')
// relayed bytes in one region on one UTC day.
type UsageDay struct {
	Region string
	Day    time.Time // midnight UTC
	Bytes  int64
}

// dayLayout is how SQLite stores days and how both backends are queried.
const dayLayout = "2006-01-02"

// utcDay truncates t to midnight UTC.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// checkUsage rejects deltas no backend should store.
func checkUsage(deltas []UsageDelta) error {
	for _, d := range deltas {
		if d.AccountSID == "" {
			return fmt.Errorf("%w: usage without an account", ErrInvalid)
		}
		if d.Bytes < 0 {
			return fmt.Errorf("%w: negative usage %d for %s", ErrInvalid, d.Bytes, d.AccountSID)
		}
		if err := checkFriendlyName(d.Region); err != nil {
			return fmt.Errorf("region: %w", err)
		}
	}
	return nil
}
