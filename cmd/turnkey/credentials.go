package main

import (
	"encoding/json"
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
	fs := flag.NewFlagSet("turnkey credentials", flag.ContinueOnError)
	user := fs.String("user", "", "user name carried in the username (required)")
	var ttl config.Duration = config.Duration(24 * time.Hour)
	fs.Var(&ttl, "ttl", "lifetime of the credentials (e.g. 1h, 30m; at most turn.max_ttl)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	cfg, code, ok := loadConfig(fs, args, stderr)
	if !ok {
		return code
	}
	if *user == "" {
		fmt.Fprintln(stderr, "turnkey credentials: -user is required")
		return 2
	}
	if ttl.D() <= 0 || ttl.D() > cfg.TURN.MaxTTL.D() {
		fmt.Fprintf(stderr, "turnkey credentials: -ttl %s is outside (0, %s] (turn.max_ttl)\n", ttl, cfg.TURN.MaxTTL)
		return 2
	}
	ring, err := turnKeyring(&cfg.Config, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintln(stderr, "turnkey credentials:", err)
		return 1
	}
	expiry := time.Now().Add(ttl.D())
	username, password := ring.Primary().Mint(expiry, *user)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{
			"username": username, "password": password, "ttl": int64(ttl.D().Seconds()),
			"expires": expiry.UTC().Format(time.RFC3339), "realm": cfg.TURN.Realm,
		})
		return 0
	}
	fmt.Fprintf(stdout, "username: %s\npassword: %s\nexpires:  %s\nrealm:    %s\n",
		username, password, expiry.UTC().Format(time.RFC3339), cfg.TURN.Realm)
	return 0
}

// runConfig validates (check) or shows (print) the effective configuration.
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "print") {
		fmt.Fprintln(stderr, "usage: turnkey config check|print [flags]")
		return 2
	}
	fs := flag.NewFlagSet("turnkey config "+args[0], flag.ContinueOnError)
	cfg, code, ok := loadConfig(fs, args[1:], stderr)
	if !ok {
		return code
	}
	if args[0] == "check" {
		src := "defaults and environment"
		if cfg.File != "" {
			src = cfg.File
		}
		fmt.Fprintf(stdout, "configuration OK (%s)\n", src)
		return 0
	}
	out, err := cfg.Redacted()
	if err != nil {
		fmt.Fprintln(stderr, "turnkey config print:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}
