package store

import (
	"regexp"
	"strings"
)

// schemaTypes spells the schema's column types in one database's SQL.
type schemaTypes struct {
	// text, blob, time (a UTC instant), int64 and day (a UTC date).
	text, blob, time, int64, day string
	// seq is the revocation feed's key, which never reuses a value after
	// the newest rows are pruned: a reader that saw seq N must never be
	// handed a different entry N.
	seq string
	// boolFalse is a NOT NULL boolean column defaulting to false; %s is
	// the column's name.
	boolFalse string
	// tableEnd ends every CREATE TABLE.
	tableEnd string
}

// sqliteTypes: timestamps are INTEGER Unix seconds (UTC by definition),
// days are YYYY-MM-DD text (so text order is date order), and STRICT
// tables refuse values of another type.
var sqliteTypes = schemaTypes{
	text: "TEXT", blob: "BLOB", time: "INTEGER", int64: "INTEGER", day: "TEXT",
	// AUTOINCREMENT, unlike a plain INTEGER PRIMARY KEY, never reuses a seq.
	seq:       "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT",
	boolFalse: "INTEGER NOT NULL DEFAULT 0 CHECK (%s IN (0, 1))",
	tableEnd:  ") STRICT",
}

var postgresTypes = schemaTypes{
	text: "text", blob: "bytea", time: "timestamptz", int64: "bigint", day: "date",
	seq:       "bigserial NOT NULL PRIMARY KEY",
	boolFalse: "boolean NOT NULL DEFAULT false",
	tableEnd:  ")",
}

// schemaHistory is the schema, written once for both databases: {text},
// {blob}, {time}, {int64}, {day}, {seq} and {end} stand for the database's
// spellings, and {bool:NAME} for a boolean column NAME. Never edit an
// applied version: append a new one.
var schemaHistory = []struct {
	version    int
	statements []string
}{
	{1, []string{
		`CREATE TABLE accounts (
			sid               {text} NOT NULL PRIMARY KEY,
			friendly_name     {text} NOT NULL,
			auth_token_sealed {blob} NOT NULL,
			auth_token_id     {text} NOT NULL UNIQUE,
			date_created      {time} NOT NULL,
			date_updated      {time} NOT NULL
		{end}`,
		`CREATE INDEX accounts_date_created_idx ON accounts (date_created, sid)`,
		`CREATE TABLE keys (
			sid           {text} NOT NULL PRIMARY KEY,
			account_sid   {text} NOT NULL REFERENCES accounts (sid),
			friendly_name {text} NOT NULL,
			secret_sealed {blob} NOT NULL,
			date_created  {time} NOT NULL,
			date_updated  {time} NOT NULL
		{end}`,
		`CREATE INDEX keys_account_sid_idx ON keys (account_sid, date_created, sid)`,
		`CREATE TABLE revocations (
			seq         {seq},
			cred_id     {text} NOT NULL,
			account_sid {text} NOT NULL,
			revoked_at  {time} NOT NULL
		{end}`,
		`CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at)`,
		// store_meta holds the sealed check value that detects a wrong
		// encryption key on open.
		`CREATE TABLE store_meta (
			name  {text} NOT NULL PRIMARY KEY,
			value {blob} NOT NULL
		{end}`,
	}},
	// Keys existing before version 2 become Standard: a key that could
	// manage keys let a leaked key outlive its own deletion.
	{2, []string{
		`ALTER TABLE keys ADD COLUMN is_main {bool:is_main}`,
		`CREATE INDEX keys_account_updated_idx ON keys (account_sid, date_updated, sid)`,
	}},
	// Version 3: account status and subaccounts, reinstating feed entries,
	// and relayed bytes per account, region and UTC day.
	{3, []string{
		`ALTER TABLE accounts ADD COLUMN status {text} NOT NULL DEFAULT 'active'
			CHECK (status IN ('active', 'suspended', 'closed'))`,
		`ALTER TABLE accounts ADD COLUMN parent_sid {text} REFERENCES accounts (sid)`,
		`CREATE INDEX accounts_parent_idx ON accounts (parent_sid, date_created, sid)`,
		`ALTER TABLE revocations ADD COLUMN reinstated {bool:reinstated}`,
		`CREATE TABLE usage_daily (
			account_sid {text}  NOT NULL,
			region      {text}  NOT NULL,
			day         {day}   NOT NULL,
			bytes       {int64} NOT NULL CHECK (bytes >= 0),
			PRIMARY KEY (account_sid, day, region)
		{end}`,
	}},
}

var boolColumn = regexp.MustCompile(`\{bool:(\w+)\}`)

// migrations spells schemaHistory in t.
func (t schemaTypes) migrations() []migration {
	r := strings.NewReplacer(
		"{text}", t.text, "{blob}", t.blob, "{time}", t.time, "{int64}", t.int64, "{day}", t.day,
		"{seq}", t.seq, "{end}", t.tableEnd,
	)
	boolFalse := strings.ReplaceAll(t.boolFalse, "%s", "$1")
	out := make([]migration, len(schemaHistory))
	for i, v := range schemaHistory {
		out[i] = migration{version: v.version}
		for _, stmt := range v.statements {
			stmt = boolColumn.ReplaceAllString(r.Replace(stmt), boolFalse)
			out[i].statements = append(out[i].statements, stmt)
		}
	}
	return out
}
