package store

import "fmt"

// migration is one schema version. Versions are applied in order, each in
// the same transaction as the schema_migrations row recording it, so a
// crash leaves the schema at a whole version.
type migration struct {
	version    int
	statements []string
}

// pendingMigrations returns the migrations after version current, refusing
// a database written by a newer turnkey whose schema this one cannot know.
func pendingMigrations(all []migration, current int) ([]migration, error) {
	latest := all[len(all)-1].version
	if current > latest {
		return nil, fmt.Errorf("store: migrate: database schema is version %d, newer than the %d this turnkey knows; upgrade turnkey", current, latest)
	}
	var out []migration
	for _, m := range all {
		if m.version > current {
			out = append(out, m)
		}
	}
	return out, nil
}
