package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *postgresStore) AddUsage(ctx context.Context, deltas []UsageDelta) error {
	if err := checkUsage(deltas); err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	if len(deltas) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, d := range deltas {
			b.Queue(`INSERT INTO usage_daily (account_sid, region, day, bytes) VALUES ($1, $2, $3, $4)
				ON CONFLICT (account_sid, day, region) DO UPDATE SET bytes = usage_daily.bytes + excluded.bytes`,
				d.AccountSID, d.Region, utcDay(d.Day), d.Bytes)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	return nil
}

func (s *postgresStore) UsageDays(ctx context.Context, accountSID string, includeSubaccounts bool, from, to time.Time) ([]UsageDay, error) {
	if err := requireAccount(accountSID); err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT region, day, SUM(bytes)::bigint FROM usage_daily
		WHERE (account_sid = $1 OR ($2 AND account_sid IN (SELECT sid FROM accounts WHERE parent_sid = $1)))
		AND day >= $3::date AND day <= $4::date
		GROUP BY day, region ORDER BY day, region`,
		accountSID, includeSubaccounts, utcDay(from), utcDay(to))
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UsageDay, error) {
		var u UsageDay
		err := row.Scan(&u.Region, &u.Day, &u.Bytes)
		u.Day = utcDay(u.Day)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	if out == nil {
		out = []UsageDay{}
	}
	return out, nil
}
