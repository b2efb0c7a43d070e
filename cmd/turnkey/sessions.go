package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

const sessionsUsageText = `usage:
  turnkey sessions list [--account AC..] [--username U] [--credential SK..|TK..] [--json] [config flags]
  turnkey sessions close [config flags] ID
  turnkey sessions close --username U | --account AC.. | --credential SK..|TK.. [config flags]

list prints the live allocations of this node's relay with their traffic;
close ends allocations now (the client's next Refresh gets 437 and its quota
slot is free). Both talk to this node's admin listener (admin.listen, from
the same configuration as serve: -config, TURNKEY_ADMIN_LISTEN or
-admin-listen) and act on this node only. To end a key's or auth token's
allocations on every relay node, delete the key or rotate the token: the
revocation feed closes them everywhere within store.revocation_poll.
`

var sessionsCommand = group{name: "sessions", usage: sessionsUsageText, subs: []subcommand{
	{name: "list", needs: needConfig, json: true, noArgs: true, flags: sessionsList},
	{name: "close", needs: needConfig, flags: sessionsClose},
}}

// sessionFilters are the flags that select allocations.
type sessionFilters struct{ account, username, credential *string }

func addSessionFilters(fs *flag.FlagSet) sessionFilters {
	return sessionFilters{
		account:    fs.String("account", "", "only this account's allocations (AC...)"),
		username:   fs.String("username", "", "only allocations made with this TURN username"),
		credential: fs.String("credential", "", "only allocations made with credentials of this key or auth token (SK... or TK...)"),
	}
}

// check refuses a filter that cannot match anything turnkey issues, so a
// typo is an error rather than an empty list.
func (f sessionFilters) check() error {
	if a := *f.account; a != "" && !credentials.ValidSID(a, "AC") {
		return fmt.Errorf("--account %q is not an account SID (AC followed by 32 hex digits)", a)
	}
	if c := *f.credential; c != "" && !credentials.ValidSID(c, "SK") && !credentials.ValidSID(c, "TK") {
		return fmt.Errorf("--credential %q is not a key SID (SK...) or auth-token ID (TK...)", c)
	}
	return nil
}

// admin checks the filters and finds this node's admin listener.
func (f sessionFilters) admin(x *invocation) (base string, code int, ok bool) {
	if err := f.check(); err != nil {
		return "", x.refuse("%v", err), false
	}
	base, err := adminBase(x.cfg.Admin.Listen)
	if err != nil {
		return "", x.fail(err), false
	}
	return base, 0, true
}

func (f sessionFilters) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"account_sid": *f.account, "username": *f.username, "credential_sid": *f.credential} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func sessionsList(fs *flag.FlagSet) func(x *invocation) int {
	filters := addSessionFilters(fs)
	return func(x *invocation) int {
		admin, code, ok := filters.admin(x)
		if !ok {
			return code
		}
		var all []relay.Allocation
		q := filters.query()
		q.Set("page_size", "1000")
		for pages := 0; ; pages++ {
			var page sessions.Page
			if err := adminCall(http.MethodGet, admin+"/v1/allocations?"+q.Encode(), &page); err != nil {
				return x.fail(err)
			}
			all = append(all, page.Allocations...)
			// A page per 1000 allocations; the bound only stops a listing
			// that would never end.
			if page.Meta.NextPageToken == nil || pages > 1000 {
				break
			}
			q.Set("page_token", *page.Meta.NextPageToken)
		}
		if all == nil {
			all = []relay.Allocation{}
		}
		return x.output(all, func() int {
			now := time.Now()
			code := x.table("ID\tACCOUNT\tIDENTITY\tTRANSPORT\tCLIENT\tRELAY\tAGE\tEXPIRES IN\tBYTES UP\tBYTES DOWN", func(w io.Writer) {
				for _, a := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", a.ID, orDash(a.AccountSID), orDash(a.Identity),
						a.Transport, a.Client, a.Relay, now.Sub(a.CreatedAt).Round(time.Second), a.ExpiresAt.Sub(now).Round(time.Second),
						a.BytesClientToPeer, a.BytesPeerToClient)
				}
			})
			if code == 0 {
				fmt.Fprintf(x.stderr, "%d live allocations\n", len(all))
			}
			return code
		})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sessionsClose(fs *flag.FlagSet) func(x *invocation) int {
	filters := addSessionFilters(fs)
	return func(x *invocation) int {
		if err := filters.check(); err != nil {
			return x.refuse("%v", err)
		}
		q := filters.query()
		switch {
		case len(x.args) > 1:
			return x.unexpected(x.args[1:])
		case len(x.args) == 1 && len(q) > 0:
			return x.refuse("give an allocation ID or --username/--account/--credential, not both")
		case len(x.args) == 0 && len(q) == 0:
			return x.refuse("give an allocation ID (from 'turnkey sessions list') or --username, --account or --credential")
		}
		admin, err := adminBase(x.cfg.Admin.Listen)
		if err != nil {
			return x.fail(err)
		}
		if len(x.args) == 1 {
			id := x.args[0]
			if err := adminCall(http.MethodDelete, admin+"/v1/allocations/"+url.PathEscape(id), nil); err != nil {
				return x.fail(err)
			}
			fmt.Fprintf(x.stdout, "closed %s\n", id)
			return 0
		}
		var closed sessions.Closed
		if err := adminCall(http.MethodDelete, admin+"/v1/allocations?"+q.Encode(), &closed); err != nil {
			return x.fail(err)
		}
		fmt.Fprintf(x.stdout, "closed %d allocations\n", closed.Closed)
		return 0
	}
}

// adminBase is the URL of the admin listener at listen: a wildcard or
// empty host is reached on loopback.
func adminBase(listen string) (string, error) {
	if listen == "" {
		return "", errors.New("admin.listen is empty: this node's admin listener is disabled (set admin.listen, TURNKEY_ADMIN_LISTEN or -admin-listen)")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("admin.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// adminCall makes one request to the admin listener and decodes a JSON
// answer into out (nil: none expected). Errors say what to check.
func adminCall(method, u string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		host := req.URL.Host
		return fmt.Errorf("cannot reach the admin listener at %s: %w\n"+
			"  Is 'turnkey serve' running with this configuration? The address comes from admin.listen "+
			"(-config, TURNKEY_ADMIN_LISTEN or -admin-listen)", host, errors.Unwrap(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the admin listener's answer: %w", err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound && !strings.Contains(string(body), "allocation"):
		return fmt.Errorf("the admin listener at %s has no /v1/allocations: it runs no relay (role api?)", req.URL.Host)
	case res.StatusCode >= 300:
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("admin listener answered %s", res.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the admin listener's answer is not what this version expects: %w", err)
	}
	return nil
}
