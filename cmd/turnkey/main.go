// Command turnkey is a self-hosted Network Traversal Service: a STUN/TURN
// relay and the HTTP API that issues short-lived credentials for it.
//
// main only wires flags to packages: config loads the configuration, relay
// runs TURN, credentials/tokenapi serves the HTTP API, admin serves metrics
// and health.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the relay and the API", runServe},
		{"credentials", "print a TURN REST username/password offline", runCredentials},
		{"config", "check or print the effective configuration", runConfig},
		{"accounts", "create or list accounts in the store", accountsCommand.run},
		{"keys", "create, list or delete API keys", keysCommand.run},
		{"token", "mint or decode Access and Capability Tokens", runToken},
		{"check", "test STUN/TURN URLs from the client's side", runCheck},
		{"sessions", "list or close this node's live allocations", sessionsCommand.run},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "turnkey: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: turnkey <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'turnkey <command> -h' for a command's flags. Every flag also reads TURNKEY_<NAME> and the -config file.")
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "turnkey", version)
	return 0
}
