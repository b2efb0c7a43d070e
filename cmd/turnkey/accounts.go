package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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

var accountsCommand = group{name: "accounts", usage: accountsUsageText, subs: []subcommand{
	{name: "create", needs: needStore, json: true, noArgs: true, flags: accountsCreate},
	{name: "list", needs: needStore, json: true, noArgs: true, flags: accountsList},
	{name: "rotate-token", needs: needStore, json: true, flags: accountsRotate},
	accountsStatus("suspend", store.StatusSuspended),
	accountsStatus("reactivate", store.StatusActive),
	accountsStatus("close", store.StatusClosed),
}}

func accountsCreate(fs *flag.FlagSet) func(x *invocation) int {
	name := fs.String("name", "", "friendly name of the account")
	parent := fs.String("parent", "", "make a subaccount of this account SID")
	return func(x *invocation) int {
		var (
			a   store.Account
			err error
		)
		if *parent != "" {
			a, err = x.store.CreateSubaccount(x.ctx, *parent, *name)
		} else {
			a, err = x.store.CreateAccount(x.ctx, *name)
		}
		if err != nil {
			return x.fail(err)
		}
		return x.output(newAccountJSON(a, true), func() int {
			fmt.Fprintf(x.stdout, "sid:           %s\nfriendly_name: %s\nauth_token:    %s\nauth_token_id: %s\ndate_created:  %s\n",
				a.SID, a.FriendlyName, a.AuthToken, a.AuthTokenID, a.DateCreated.Format(time.RFC3339))
			// On stderr, so stdout stays the record itself.
			fmt.Fprintln(x.stderr, "The auth token is shown only once: store it now.")
			return 0
		})
	}
}

func accountsList(*flag.FlagSet) func(x *invocation) int {
	return func(x *invocation) int {
		accounts, err := x.store.ListAccounts(x.ctx)
		if err != nil {
			return x.fail(err)
		}
		out := make([]accountJSON, 0, len(accounts))
		for _, a := range accounts {
			out = append(out, newAccountJSON(a, false))
		}
		return x.output(out, func() int {
			return x.table("SID\tCREATED\tSTATUS\tPARENT\tNAME", func(w io.Writer) {
				for _, a := range accounts {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.SID, a.DateCreated.Format(time.RFC3339), a.Standing(), orDash(a.ParentSID), a.FriendlyName)
				}
			})
		})
	}
}

func accountsRotate(*flag.FlagSet) func(x *invocation) int {
	return func(x *invocation) int {
		a, code, ok := oneAccount(x, x.store.RotateAuthToken)
		if !ok {
			return code
		}
		return x.output(newAccountJSON(a, true), func() int {
			fmt.Fprintf(x.stdout, "sid:           %s\nauth_token:    %s\nauth_token_id: %s\n", a.SID, a.AuthToken, a.AuthTokenID)
			fmt.Fprintln(x.stderr, "The new auth token is shown only once: store it now. The old one is revoked.")
			return 0
		})
	}
}

// accountsStatus sets an account's status; the store decides what
// may change (a closed account never reopens) and what relays must refuse.
func accountsStatus(name, status string) subcommand {
	return subcommand{name: name, needs: needStore, json: true, flags: func(*flag.FlagSet) func(x *invocation) int {
		return func(x *invocation) int {
			a, code, ok := oneAccount(x, func(ctx context.Context, sid string) (store.Account, error) {
				return x.store.UpdateAccount(ctx, sid, store.AccountUpdate{Status: status})
			})
			if !ok {
				return code
			}
			return x.output(newAccountJSON(a, false), func() int {
				fmt.Fprintf(x.stdout, "sid:    %s\nstatus: %s\n", a.SID, a.Standing())
				return 0
			})
		}
	}}
}

// oneAccount applies change to the one account SID the command was given.
func oneAccount(x *invocation, change func(context.Context, string) (store.Account, error)) (a store.Account, code int, ok bool) {
	if len(x.args) != 1 {
		return a, x.refuse("name exactly one account SID"), false
	}
	a, err := change(x.ctx, x.args[0])
	if err != nil {
		return a, x.fail(err), false
	}
	return a, 0, true
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
