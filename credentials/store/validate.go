package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is returned (wrapped, with the reason) for input no backend can
// store, so callers can answer 400 rather than 500.
var ErrInvalid = errors.New("store: invalid input")

// MaxFriendlyNameLen is Twilio's documented limit for friendly names, in
// characters.
const MaxFriendlyNameLen = 64

// checkFriendlyName rejects names the backends would treat differently:
// PostgreSQL refuses NUL and invalid UTF-8 where SQLite keeps them, and
// control characters only serve to corrupt terminal and log output.
func checkFriendlyName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: friendly name is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(name); n > MaxFriendlyNameLen {
		return fmt.Errorf("%w: friendly name is %d characters, at most %d allowed", ErrInvalid, n, MaxFriendlyNameLen)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("%w: friendly name contains a control character", ErrInvalid)
	}
	return nil
}
