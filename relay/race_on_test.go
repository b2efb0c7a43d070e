//go:build race

package relay

// raceEnabled: the race detector allocates on its own account, so absolute
// allocation counts are checked only without it.
const raceEnabled = true
