package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/turnkey-dev/turnkey/config"
)

// runCredentials prints a TURN REST username/password pair signed with the
// configured (or generated) primary secret, like `eturnalctl credentials`.
func runCredentials(args []string, stdout, stderr io.Writer) int {
	return subcommand{name: "credentials", needs: needConfig, json: true, flags: credentialsFlags}.run("turnkey", args, stdout, stderr)
}

func credentialsFlags(fs *flag.FlagSet) func(x *invocation) int {
	user := fs.String("user", "", "user name carried in the username (required)")
	ttl := config.Duration(24 * time.Hour)
	fs.Var(&ttl, "ttl", "lifetime of the credentials (e.g. 1h, 30m; at most turn.max_ttl)")
	return func(x *invocation) int {
		if *user == "" {
			return x.refuse("-user is required")
		}
		if ttl.D() <= 0 || ttl.D() > x.cfg.TURN.MaxTTL.D() {
			return x.refuse("-ttl %s is outside (0, %s] (turn.max_ttl)", ttl, x.cfg.TURN.MaxTTL)
		}
		ring, err := turnKeyring(&x.cfg.Config, slog.New(slog.NewTextHandler(x.stderr, nil)))
		if err != nil {
			return x.fail(err)
		}
		expiry := time.Now().Add(ttl.D())
		username, password := ring.Primary().Mint(expiry, *user)
		return x.output(map[string]any{
			"username": username, "password": password, "ttl": int64(ttl.D().Seconds()),
			"expires": expiry.UTC().Format(time.RFC3339), "realm": x.cfg.TURN.Realm,
		}, func() int {
			fmt.Fprintf(x.stdout, "username: %s\npassword: %s\nexpires:  %s\nrealm:    %s\n",
				username, password, expiry.UTC().Format(time.RFC3339), x.cfg.TURN.Realm)
			return 0
		})
	}
}

// runConfig validates (check) or shows (print) the effective configuration.
func runConfig(args []string, stdout, stderr io.Writer) int {
	verbs := map[string]func(x *invocation) int{"check": configCheck, "print": configPrint}
	if len(args) == 0 || verbs[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: turnkey config check|print [flags]")
		return 2
	}
	action := verbs[args[0]]
	return subcommand{name: args[0], needs: needConfig, flags: func(*flag.FlagSet) func(x *invocation) int { return action }}.
		run("turnkey config", args[1:], stdout, stderr)
}

func configCheck(x *invocation) int {
	src := "defaults and environment"
	if x.cfg.File != "" {
		src = x.cfg.File
	}
	fmt.Fprintf(x.stdout, "configuration OK (%s)\n", src)
	return 0
}

func configPrint(x *invocation) int {
	out, err := x.cfg.Redacted()
	if err != nil {
		return x.fail(err)
	}
	_, _ = x.stdout.Write(out)
	return 0
}
