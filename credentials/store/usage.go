package store

import (
	"context"
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

// dayLayout is how SQLite stores days and how both backends are given them
// (PostgreSQL reads the text as a date).
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

func (s *sqlStore) AddUsage(ctx context.Context, deltas []UsageDelta) error {
	if err := checkUsage(deltas); err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	if len(deltas) == 0 {
		return nil
	}
	args := make([][]any, len(deltas))
	for i, d := range deltas {
		args[i] = []any{d.AccountSID, d.Region, utcDay(d.Day).Format(dayLayout), d.Bytes}
	}
	err := s.db.tx(ctx, func(tx conn) error {
		return tx.execEach(ctx, `INSERT INTO usage_daily (account_sid, region, day, bytes) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_sid, day, region) DO UPDATE SET bytes = usage_daily.bytes + excluded.bytes`, args)
	})
	if err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	return nil
}

func (s *sqlStore) UsageDays(ctx context.Context, accountSID string, includeSubaccounts bool, from, to time.Time) ([]UsageDay, error) {
	if err := requireAccount(accountSID); err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	// CAST: PostgreSQL's SUM of bigint is numeric.
	out, err := queryAll(ctx, s.db.reads(), func(row rowScanner) (UsageDay, error) {
		var u UsageDay
		err := row.Scan(&u.Region, dayCol{&u.Day}, &u.Bytes)
		return u, err
	}, `SELECT region, day, CAST(SUM(bytes) AS bigint) FROM usage_daily
		WHERE (account_sid = $1 OR ($2 AND account_sid IN (SELECT sid FROM accounts WHERE parent_sid = $1)))
		AND day >= $3 AND day <= $4
		GROUP BY day, region ORDER BY day, region`,
		accountSID, includeSubaccounts, utcDay(from).Format(dayLayout), utcDay(to).Format(dayLayout))
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	return out, nil
}
