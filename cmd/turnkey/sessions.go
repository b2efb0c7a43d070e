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
	"text/tabwriter"
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

func runSessions(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, sessionsUsageText)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, sessionsUsageText)
		return 0
	case "list":
		return runSessionsList(args[1:], stdout, stderr)
	case "close":
		return runSessionsClose(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "turnkey sessions: unknown subcommand %q\n\n%s", args[0], sessionsUsageText)
		return 2
	}
}

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

func (f sessionFilters) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"account_sid": *f.account, "username": *f.username, "credential_sid": *f.credential} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func runSessionsList(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey sessions list"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	filters := addSessionFilters(fs)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	cfg, code, ok := loadConfig(fs, args, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		return unexpectedArgs(cmd, fs.Args(), stderr)
	}
	if err := filters.check(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 2
	}
	admin, err := adminBase(cfg.Admin.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	var all []relay.Allocation
	q := filters.query()
	q.Set("page_size", "1000")
	for pages := 0; ; pages++ {
		var page sessions.Page
		if err := adminCall(http.MethodGet, admin+"/v1/allocations?"+q.Encode(), &page); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		all = append(all, page.Allocations...)
		// A page per 1000 allocations; the bound only stops a listing
		// that would never end.
		if page.Meta.NextPageToken == nil || pages > 1000 {
			break
		}
		q.Set("page_token", *page.Meta.NextPageToken)
	}
	if *asJSON {
		if all == nil {
			all = []relay.Allocation{}
		}
		return writeJSON(cmd, stdout, stderr, all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tIDENTITY\tTRANSPORT\tCLIENT\tRELAY\tAGE\tEXPIRES IN\tBYTES UP\tBYTES DOWN")
	now := time.Now()
	for _, a := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", a.ID, orDash(a.AccountSID), orDash(a.Identity),
			a.Transport, a.Client, a.Relay, now.Sub(a.CreatedAt).Round(time.Second), a.ExpiresAt.Sub(now).Round(time.Second),
			a.BytesClientToPeer, a.BytesPeerToClient)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(stderr, "%d live allocations\n", len(all))
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runSessionsClose(args []string, stdout, stderr io.Writer) int {
	const cmd = "turnkey sessions close"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	filters := addSessionFilters(fs)
	cfg, code, ok := loadConfig(fs, args, stderr)
	if !ok {
		return code
	}
	if err := filters.check(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 2
	}
	q := filters.query()
	switch {
	case fs.NArg() > 1:
		return unexpectedArgs(cmd, fs.Args()[1:], stderr)
	case fs.NArg() == 1 && len(q) > 0:
		fmt.Fprintf(stderr, "%s: give an allocation ID or --username/--account/--credential, not both\n", cmd)
		return 2
	case fs.NArg() == 0 && len(q) == 0:
		fmt.Fprintf(stderr, "%s: give an allocation ID (from 'turnkey sessions list') or --username, --account or --credential\n", cmd)
		return 2
	}
	admin, err := adminBase(cfg.Admin.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	if fs.NArg() == 1 {
		id := fs.Arg(0)
		if err := adminCall(http.MethodDelete, admin+"/v1/allocations/"+url.PathEscape(id), nil); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return 1
		}
		fmt.Fprintf(stdout, "closed %s\n", id)
		return 0
	}
	var closed sessions.Closed
	if err := adminCall(http.MethodDelete, admin+"/v1/allocations?"+q.Encode(), &closed); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(stdout, "closed %d allocations\n", closed.Closed)
	return 0
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
