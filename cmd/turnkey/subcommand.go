package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// group is a command made of subcommands, such as `turnkey keys`: it
// prints its usage when asked for help or given no subcommand, and refuses
// one it does not know.
type group struct {
	name  string // as typed after "turnkey"
	usage string
	// helpOnStderr sends the -h text to stderr, where token has always
	// printed it; the other groups print it on stdout.
	helpOnStderr bool
	subs         []subcommand
}

func (g group) run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, g.usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		w := stdout
		if g.helpOnStderr {
			w = stderr
		}
		fmt.Fprint(w, g.usage)
		return 0
	}
	for _, s := range g.subs {
		if s.name == args[0] {
			return s.run("turnkey "+g.name, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "turnkey %s: unknown subcommand %q\n\n%s", g.name, args[0], g.usage)
	return 2
}

// needs says what a subcommand wants ready before its action runs.
type needs int

const (
	needFlags  needs = iota // its own flags only
	needConfig              // the shared configuration flags, file and environment
	needStore               // the configuration and the store it names
)

// subcommand is one command's flags and action.
type subcommand struct {
	name  string
	needs needs
	// json adds the -json flag; invocation.output then prints JSON.
	json bool
	// noArgs refuses positional arguments before the action runs.
	noArgs bool
	// flags registers the subcommand's own flags on fs and returns the
	// action, which reads their values through its closure.
	flags func(fs *flag.FlagSet) func(x *invocation) int
}

// invocation is one run of a subcommand: where it writes, what it was
// given, and the configuration and store it asked for.
type invocation struct {
	cmd            string // "turnkey keys list": the prefix of its messages
	stdout, stderr io.Writer
	args           []string // positional arguments after the flags
	asJSON         bool
	cfg            *config.Loaded // with needConfig or needStore
	ctx            context.Context
	store          store.Store // with needStore
}

// storeTimeout bounds a CLI command's time with the store, opening included,
// so an unreachable PostgreSQL fails the command instead of hanging it.
const storeTimeout = 30 * time.Second

// run parses args for s under the name prefix+" "+s.name and runs its
// action. It returns the action's exit status, 0 for -h, 2 for a usage or
// configuration problem and 1 if the store cannot be opened or closed.
func (s subcommand) run(prefix string, args []string, stdout, stderr io.Writer) int {
	x := &invocation{cmd: prefix + " " + s.name, stdout: stdout, stderr: stderr, ctx: context.Background()}
	fs := flag.NewFlagSet(x.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var asJSON *bool
	if s.json {
		asJSON = fs.Bool("json", false, "print JSON for scripts")
	}
	action := s.flags(fs)
	if s.noArgs {
		act := action
		action = func(x *invocation) int {
			if len(x.args) > 0 {
				return x.unexpected(x.args)
			}
			return act(x)
		}
	}
	if s.needs == needFlags {
		if code, ok := parseFlags(fs, args); !ok {
			return code
		}
	} else {
		cfg, code, ok := loadConfig(fs, args, stderr)
		if !ok {
			return code
		}
		x.cfg = cfg
	}
	x.args = fs.Args()
	if asJSON != nil {
		x.asJSON = *asJSON
	}
	if s.needs != needStore {
		return action(x)
	}
	return x.withStore(action)
}

// parseFlags parses args into fs. ok is false when that ends the command:
// -h (exit status 0) or a bad flag (2), which fs has reported.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// withStore opens the configured store for action and closes it after;
// a failure to close fails an otherwise successful command.
func (x *invocation) withStore(action func(x *invocation) int) int {
	key, err := store.LoadOrCreateSealKey(x.cfg.DataDir, x.cfg.Store.EncryptionKey.Reveal())
	if err != nil {
		return x.fail(err)
	}
	ctx, cancel := context.WithTimeout(x.ctx, storeTimeout)
	defer cancel()
	st, err := store.Open(ctx, x.cfg.Store.DSN.Reveal(), x.cfg.DataDir, key)
	if err != nil {
		return x.fail(err)
	}
	x.ctx, x.store = ctx, st
	code := action(x)
	if err := st.Close(); err != nil {
		fmt.Fprintf(x.stderr, "%s: close store: %v\n", x.cmd, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// fail reports an error the command met and returns exit status 1.
func (x *invocation) fail(err error) int {
	fmt.Fprintf(x.stderr, "%s: %v\n", x.cmd, err)
	return 1
}

// refuse reports a usage problem and returns exit status 2.
func (x *invocation) refuse(format string, a ...any) int {
	fmt.Fprintf(x.stderr, "%s: %s\n", x.cmd, fmt.Sprintf(format, a...))
	return 2
}

// unexpected reports positional arguments the command does not take.
// The flag package stops at the first one, so a flag written after it lands
// here too; say so rather than silently ignoring it.
func (x *invocation) unexpected(rest []string) int {
	fmt.Fprintf(x.stderr, "%s: unexpected argument %q", x.cmd, rest[0])
	if strings.HasPrefix(rest[0], "-") || (len(rest) > 1 && strings.HasPrefix(rest[1], "-")) {
		fmt.Fprint(x.stderr, " (flags must come before other arguments)")
	}
	fmt.Fprintln(x.stderr)
	return 2
}
