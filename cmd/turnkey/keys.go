package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
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

var keysCommand = group{name: "keys", usage: keysUsageText, subs: []subcommand{
	{name: "create", needs: needStore, json: true, noArgs: true, flags: keysCreate},
	{name: "list", needs: needStore, json: true, noArgs: true, flags: keysList},
	{name: "delete", needs: needStore, json: true, flags: keysDelete},
}}

// withAccount registers --account and runs act with its value. The value
// is checked first, so a missing or mistyped SID is a usage error rather
// than a "not found".
func withAccount(fs *flag.FlagSet, usage string, act func(x *invocation, account string) int) func(x *invocation) int {
	account := fs.String("account", "", usage)
	return func(x *invocation) int {
		switch {
		case *account == "":
			return x.refuse("--account is required")
		case !strings.HasPrefix(*account, "AC"):
			return x.refuse("--account %q is not an account SID (AC...)", *account)
		}
		return act(x, *account)
	}
}

func keysCreate(fs *flag.FlagSet) func(x *invocation) int {
	name := fs.String("name", "", "friendly name of the key")
	mainKey := fs.Bool("main", false, "make a Main key, which may manage keys and accounts (default: Standard)")
	return withAccount(fs, "SID of the account that owns the key (required)", func(x *invocation, sid string) int {
		create := x.store.CreateKey
		if *mainKey {
			create = x.store.CreateMainKey
		}
		k, err := create(x.ctx, sid, *name)
		if err != nil {
			return x.fail(err)
		}
		return x.output(newKeyJSON(k, true), func() int {
			fmt.Fprintf(x.stdout, "sid:           %s\naccount_sid:   %s\nfriendly_name: %s\ntype:          %s\nsecret:        %s\ndate_created:  %s\n",
				k.SID, k.AccountSID, k.FriendlyName, keyType(k), k.Secret, k.DateCreated.Format(time.RFC3339))
			fmt.Fprintln(x.stderr, "The key secret is shown only once: store it now.")
			return 0
		})
	})
}

func keysList(fs *flag.FlagSet) func(x *invocation) int {
	return withAccount(fs, "SID of the account whose keys to list (required)", func(x *invocation, sid string) int {
		keys, err := x.store.ListKeys(x.ctx, sid)
		if err != nil {
			return x.fail(err)
		}
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			out = append(out, newKeyJSON(k, false))
		}
		return x.output(out, func() int {
			return x.table("SID\tTYPE\tCREATED\tNAME", func(w io.Writer) {
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.SID, keyType(k), k.DateCreated.Format(time.RFC3339), k.FriendlyName)
				}
			})
		})
	})
}

func keysDelete(fs *flag.FlagSet) func(x *invocation) int {
	return withAccount(fs, "SID of the account that owns the keys (required)", func(x *invocation, sid string) int {
		if len(x.args) == 0 {
			return x.refuse("name the key SIDs (SK...) to delete")
		}
		for _, key := range x.args {
			if !strings.HasPrefix(key, "SK") {
				return x.unexpected([]string{key})
			}
		}
		// Every key is attempted, so one unknown SID does not leave the
		// others undeleted; the exit status reports any failure.
		deleted := []string{}
		code := 0
		for _, key := range x.args {
			if err := x.store.DeleteKey(x.ctx, sid, key); err != nil {
				code = x.fail(err)
				continue
			}
			deleted = append(deleted, key)
			if !x.asJSON {
				fmt.Fprintf(x.stdout, "deleted %s\n", key)
			}
		}
		if x.asJSON {
			if c := x.writeJSON(map[string]any{"account_sid": sid, "deleted": deleted}); c != 0 {
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
