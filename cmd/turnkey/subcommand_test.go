package main

import (
	"fmt"
	"testing"
)

// TestSubcommandGroups: each group prints its usage when given no
// subcommand (stderr, exit 2) or asked for help (exit 0), and names an
// unknown subcommand. token has always sent its help to stderr.
func TestSubcommandGroups(t *testing.T) {
	groups := []struct {
		name, usage  string
		helpOnStderr bool
	}{
		{"accounts", accountsUsageText, false},
		{"keys", keysUsageText, false},
		{"sessions", sessionsUsageText, false},
		{"token", tokenUsageText, true},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			if code, out, errOut := runCLI(t, g.name); code != 2 || out != "" || errOut != g.usage {
				t.Errorf("no subcommand: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			for _, h := range []string{"-h", "--help", "-help", "help"} {
				code, out, errOut := runCLI(t, g.name, h)
				if g.helpOnStderr {
					out, errOut = errOut, out
				}
				if code != 0 || out != g.usage || errOut != "" {
					t.Errorf("%s: exit %d, usage stream %q, other %q", h, code, out, errOut)
				}
			}
			want := fmt.Sprintf("turnkey %s: unknown subcommand %q\n\n%s", g.name, "bogus", g.usage)
			if code, out, errOut := runCLI(t, g.name, "bogus"); code != 2 || out != "" || errOut != want {
				t.Errorf("unknown subcommand: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

// TestSubcommandRefusals: usage problems name the command and exit 2, on
// the checks the subcommand mechanism makes and those the commands make.
func TestSubcommandRefusals(t *testing.T) {
	d := t.TempDir()
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"accounts", "list", "-data-dir", d, "x", "-json"}, "turnkey accounts list: unexpected argument \"x\" (flags must come before other arguments)\n"},
		{[]string{"accounts", "suspend", "-data-dir", d}, "turnkey accounts suspend: name exactly one account SID\n"},
		{[]string{"keys", "list", "-data-dir", d}, "turnkey keys list: --account is required\n"},
		{[]string{"keys", "delete", "-data-dir", d, "-account", "XX"}, "turnkey keys delete: --account \"XX\" is not an account SID (AC...)\n"},
		{[]string{"sessions", "close", "-data-dir", d, "a", "b"}, "turnkey sessions close: unexpected argument \"b\"\n"},
		{[]string{"credentials", "-data-dir", d}, "turnkey credentials: -user is required\n"},
		{[]string{"token", "access", "x"}, "turnkey token access: unexpected argument \"x\"\n"},
		{[]string{"check", "-data-dir", d}, "turnkey check: name at least one URL (or use -api); -h for help\n"},
	}
	for _, tt := range tests {
		if code, out, errOut := runCLI(t, tt.args...); code != 2 || out != "" || errOut != tt.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, stderr %q", tt.args, code, out, errOut, tt.stderr)
		}
	}
}
