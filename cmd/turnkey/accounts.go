package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

const accountsUsageText = `usage:
  turnkey accounts create [--name NAME] [--parent AC...] [--json] [config flags]
  turnkey accounts list [--json] [config flags]
  turnkey accounts rotate-token [--json] [config flags] AC...
  turnkey accounts suspend|reactivate|close [--json] [config flags] AC...

create makes an account (with --parent, a subaccount of that account) and
prints its SID and auth token; the auth token is shown only this once. list
prints every account, oldest first, with its status and parent, without
tokens. suspend refuses the account's API credentials, tokens and TURN
credentials (and those of its subaccounts) until reactivate; close does so
for good: a closed account is never reactivated. Both use the store named by -store-dsn (default: SQLite in the data
directory) and its encryption key. rotate-token replaces an account's auth
token and revokes the old one: Capability Tokens it signed and TURN
credentials issued with it are refused (by relays within the revocation
poll interval), as they are when a key is deleted.
`

// storeTimeout bounds a CLI command's time with the store, opening included,
// so an unreachable PostgreSQL fails the command instead of hanging it.
const storeTimeout = 30 * time.Second

func runAccounts(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, accountsUsageText)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, accountsUsageText)
		return 0
	case "create":
		return runAccountsCreate(args[1:], stdout, stderr)
	case "list":
		return runAccountsList(args[1:], stdout, stderr)
	case "rotate-token":
		return runAccountsRotate(args[1:], stdout, stderr)
	case "suspend":
		return runAccountsStatus(args[0], store.StatusSuspended, args[1:], stdout, stderr)
	case "reactivate":
		return runAccountsStatus(args[0], store.StatusActive, args[1:], stdout, stderr)
	case "close":
		return runAccountsStatus(args[0], store.StatusClosed, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "turnkey accounts: unknown subcommand %q\n\n%s", args[0], accountsUsageText)
		return 2
	}
}

func runAccountsCreate(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey accounts create"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	name := fs.String("name", "", "friendly name of the account")
	parent := fs.String("parent", "", "make a subaccount of this account SID")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) > 0 {
			return unexpectedArgs(cmd, rest, stderr)
		}
		var (
			a   store.Account
			err error
		)
		if *parent != "" {
			a, err = st.CreateSubaccount(ctx, *parent, *name)
		} else {
			a, err = st.CreateAccount(ctx, *name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			return writeJSON(cmd, stdout, stderr, newAccountJSON(a, true))
		}
		fmt.Fprintf(stdout, "sid:           %s\nfriendly_name: %s\nauth_token:    %s\nauth_token_id: %s\ndate_created:  %s\n",
			a.SID, a.FriendlyName, a.AuthToken, a.AuthTokenID, a.DateCreated.Format(time.RFC3339))
		// On stderr, so stdout stays the record itself.
		fmt.Fprintln(stderr, "The auth token is shown only once: store it now.")
		return 0
	})
}

func runAccountsList(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey accounts list"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) > 0 {
			return unexpectedArgs(cmd, rest, stderr)
		}
		accounts, err := st.ListAccounts(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			out := make([]accountJSON, 0, len(accounts))
			for _, a := range accounts {
				out = append(out, newAccountJSON(a, false))
			}
			return writeJSON(cmd, stdout, stderr, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SID\tCREATED\tSTATUS\tPARENT\tNAME")
		for _, a := range accounts {
			parent := a.ParentSID
			if parent == "" {
				parent = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.SID, a.DateCreated.Format(time.RFC3339), a.Standing(), parent, a.FriendlyName)
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		return 0
	})
}

// accountJSON is an account as printed with --json, in Twilio's field names.
type accountJSON struct {
	SID          string    `json:"sid"`
	FriendlyName string    `json:"friendly_name"`
	AuthToken    string    `json:"auth_token,omitempty"`
	AuthTokenID  string    `json:"auth_token_id"`
	Status       string    `json:"status"`
	ParentSID    string    `json:"owner_account_sid"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// newAccountJSON includes the auth token only when withToken is set: it is
// printed once, on create.
func newAccountJSON(a store.Account, withToken bool) accountJSON {
	out := accountJSON{
		SID:          a.SID,
		FriendlyName: a.FriendlyName,
		AuthTokenID:  a.AuthTokenID,
		Status:       a.Standing(),
		ParentSID:    a.OwnerSID(),
		DateCreated:  a.DateCreated,
		DateUpdated:  a.DateUpdated,
	}
	if withToken {
		out.AuthToken = a.AuthToken
	}
	return out
}

// withStore parses the subcommand's flags together with the shared
// configuration flags, opens the configured store and runs fn with it and
// the remaining positional arguments. It returns fn's exit status, or 2 for
// a usage or configuration problem and 1 if the store cannot be opened.
// The accounts and keys commands share it.
func withStore(cmd string, fs *flag.FlagSet, args []string, stderr io.Writer,
	fn func(ctx context.Context, st store.Store, rest []string) int) int {
	cfg, code, ok := loadConfig(fs, args, stderr)
	if !ok {
		return code
	}
	key, err := store.LoadOrCreateSealKey(cfg.DataDir, cfg.Store.EncryptionKey.Reveal())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.Store.DSN.Reveal(), cfg.DataDir, key)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	code = fn(ctx, st, fs.Args())
	if err := st.Close(); err != nil {
		fmt.Fprintf(stderr, "%s: close store: %v\n", cmd, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// unexpectedArgs reports positional arguments a subcommand does not take.
// The flag package stops at the first one, so a flag written after it lands
// here too; say so rather than silently ignoring it.
func unexpectedArgs(cmd string, rest []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: unexpected argument %q", cmd, rest[0])
	if strings.HasPrefix(rest[0], "-") || (len(rest) > 1 && strings.HasPrefix(rest[1], "-")) {
		fmt.Fprint(stderr, " (flags must come before other arguments)")
	}
	fmt.Fprintln(stderr)
	return 2
}

// writeJSON prints v indented, as the other commands' --json output is.
func writeJSON(cmd string, stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", cmd, err)
		return 1
	}
	return 0
}

func runAccountsRotate(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey accounts rotate-token"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) != 1 {
			fmt.Fprintf(stderr, "%s: name exactly one account SID\n", cmd)
			return 2
		}
		a, err := st.RotateAuthToken(ctx, rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			return writeJSON(cmd, stdout, stderr, newAccountJSON(a, true))
		}
		fmt.Fprintf(stdout, "sid:           %s\nauth_token:    %s\nauth_token_id: %s\n", a.SID, a.AuthToken, a.AuthTokenID)
		fmt.Fprintln(stderr, "The new auth token is shown only once: store it now. The old one is revoked.")
		return 0
	})
}

// runAccountsStatus sets an account's status; the store decides what
// may change (a closed account never reopens) and what relays must refuse.
func runAccountsStatus(sub, status string, args []string, stdout, stderr io.Writer) int {
	cmd := "turnkey accounts " + sub
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) != 1 {
			fmt.Fprintf(stderr, "%s: name exactly one account SID\n", cmd)
			return 2
		}
		a, err := st.UpdateAccount(ctx, rest[0], store.AccountUpdate{Status: status})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			return writeJSON(cmd, stdout, stderr, newAccountJSON(a, false))
		}
		fmt.Fprintf(stdout, "sid:    %s\nstatus: %s\n", a.SID, a.Standing())
		return 0
	})
}
