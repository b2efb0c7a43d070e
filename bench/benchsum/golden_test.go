package main

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from this rendering")

// TestGolden renders both reports from a saved results file and compares
// them byte for byte with what they rendered when the fixture was made, so
// a refactor of the report code cannot change BENCHMARKS.md unnoticed.
func TestGolden(t *testing.T) {
	rs, err := load("testdata/results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/machine.txt")
	if err != nil {
		t.Fatal(err)
	}
	machine := parseMachine(f)
	_ = f.Close()
	for _, tc := range []struct {
		golden string
		render func(*bytes.Buffer)
	}{
		{"testdata/report.golden.md", func(b *bytes.Buffer) { report(b, rs) }},
		{"testdata/fixed.golden.md", func(b *bytes.Buffer) {
			fixedReport(b, rs, fixedOpts{machine: machine, commit: "abc1234", svgRef: "BENCHMARKS.svg", command: "bash bench/report.sh"})
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			tc.render(&got)
			if *update {
				if err := os.WriteFile(tc.golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("rendering differs from %s; got:\n%s", tc.golden, got.String())
			}
		})
	}
}
