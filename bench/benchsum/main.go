// Command benchsum turns the JSON lines written by turnkey-bench (and the
// HTTP and memory scripts) into the tables and ratios of BENCHMARKS.md, so
// the shell scripts need neither jq nor python.
//
//	benchsum field FILE KEY [label=L size=N mode=M ...]  best value of KEY among matching records
//	benchsum report FILE                                   markdown tables and target ratios
//	benchsum fixed FILE [-machine F -svg OUT -svg-ref REF -commit C -dirty -validation -command CMD]
//	                                                       BENCHMARKS.md of the fixed-load method (bench/report.sh)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

type record map[string]any

func (r record) str(k string) string {
	v, ok := r[k]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
	}
	return fmt.Sprint(v)
}

func (r record) num(k string) float64 {
	if v, ok := r[k].(float64); ok {
		return v
	}
	return 0
}

func load(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open results: %w", err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("results line %q: %w", line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// match keeps records whose fields equal every key=value filter.
func match(rs []record, filters []string) []record {
	var out []record
next:
	for _, r := range rs {
		for _, f := range filters {
			k, v, _ := strings.Cut(f, "=")
			if r.str(k) != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchsum field FILE KEY [k=v ...] | benchsum report FILE")
		os.Exit(2)
	}
	rs, err := load(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchsum: %v\n", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "field":
		if len(os.Args) < 4 {
			fmt.Fprintln(os.Stderr, "benchsum field FILE KEY [k=v ...]")
			os.Exit(2)
		}
		key := os.Args[3]
		best := 0.0
		found := false
		for _, r := range match(rs, os.Args[4:]) {
			if v := r.num(key); !found || v > best {
				best, found = v, true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "benchsum: no record matches %v\n", os.Args[4:])
			os.Exit(1)
		}
		fmt.Printf("%.0f\n", best)
	case "report":
		report(os.Stdout, rs)
	case "fixed":
		if err := fixedMain(rs, os.Args[3:]); err != nil {
			fmt.Fprintf(os.Stderr, "benchsum: %v\n", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "benchsum: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// fixedMain writes the fixed-load report to stdout and the chart to -svg.
func fixedMain(rs []record, args []string) error {
	fs := flag.NewFlagSet("fixed", flag.ContinueOnError)
	machine := fs.String("machine", "", "machine.txt written by the bench scripts")
	svg := fs.String("svg", "", "write the chart here")
	var o fixedOpts
	fs.StringVar(&o.svgRef, "svg-ref", "", "the chart's path as the markdown links it (default: -svg)")
	fs.StringVar(&o.commit, "commit", "unknown", "commit measured")
	fs.BoolVar(&o.dirty, "dirty", false, "the working tree had uncommitted changes")
	fs.BoolVar(&o.validation, "validation", false, "label the report a validation run")
	fs.StringVar(&o.command, "command", "bash bench/report.sh", "command that regenerates the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.machine = map[string]string{}
	if *machine != "" {
		f, err := os.Open(*machine)
		if err != nil {
			return fmt.Errorf("machine info: %w", err)
		}
		o.machine = parseMachine(f)
		_ = f.Close()
	}
	if *svg != "" {
		if o.svgRef == "" {
			o.svgRef = *svg
		}
		st := assess(rs, o.machine, o.validation)
		title := "turnkey " + o.commit + " vs coturn vs plain UDP forwarder, fixed load"
		if st.validation {
			title += " — VALIDATION RUN, not a measurement"
		} else if st.loaded {
			title += " (loaded machine)"
		}
		if err := os.WriteFile(*svg, []byte(chartSVG(rs, title)), 0o644); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	fixedReport(os.Stdout, rs, o)
	return nil
}
