package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/turnkey-dev/turnkey/config"
)

// loadConfig parses the shared configuration flags (plus any extra flags the
// caller registered on fs) and returns the validated configuration. It
// prints the problem and returns ok=false on error; code is the exit status.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (cfg *config.Loaded, code int, ok bool) {
	cfg, _, code, ok = loadConfigReloadable(fs, args, stderr)
	return cfg, code, ok
}

// loadConfigReloadable is loadConfig that also returns a function reading
// the configuration again from the same file, environment and flags (for
// SIGHUP).
func loadConfigReloadable(fs *flag.FlagSet, args []string, stderr io.Writer) (cfg *config.Loaded, reload func() (*config.Loaded, error), code int, ok bool) {
	fs.SetOutput(stderr)
	binder := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0, false
		}
		return nil, nil, 2, false
	}
	reload = func() (*config.Loaded, error) {
		l, err := config.Load(binder, os.Environ())
		if err != nil {
			return nil, err
		}
		if err := l.Validate(); err != nil {
			return nil, err
		}
		if err := config.ResolveDataDir(&l.Config); err != nil {
			return nil, err
		}
		return l, nil
	}
	l, err := reload()
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			fmt.Fprintln(stderr, "turnkey: invalid configuration:")
			for _, e := range unjoin(err) {
				fmt.Fprintln(stderr, "  -", e)
			}
			return nil, nil, 2, false
		}
		fmt.Fprintln(stderr, "turnkey:", err)
		return nil, nil, 2, false
	}
	return l, reload, 0, true
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
