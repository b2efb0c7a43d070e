package main

import (
	"math"
	"strings"
	"testing"
)

func rec(kv ...any) record {
	r := record{}
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		r[kv[i].(string)] = v
	}
	return r
}

func fixedRun(label, tr string, flows, pps int, us, lost, p99 float64) record {
	mode := "relay"
	if label == "baseline" {
		mode = "baseline"
	}
	return rec("label", label, "mode", mode, "transport", tr, "flows", flows, "target_pps_per_flow", pps, "size", 160,
		"warmup_s", 2.0, "duration_s", 6.0, "server_us_per_pkt", us, "lost", lost, "sent", 1000.0, "rtt_p99_us", p99,
		"machine_idle_pct", 40.0, "other_cpu_pct", 5.0, "load1_end", 1.2)
}

// withCPU adds whole-machine and kernel (system) CPU per packet to r.
func withCPU(r record, machineUS, sysUS float64) record {
	r["machine_us_per_pkt"] = machineUS
	r["server_sys_us_per_pkt"] = sysUS
	return r
}

// kernelRun is a 2000 × 50 UDP run with server and whole-machine CPU.
func kernelRun(label string, us, machineUS float64) record {
	r := fixedRun(label, "udp", 2000, 50, us, 0, 900)
	r["machine_us_per_pkt"] = machineUS
	return r
}

func TestParseMachine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		key  string
		want string
	}{
		{"nproc: 2\ncpu: AMD EPYC\n", "cpu", "AMD EPYC"},
		{"loadavg at start: 1.0 2.0 3.0\n", "loadavg at start", "1.0 2.0 3.0"},
		{"go: go1.26 linux/amd64\nno colon here\n", "go", "go1.26 linux/amd64"},
		{"a: 1\na: 2\n", "a", "2"},
	} {
		if got := parseMachine(strings.NewReader(tc.in))[tc.key]; got != tc.want {
			t.Errorf("parseMachine(%q)[%q] = %q, want %q", tc.in, tc.key, got, tc.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtRTT(0), "–"},
		{fmtRTT(850), "850 µs"},
		{fmtRTT(2500), "2.5 ms"},
		{fmtRTT(123456), "123 ms"},
		{fmtCount(0), "0"},
		{fmtCount(999), "999"},
		{fmtCount(1234567), "1,234,567"},
		{fmtCount(-1), "-1"},
		{fmtLoss(rec("lost", 0)), "0"},
		{fmtLoss(rec("lost", 5, "loss_pct", 0.5)), "0.50 % (5)"},
		{bytesText("4194304"), "4 MiB"},
		{bytesText("1000"), "1000 B"},
		{loadKey{"udp", 1000, 50}.String(), "1000 flows × 50 pps, UDP"},
		{loadKey{"tcp", 500, 12.5}.short(), "500×12.5"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestNiceMax(t *testing.T) {
	for _, tc := range []struct{ v, floor, want float64 }{
		{0, 1, 1}, {3.2, 1, 5}, {6, 1, 10}, {13, 1, 20}, {0.3, 0.1, 0.5}, {100, 1, 100},
	} {
		if got := niceMax(tc.v, tc.floor); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("niceMax(%v, %v) = %v, want %v", tc.v, tc.floor, got, tc.want)
		}
	}
}

func TestSortedLoadsAndPick(t *testing.T) {
	// Only the load and the CPU per packet matter here.
	tk := func(tr string, flows, pps int, us float64) record {
		return fixedRun("turnkey", tr, flows, pps, us, 0, 1)
	}
	rs := []record{
		tk("tcp", 500, 50, 4), tk("udp", 2000, 25, 4), tk("udp", 200, 100, 4),
		tk("udp", 1000, 50, 9), tk("udp", 1000, 50, 3), tk("udp", 1000, 50, 5),
		rec("label", "turnkey", "mode", "relay", "transport", "udp", "flows", 16), // closed loop: not a fixed load
		rec("label", "turnkey", "mode", "allocs"),
	}
	m := fixedRecords(rs)
	var got []string
	for _, k := range sortedLoads(m) {
		got = append(got, k.short()+"/"+k.transport)
	}
	if want := "200×100/udp 1000×50/udp 2000×25/udp 500×50/tcp"; strings.Join(got, " ") != want {
		t.Fatalf("loads %v, want %s", got, want)
	}
	for _, tc := range []struct {
		load   loadKey
		server string
		want   float64
		ok     bool
	}{
		{loadKey{"udp", 1000, 50}, "turnkey", 5, true}, // median of 3, 5, 9
		{loadKey{"udp", 200, 100}, "turnkey", 4, true},
		{loadKey{"udp", 200, 100}, "coturn", 0, false},
	} {
		r, ok := pick(m[tc.load], tc.server)
		if ok != tc.ok || (ok && r.num("server_us_per_pkt") != tc.want) {
			t.Errorf("pick(%v, %s) = %v %v, want %v %v", tc.load, tc.server, r.num("server_us_per_pkt"), ok, tc.want, tc.ok)
		}
	}
}

func TestEvalTargets(t *testing.T) {
	full := []record{
		fixedRun("turnkey", "udp", 200, 100, 2.0, 0, 500),
		withCPU(fixedRun("coturn", "udp", 200, 100, 3.0, 0, 500), 10, 2.7),
		withCPU(fixedRun("turnkey-kernel", "udp", 200, 100, 0.01, 0, 500), 7, 0.01),
		withCPU(fixedRun("turnkey", "udp", 1000, 50, 3.5, 0, 900), 11, 3.0),
		withCPU(fixedRun("coturn", "udp", 1000, 50, 4.0, 0, 800), 10, 3.6),
		withCPU(fixedRun("turnkey-kernel", "udp", 1000, 50, 0.01, 0, 500), 9, 0.01),
		fixedRun("turnkey", "udp", 2000, 25, 3.0, 7, 900),
		fixedRun("turnkey", "tcp", 500, 50, 5.0, 0, 900),
		rec("label", "turnkey", "mode", "hold", "held", 1000, "bytes_per_alloc", 22000.0),
		rec("label", "turnkey", "mode", "hold", "held", 10000, "bytes_per_alloc", 19000.0),
		kernelRun("turnkey-kernel", 0.02, 7.0),
		kernelRun("coturn", 4.0, 10.0),
	}
	for _, tc := range []struct {
		name string
		rs   []record
		want []string
	}{
		// For the default configuration (turnkey-kernel), then the userspace
		// path (turnkey): loss ×3, p99; per CPU load the default
		// configuration, then the userspace path; memory; the kernel path's
		// three.
		{"full", full, []string{"met", "not run", "not run", "met", "met", "missed", "met", "missed",
			"met", "met", "missed", "missed", "met", "met", "met", "met"}},
		{"empty", nil, []string{"not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run"}},
		{"coturn missing", full[:1], []string{"not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run", "not run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := evalTargets(tc.rs)
			if len(ts) != len(tc.want) {
				t.Fatalf("%d targets, want %d", len(ts), len(tc.want))
			}
			for i, tg := range ts {
				if tg.status != tc.want[i] {
					t.Errorf("%s: %s (%s), want %s", tg.what, tg.status, tg.detail, tc.want[i])
				}
			}
		})
	}
	// The userspace line names both servers' kernel time, when measured.
	ts := evalTargets(full)
	if d := ts[11].detail; !strings.Contains(d, "turnkey 3.00 µs, coturn 3.60 µs = 0.90× coturn's total") {
		t.Errorf("userspace detail at 1000×50: %q", d)
	}
	if d := ts[9].detail; strings.Contains(d, "in the kernel") {
		t.Errorf("userspace detail at 200×100 without turnkey's kernel time: %q", d)
	}
}

func TestAssess(t *testing.T) {
	std := []record{
		fixedRun("turnkey", "udp", 200, 100, 2, 0, 1), fixedRun("turnkey", "udp", 1000, 50, 2, 0, 1),
		fixedRun("turnkey", "udp", 2000, 25, 2, 0, 1), fixedRun("turnkey", "udp", 2000, 50, 2, 0, 1),
		fixedRun("turnkey", "tcp", 500, 50, 2, 0, 1),
	}
	short := fixedRun("turnkey", "udp", 200, 100, 2, 0, 1)
	short["duration_s"] = 2.0
	busy := fixedRun("turnkey", "udp", 200, 100, 2, 0, 1)
	busy["other_cpu_pct"] = 80.0
	for _, tc := range []struct {
		name               string
		rs                 []record
		load               string
		forced             bool
		validation, loaded bool
	}{
		{"standard, quiet", std, "0.5 0.4 0.3", false, false, false},
		{"standard, forced", std, "0.5 0.4 0.3", true, true, false},
		{"standard, high load", std, "4.0 3 2", false, false, true},
		{"short window", append(append([]record{}, std[1:]...), short), "0.5", false, true, false},
		{"missing load", std[:4], "0.5", false, true, false},
		{"busy window", append(append([]record{}, std[1:]...), busy), "0.5", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := assess(tc.rs, map[string]string{"loadavg at start": tc.load, "nproc": "2"}, tc.forced)
			if s.validation != tc.validation || s.loaded != tc.loaded {
				t.Fatalf("validation %v loaded %v (%v), want %v %v", s.validation, s.loaded, s.reasons, tc.validation, tc.loaded)
			}
		})
	}
}

func TestChartSVG(t *testing.T) {
	rs := []record{
		fixedRun("turnkey", "udp", 200, 100, 2, 0, 1), fixedRun("coturn", "udp", 200, 100, 3, 0, 1),
		fixedRun("turnkey", "udp", 1000, 50, 2.5, 10, 1), fixedRun("coturn", "udp", 1000, 50, 3.5, 0, 1),
		fixedRun("baseline", "udp", 1000, 50, 1, 0, 1),
		fixedRun("turnkey", "tcp", 500, 50, 2, 0, 1), // TCP is in the tables, not the chart
	}
	svg := chartSVG(rs, "a <title> & more")
	for _, want := range []string{"<svg ", "</svg>", "a &lt;title&gt; &amp; more", "200×100", "1000×50", "#1f77b4", "#d62728", "stroke-dasharray"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "500×50") {
		t.Error("chart shows the TCP load")
	}
	// Two panels × three servers.
	if n := strings.Count(svg, "<polyline"); n != 6 {
		t.Errorf("%d polylines, want 6", n)
	}
}

// TestMissingParts names only the part a run left out.
func TestMissingParts(t *testing.T) {
	hold := rec("label", "turnkey", "mode", "hold", "held", 1000, "bytes_per_alloc", 19000.0)
	http := rec("label", "tokens-post", "mode", "http")
	for _, tc := range []struct {
		name string
		rs   []record
		want string // "" : no such section
	}{
		{"both", nil, "## Memory and token endpoint"},
		{"tokens missing", []record{hold}, "## Token endpoint\n\nNot part of this run"},
		{"memory missing", []record{http}, "## Memory\n\nNot part of this run"},
		{"neither missing", []record{hold, http}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			fixedReport(&b, tc.rs, fixedOpts{machine: map[string]string{}})
			got := b.String()
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("report lacks %q", tc.want)
			}
			if n := strings.Count(got, "Not part of this run"); (tc.want == "") != (n == 0) || n > 1 {
				t.Errorf("%d \"not part of this run\" paragraphs", n)
			}
		})
	}
}
