package store

// sqliteMigrations is the SQLite schema history. Timestamps are INTEGER Unix
// seconds (UTC by definition); sealed secrets are BLOBs. Never edit an
// applied version: append a new one.
var sqliteMigrations = []migration{
	{version: 1, statements: []string{
		`CREATE TABLE accounts (
			sid               TEXT    NOT NULL PRIMARY KEY,
			friendly_name     TEXT    NOT NULL,
			auth_token_sealed BLOB    NOT NULL,
			auth_token_id     TEXT    NOT NULL UNIQUE,
			date_created      INTEGER NOT NULL,
			date_updated      INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX accounts_date_created_idx ON accounts (date_created, sid)`,
		`CREATE TABLE keys (
			sid           TEXT    NOT NULL PRIMARY KEY,
			account_sid   TEXT    NOT NULL REFERENCES accounts (sid),
			friendly_name TEXT    NOT NULL,
			secret_sealed BLOB    NOT NULL,
			date_created  INTEGER NOT NULL,
			date_updated  INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX keys_account_sid_idx ON keys (account_sid, date_created, sid)`,
		// AUTOINCREMENT, unlike a plain INTEGER PRIMARY KEY, never reuses a
		// seq after the newest rows are pruned: a reader that saw seq N must
		// never be handed a different entry N.
		`CREATE TABLE revocations (
			seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
			cred_id     TEXT    NOT NULL,
			account_sid TEXT    NOT NULL,
			revoked_at  INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at)`,
		// store_meta holds the sealed check value that detects a wrong
		// encryption key on open.
		`CREATE TABLE store_meta (
			name  TEXT NOT NULL PRIMARY KEY,
			value BLOB NOT NULL
		) STRICT`,
	}},
	// Keys existing before version 2 become Standard: a key that could
	// manage keys let a leaked key outlive its own deletion.
	{version: 2, statements: []string{
		`ALTER TABLE keys ADD COLUMN is_main INTEGER NOT NULL DEFAULT 0 CHECK (is_main IN (0, 1))`,
		`CREATE INDEX keys_account_updated_idx ON keys (account_sid, date_updated, sid)`,
	}},
	// Version 3: account status and subaccounts, reinstating feed entries,
	// and relayed bytes per account, region and UTC day.
	{version: 3, statements: []string{
		`ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
			CHECK (status IN ('active', 'suspended', 'closed'))`,
		`ALTER TABLE accounts ADD COLUMN parent_sid TEXT REFERENCES accounts (sid)`,
		`CREATE INDEX accounts_parent_idx ON accounts (parent_sid, date_created, sid)`,
		`ALTER TABLE revocations ADD COLUMN reinstated INTEGER NOT NULL DEFAULT 0 CHECK (reinstated IN (0, 1))`,
		// day is YYYY-MM-DD (UTC), so text order is date order.
		`CREATE TABLE usage_daily (
			account_sid TEXT    NOT NULL,
			region      TEXT    NOT NULL,
			day         TEXT    NOT NULL,
			bytes       INTEGER NOT NULL CHECK (bytes >= 0),
			PRIMARY KEY (account_sid, day, region)
		) STRICT`,
	}},
}
