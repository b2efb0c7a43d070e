package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

func (s *sqliteStore) AddUsage(ctx context.Context, deltas []UsageDelta) error {
	if err := checkUsage(deltas); err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	if len(deltas) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO usage_daily (account_sid, region, day, bytes) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_sid, day, region) DO UPDATE SET bytes = usage_daily.bytes + excluded.bytes`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, d := range deltas {
			if _, err := stmt.ExecContext(ctx, d.AccountSID, d.Region, utcDay(d.Day).Format(dayLayout), d.Bytes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	return nil
}

func (s *sqliteStore) UsageDays(ctx context.Context, accountSID string, includeSubaccounts bool, from, to time.Time) ([]UsageDay, error) {
	if err := requireAccount(accountSID); err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT region, day, SUM(bytes) FROM usage_daily
		WHERE (account_sid = ? OR (? AND account_sid IN (SELECT sid FROM accounts WHERE parent_sid = ?)))
		AND day >= ? AND day <= ?
		GROUP BY day, region ORDER BY day, region`,
		accountSID, includeSubaccounts, accountSID, utcDay(from).Format(dayLayout), utcDay(to).Format(dayLayout))
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	defer rows.Close()
	out := []UsageDay{}
	for rows.Next() {
		var (
			u   UsageDay
			day string
		)
		if err := rows.Scan(&u.Region, &day, &u.Bytes); err != nil {
			return nil, fmt.Errorf("store: usage: %w", err)
		}
		if u.Day, err = time.Parse(dayLayout, day); err != nil {
			return nil, fmt.Errorf("store: usage: day %q: %w", day, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	return out, nil
}
