package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// output is every subcommand's printer, so -json output looks alike across
// commands: v as indented JSON with -json, otherwise what text prints. It
// returns the exit status.
func (x *invocation) output(v any, text func() int) int {
	if x.asJSON {
		return x.writeJSON(v)
	}
	return text()
}

// writeJSON prints v indented, as every --json output is.
func (x *invocation) writeJSON(v any) int {
	enc := json.NewEncoder(x.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(x.stderr, "%s: write output: %v\n", x.cmd, err)
		return 1
	}
	return 0
}

// table prints header and the tab-separated lines rows writes, aligned.
func (x *invocation) table(header string, rows func(w io.Writer)) int {
	tw := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	if err := tw.Flush(); err != nil {
		return x.fail(err)
	}
	return 0
}
