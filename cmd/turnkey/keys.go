package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

const keysUsageText = `usage:
  turnkey keys create --account AC.. [--name NAME] [--main] [--json] [config flags]
  turnkey keys list --account AC.. [--json] [config flags]
  turnkey keys delete --account AC.. [--json] [config flags] SK.. [SK..]...

create makes an API key and prints its SID and secret; the secret is shown
only this once. Keys are Standard (they issue tokens but cannot manage keys
or accounts) unless --main makes a Main key, which may, like the auth token. list prints the account's keys, oldest first, without
secrets. delete removes keys and revokes them: credentials already issued
under them stop working within store.revocation_poll. Flags come before the
key SIDs.
`

func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsageText)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, keysUsageText)
		return 0
	case "create":
		return runKeysCreate(args[1:], stdout, stderr)
	case "list":
		return runKeysList(args[1:], stdout, stderr)
	case "delete":
		return runKeysDelete(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "turnkey keys: unknown subcommand %q\n\n%s", args[0], keysUsageText)
		return 2
	}
}

// requireAccountFlag checks --account before the store is opened, so a
// missing or mistyped SID is a usage error rather than a "not found".
func requireAccountFlag(cmd, account string, stderr io.Writer) bool {
	switch {
	case account == "":
		fmt.Fprintf(stderr, "%s: --account is required\n", cmd)
		return false
	case !strings.HasPrefix(account, "AC"):
		fmt.Fprintf(stderr, "%s: --account %q is not an account SID (AC...)\n", cmd, account)
		return false
	}
	return true
}

func runKeysCreate(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey keys create"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	account := fs.String("account", "", "SID of the account that owns the key (required)")
	name := fs.String("name", "", "friendly name of the key")
	mainKey := fs.Bool("main", false, "make a Main key, which may manage keys and accounts (default: Standard)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) > 0 {
			return unexpectedArgs(cmd, rest, stderr)
		}
		if !requireAccountFlag(cmd, *account, stderr) {
			return 2
		}
		create := st.CreateKey
		if *mainKey {
			create = st.CreateMainKey
		}
		k, err := create(ctx, *account, *name)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			return writeJSON(cmd, stdout, stderr, newKeyJSON(k, true))
		}
		fmt.Fprintf(stdout, "sid:           %s\naccount_sid:   %s\nfriendly_name: %s\ntype:          %s\nsecret:        %s\ndate_created:  %s\n",
			k.SID, k.AccountSID, k.FriendlyName, keyType(k), k.Secret, k.DateCreated.Format(time.RFC3339))
		fmt.Fprintln(stderr, "The key secret is shown only once: store it now.")
		return 0
	})
}

func runKeysList(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey keys list"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	account := fs.String("account", "", "SID of the account whose keys to list (required)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if len(rest) > 0 {
			return unexpectedArgs(cmd, rest, stderr)
		}
		if !requireAccountFlag(cmd, *account, stderr) {
			return 2
		}
		keys, err := st.ListKeys(ctx, *account)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		if *asJSON {
			out := make([]keyJSON, 0, len(keys))
			for _, k := range keys {
				out = append(out, newKeyJSON(k, false))
			}
			return writeJSON(cmd, stdout, stderr, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SID\tTYPE\tCREATED\tNAME")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.SID, keyType(k), k.DateCreated.Format(time.RFC3339), k.FriendlyName)
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		return 0
	})
}

func runKeysDelete(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey keys delete"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	account := fs.String("account", "", "SID of the account that owns the keys (required)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	return withStore(cmd, fs, args, stderr, func(ctx context.Context, st store.Store, rest []string) int {
		if !requireAccountFlag(cmd, *account, stderr) {
			return 2
		}
		if len(rest) == 0 {
			fmt.Fprintf(stderr, "%s: name the key SIDs (SK...) to delete\n", cmd)
			return 2
		}
		for _, sid := range rest {
			if !strings.HasPrefix(sid, "SK") {
				return unexpectedArgs(cmd, []string{sid}, stderr)
			}
		}
		// Every key is attempted, so one unknown SID does not leave the
		// others undeleted; the exit status reports any failure.
		deleted := []string{}
		code := 0
		for _, sid := range rest {
			if err := st.DeleteKey(ctx, *account, sid); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
				code = 1
				continue
			}
			deleted = append(deleted, sid)
			if !*asJSON {
				fmt.Fprintf(stdout, "deleted %s\n", sid)
			}
		}
		if *asJSON {
			if c := writeJSON(cmd, stdout, stderr, map[string]any{"account_sid": *account, "deleted": deleted}); c != 0 {
				return c
			}
		}
		return code
	})
}

// keyJSON is a key as printed with --json, in Twilio's field names.
type keyJSON struct {
	SID          string    `json:"sid"`
	AccountSID   string    `json:"account_sid"`
	FriendlyName string    `json:"friendly_name"`
	Type         string    `json:"type"` // "main" or "standard"
	Secret       string    `json:"secret,omitempty"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// newKeyJSON includes the secret only when withSecret is set: it is printed
// once, on create.
func newKeyJSON(k store.Key, withSecret bool) keyJSON {
	out := keyJSON{
		SID:          k.SID,
		AccountSID:   k.AccountSID,
		FriendlyName: k.FriendlyName,
		Type:         keyType(k),
		DateCreated:  k.DateCreated,
		DateUpdated:  k.DateUpdated,
	}
	if withSecret {
		out.Secret = k.Secret
	}
	return out
}

// keyType names a key's kind as the CLI prints it.
func keyType(k store.Key) string {
	if k.Main {
		return "main"
	}
	return "standard"
}
