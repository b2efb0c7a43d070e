package store

// postgresMigrations is the PostgreSQL schema history, the same tables as
// sqliteMigrations with native types. Never edit an applied version: append
// a new one.
var postgresMigrations = []migration{
	{version: 1, statements: []string{
		`CREATE TABLE accounts (
			sid               text        NOT NULL PRIMARY KEY,
			friendly_name     text        NOT NULL,
			auth_token_sealed bytea       NOT NULL,
			auth_token_id     text        NOT NULL UNIQUE,
			date_created      timestamptz NOT NULL,
			date_updated      timestamptz NOT NULL
		)`,
		`CREATE INDEX accounts_date_created_idx ON accounts (date_created, sid)`,
		`CREATE TABLE keys (
			sid           text        NOT NULL PRIMARY KEY,
			account_sid   text        NOT NULL REFERENCES accounts (sid),
			friendly_name text        NOT NULL,
			secret_sealed bytea       NOT NULL,
			date_created  timestamptz NOT NULL,
			date_updated  timestamptz NOT NULL
		)`,
		`CREATE INDEX keys_account_sid_idx ON keys (account_sid, date_created, sid)`,
		`CREATE TABLE revocations (
			seq         bigserial   NOT NULL PRIMARY KEY,
			cred_id     text        NOT NULL,
			account_sid text        NOT NULL,
			revoked_at  timestamptz NOT NULL
		)`,
		`CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at)`,
		`CREATE TABLE store_meta (
			name  text  NOT NULL PRIMARY KEY,
			value bytea NOT NULL
		)`,
	}},
	{version: 2, statements: []string{
		`ALTER TABLE keys ADD COLUMN is_main boolean NOT NULL DEFAULT false`,
		`CREATE INDEX keys_account_updated_idx ON keys (account_sid, date_updated, sid)`,
	}},
	{version: 3, statements: []string{
		`ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active'
			CHECK (status IN ('active', 'suspended', 'closed'))`,
		`ALTER TABLE accounts ADD COLUMN parent_sid text REFERENCES accounts (sid)`,
		`CREATE INDEX accounts_parent_idx ON accounts (parent_sid, date_created, sid)`,
		`ALTER TABLE revocations ADD COLUMN reinstated boolean NOT NULL DEFAULT false`,
		`CREATE TABLE usage_daily (
			account_sid text   NOT NULL,
			region      text   NOT NULL,
			day         date   NOT NULL,
			bytes       bigint NOT NULL CHECK (bytes >= 0),
			PRIMARY KEY (account_sid, day, region)
		)`,
	}},
}
