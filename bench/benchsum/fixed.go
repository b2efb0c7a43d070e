package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// fixedOpts is what the fixed-load report needs besides the records.
type fixedOpts struct {
	machine    map[string]string // machine.txt: "key: value" lines
	commit     string            // the commit measured
	dirty      bool              // the working tree had other changes (not measured)
	svgRef     string            // how BENCHMARKS.md links the chart
	validation bool              // forced validation label
	command    string            // the command that regenerates the report
}

// The method's standard loads and window: a run with anything else is a
// validation run and the report says so.
var standardLoads = []loadKey{{"udp", 200, 100}, {"udp", 1000, 50}, {"udp", 2000, 25}, {"udp", 2000, 50}, {"tcp", 500, 50}}

const (
	standardWarmup   = 2.0
	standardDuration = 6.0
	loadedLoad1      = 2.5  // load average at the start above this: a loaded box
	loadedOtherCPU   = 30.0 // % of one core used by neither client nor server in a window
)

type loadKey struct {
	transport string
	flows     int
	pps       float64
}

func (k loadKey) String() string {
	return fmt.Sprintf("%d flows × %s pps, %s", k.flows, trimNum(k.pps), strings.ToUpper(k.transport))
}

func (k loadKey) short() string { return fmt.Sprintf("%d×%s", k.flows, trimNum(k.pps)) }

func trimNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// parseMachine reads machine.txt ("key: value" per line; a repeated key
// keeps its last value).
func parseMachine(r io.Reader) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// fixedRecords are the paced relay/baseline runs, grouped by load.
func fixedRecords(all []record) map[loadKey][]record {
	out := map[loadKey][]record{}
	for _, r := range all {
		if m := r.str("mode"); (m != "relay" && m != "baseline") || r.num("target_pps_per_flow") <= 0 {
			continue
		}
		k := loadKey{r.str("transport"), int(r.num("flows")), r.num("target_pps_per_flow")}
		out[k] = append(out[k], r)
	}
	return out
}

// sortedLoads lists UDP loads by flows, then TCP ones.
func sortedLoads(m map[loadKey][]record) []loadKey {
	var ks []loadKey
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].transport != ks[j].transport {
			return ks[i].transport == "udp"
		}
		if ks[i].flows != ks[j].flows {
			return ks[i].flows < ks[j].flows
		}
		return ks[i].pps < ks[j].pps
	})
	return ks
}

// pick is the run of server to quote among rounds: the median by server
// CPU per packet (the only run when there is one).
func pick(rs []record, server string) (record, bool) {
	m := match(rs, []string{"label=" + server})
	if len(m) == 0 {
		return nil, false
	}
	sort.SliceStable(m, func(i, j int) bool { return m[i].num("server_us_per_pkt") < m[j].num("server_us_per_pkt") })
	return m[(len(m)-1)/2], true
}

func fmtRTT(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 10000:
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f ms", us/1000)
}

func fmtLoss(r record) string {
	if r.num("lost") == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f %% (%.0f)", r.num("loss_pct"), r.num("lost"))
}

func fmtCount(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// runState summarises how the machine looked during the fixed-load runs.
type runState struct {
	load1Start         float64
	load1Min, load1Max float64
	idleMin, idleMax   float64
	otherMax           float64
	loaded, validation bool
	reasons            []string
	scale              string // what was run: window, warm-up and loads
}

func assess(all []record, machine map[string]string, forced bool) runState {
	s := runState{load1Start: -1, load1Min: math.Inf(1), load1Max: -1, idleMin: math.Inf(1), idleMax: -1}
	if f := strings.Fields(machine["loadavg at start"]); len(f) > 0 {
		s.load1Start, _ = strconv.ParseFloat(f[0], 64)
	}
	fixed := fixedRecords(all)
	for _, rs := range fixed {
		for _, r := range rs {
			if l := r.num("load1_end"); l > 0 {
				s.load1Min, s.load1Max = math.Min(s.load1Min, l), math.Max(s.load1Max, l)
			}
			if v, ok := r["machine_idle_pct"].(float64); ok && v >= 0 {
				s.idleMin, s.idleMax = math.Min(s.idleMin, v), math.Max(s.idleMax, v)
			}
			s.otherMax = math.Max(s.otherMax, r.num("other_cpu_pct"))
			if r.num("duration_s") < standardDuration || r.num("warmup_s") < standardWarmup || r.num("size") != 160 {
				s.validation = true
			}
		}
	}
	if s.load1Max < 0 {
		s.load1Min = -1
	}
	var loads []string
	var dur, warm float64
	for _, k := range sortedLoads(fixed) {
		loads = append(loads, k.short()+" "+strings.ToUpper(k.transport))
		dur, warm = fixed[k][0].num("duration_s"), fixed[k][0].num("warmup_s")
	}
	s.scale = fmt.Sprintf("%s s windows after %s s warm-up; loads %s", trimNum(dur), trimNum(warm), strings.Join(loads, ", "))
	if s.idleMax < 0 {
		s.idleMin = -1
	}
	for _, k := range standardLoads {
		if len(fixed[k]) == 0 {
			s.validation = true
		}
	}
	if forced {
		s.validation = true
	}
	if s.load1Start > loadedLoad1 {
		s.loaded = true
		s.reasons = append(s.reasons, fmt.Sprintf("load average %.1f at the start on %s cores", s.load1Start, machine["nproc"]))
	}
	if s.otherMax > loadedOtherCPU {
		s.loaded = true
		s.reasons = append(s.reasons, fmt.Sprintf("other processes used up to %.0f %% of a core during a window", s.otherMax))
	}
	return s
}

// target is one of issue 15's or 16's targets and how this run fared.
type target struct {
	what   string
	status string // met, missed, not run
	detail string
}

func evalTargets(all []record) []target {
	fixed := fixedRecords(all)
	var ts []target
	// The loss and delay targets, for the default configuration as it runs
	// as root (the kernel path attached) and for the userspace path alone
	// (what a relay without the privilege for the kernel path runs).
	for _, setup := range []struct{ label, name string }{
		{"turnkey-kernel", "default configuration as root (kernel path attached)"},
		{"turnkey", "userspace path alone (turn.kernel_offload: off)"},
	} {
		for _, k := range []loadKey{{"udp", 1000, 50}, {"udp", 2000, 25}, {"tcp", 500, 50}} {
			t := target{what: "zero loss at " + k.String() + ", " + setup.name}
			if rs := match(fixed[k], []string{"label=" + setup.label}); len(rs) > 0 {
				t = lossTarget(t.what, setup.label, rs)
			} else {
				t.status, t.detail = "not run", "no "+setup.label+" run at this load"
			}
			ts = append(ts, t)
		}
		k := loadKey{"udp", 1000, 50}
		t := target{what: "p99 RTT at " + k.String() + " no worse than coturn's, " + setup.name}
		tk := match(fixed[k], []string{"label=" + setup.label})
		co := match(fixed[k], []string{"label=coturn"})
		if len(tk) > 0 && len(co) > 0 {
			a, b := medianOf(tk, "rtt_p99_us"), medianOf(co, "rtt_p99_us")
			t.status = status(a <= b)
			t.detail = fmt.Sprintf("%s vs %s", fmtRTT(a), fmtRTT(b))
			if len(tk) > 1 || len(co) > 1 {
				t.detail += fmt.Sprintf(" (medians; every round: %s %s, coturn %s)", setup.label, eachRTT(tk), eachRTT(co))
			}
		} else {
			t.status, t.detail = "not run", "needs "+setup.label+" and coturn at this load"
		}
		ts = append(ts, t)
	}
	for _, k := range []loadKey{{"udp", 200, 100}, {"udp", 1000, 50}} {
		ts = append(ts, cpuTargets(fixed[k], k)...)
	}
	{
		t := target{what: "idle memory ≤ 20 KB per allocation"}
		var largest record
		for _, r := range match(all, []string{"mode=hold", "label=turnkey"}) {
			if largest == nil || r.num("held") > largest.num("held") {
				largest = r
			}
		}
		if largest != nil {
			t.status = status(largest.num("bytes_per_alloc") <= 20000)
			t.detail = fmt.Sprintf("%.1f KB at %s allocations", largest.num("bytes_per_alloc")/1000, fmtCount(largest.num("held")))
		} else {
			t.status, t.detail = "not run", "not part of this run: `MEMORY=1 bash bench/report.sh` or `bash bench/memory.sh`"
		}
		ts = append(ts, t)
	}
	return append(ts, kernelTargets(fixed)...)
}

// cpuTargets are issue 15's CPU target at load k, read two ways. The
// default configuration, as root, relays channel traffic in the kernel
// (turnkey-kernel: turn.kernel_offload auto, attached); that relaying is
// charged to the sending process, so whole-machine CPU per packet is the
// comparable figure (the client's own cost, in both, makes the ratio
// conservative). The userspace path alone (turnkey) is compared on server
// process CPU, with the kernel's share of both servers' time: a relay
// that makes a receive and a send syscall per packet cannot go below the
// kernel's part of that cost.
func cpuTargets(rs []record, k loadKey) []target {
	co, okC := pick(rs, "coturn")
	def := target{what: "server CPU per relayed packet ≤ 0.8 × coturn's at " + k.String() + ", default configuration as root (kernel path attached; whole machine)"}
	if kp, ok := pick(rs, "turnkey-kernel"); ok && okC && co.num("machine_us_per_pkt") > 0 {
		x := kp.num("machine_us_per_pkt") / co.num("machine_us_per_pkt")
		def.status = status(x <= 0.8)
		def.detail = fmt.Sprintf("%.2f µs vs %.2f µs = %.2f×", kp.num("machine_us_per_pkt"), co.num("machine_us_per_pkt"), x)
	} else {
		def.status, def.detail = "not run", "needs turnkey-kernel and coturn at this load (KERNEL=1, root)"
	}
	user := target{what: "server CPU per relayed packet ≤ 0.8 × coturn's at " + k.String() + ", userspace path alone (turn.kernel_offload: off; server process)"}
	if tk, ok := pick(rs, "turnkey"); ok && okC && co.num("server_us_per_pkt") > 0 {
		x := tk.num("server_us_per_pkt") / co.num("server_us_per_pkt")
		user.status = status(x <= 0.8)
		user.detail = fmt.Sprintf("%.2f µs vs %.2f µs = %.2f×", tk.num("server_us_per_pkt"), co.num("server_us_per_pkt"), x)
		if tks, cos := tk.num("server_sys_us_per_pkt"), co.num("server_sys_us_per_pkt"); tks > 0 && cos > 0 {
			user.detail += fmt.Sprintf("; in the kernel (syscalls and the loopback delivery they drive): turnkey %.2f µs, coturn %.2f µs = %.2f× coturn's total", tks, cos, cos/co.num("server_us_per_pkt"))
		}
	} else {
		user.status, user.detail = "not run", "needs turnkey and coturn at this load"
	}
	return []target{def, user}
}

// kernelTargets are issue 16's: the kernel fast path at 2000 × 50 pps.
func kernelTargets(fixed map[loadKey][]record) []target {
	k := loadKey{"udp", 2000, 50}
	kp, okK := pick(fixed[k], "turnkey-kernel")
	co, okC := pick(fixed[k], "coturn")
	need := "needs turnkey-kernel and coturn at " + k.String() + " (KERNEL=1, root)"
	loss := target{what: "kernel path: zero loss at " + k.String()}
	if okK {
		loss = lossTarget(loss.what, "turnkey-kernel", match(fixed[k], []string{"label=turnkey-kernel"}))
	} else {
		loss.status, loss.detail = "not run", need
	}
	ts := []target{loss}
	for _, c := range []struct {
		what, field string
		limit       float64
	}{
		{"kernel path: turnkey's process CPU per relayed packet ≤ 0.1 × coturn's at ", "server_us_per_pkt", 0.1},
		{"kernel path: whole-machine CPU per relayed packet ≤ 0.75 × coturn's at ", "machine_us_per_pkt", 0.75},
	} {
		t := target{what: c.what + k.String()}
		if okK && okC && co.num(c.field) > 0 {
			x := kp.num(c.field) / co.num(c.field)
			t.status = status(x <= c.limit)
			t.detail = fmt.Sprintf("%.2f µs vs %.2f µs = %.2f×", kp.num(c.field), co.num(c.field), x)
		} else {
			t.status, t.detail = "not run", need
		}
		ts = append(ts, t)
	}
	return ts
}

// lossTarget is a zero-loss target over every round of server at a load:
// one lossy round misses it.
func lossTarget(what, server string, rs []record) target {
	var lost, sent, rcvbuf float64
	for _, r := range rs {
		lost += r.num("lost")
		sent += r.num("sent")
		rcvbuf += max(0, r.num("rcvbuf_errors"))
	}
	t := target{what: what, status: status(lost == 0)}
	t.detail = fmt.Sprintf("%s lost %s of %s", server, fmtCount(lost), fmtCount(sent))
	if len(rs) > 1 {
		t.detail += fmt.Sprintf(" in %d rounds", len(rs))
	}
	if rcvbuf > 0 {
		t.detail += fmt.Sprintf("; RcvbufErrors +%s during its windows", fmtCount(rcvbuf))
	}
	return t
}

// medianOf is the median of key over rs (the lower middle of an even count).
func medianOf(rs []record, key string) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.num(key)
	}
	sort.Float64s(v)
	return v[(len(v)-1)/2]
}

// eachRTT lists every round's p99, in run order.
func eachRTT(rs []record) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmtRTT(r.num("rtt_p99_us")))
	}
	return strings.Join(parts, " / ")
}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func fixedReport(w io.Writer, all []record, o fixedOpts) {
	st := assess(all, o.machine, o.validation)
	m := o.machine
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Generated by `%s` from commit `%s`", o.command, o.commit)
	if o.dirty {
		fmt.Fprint(w, " (the working tree had uncommitted changes; they were not built or measured)")
	}
	fmt.Fprintf(w, ", %s. Do not edit by hand.\n\n", m["date"])
	switch {
	case st.validation && st.loaded:
		fmt.Fprintf(w, "> **Validation run on a loaded machine — not a measurement.** Run at small scale (%s; the method: 6 s after 2 s, 200×100, 1000×50, 2000×25, 2000×50 UDP, 500×50 TCP) on a busy box: %s. It shows the tooling works; the figures say nothing about the targets.\n\n", st.scale, strings.Join(st.reasons, "; "))
	case st.validation:
		fmt.Fprintf(w, "> **Validation run — not a measurement.** Run at small scale (%s; the method: 6 s after 2 s, 200×100, 1000×50, 2000×25, 2000×50 UDP, 500×50 TCP); the figures say nothing about the targets.\n\n", st.scale)
	case st.loaded:
		fmt.Fprintf(w, "> **Measured on a loaded machine**: %s. Absolute figures are pessimistic; ratios within the run are what to read.\n\n", strings.Join(st.reasons, "; "))
	}

	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	idle := "unknown"
	if st.idleMin >= 0 {
		idle = fmt.Sprintf("%.0f–%.0f %% idle", st.idleMin, st.idleMax)
	}
	fmt.Fprintf(w, "%s cores (%s), kernel %s, %s, coturn %s (Debian), `net.core.rmem_max` %s, uid %s. Load average %s at the start (just after the build) and %s at the end; during the windows %.1f–%.1f (the benchmark's own client and server count for about 2), %s, other processes (neither client nor server) up to %.0f %% of a core.\n\n",
		m["nproc"], m["cpu"], m["kernel"], m["go"], m["coturn"], bytesText(m["net.core.rmem_max"]), m["uid"],
		first(m["loadavg at start"]), first(m["loadavg at end"]), st.load1Min, st.load1Max, idle, st.otherMax)

	if o.svgRef != "" {
		fmt.Fprintf(w, "![server CPU µs per relayed packet and loss against flows](%s)\n\n", o.svgRef)
	}

	fmt.Fprintln(w, "## Against issue 15's and 16's targets")
	fmt.Fprintln(w)
	for _, t := range evalTargets(all) {
		s := t.status
		if s == "missed" {
			s = "**missed**"
		}
		fmt.Fprintf(w, "- %s: %s — %s\n", t.what, s, t.detail)
	}
	if st.validation || st.loaded {
		fmt.Fprintln(w, "- (this run's machine state: see the note at the top)")
	}
	fmt.Fprintln(w)

	fixed := fixedRecords(all)
	fmt.Fprintf(w, "## Fixed load (%s-byte payloads)\n\n", trimNum(firstNum(all, "size")))
	if n := maxRounds(fixed); n > 1 {
		fmt.Fprintf(w, "Each server ran every load %d times (rounds in alternating order). The tables quote each server's median round by server µs/pkt; the zero-loss targets count every round, the p99 target compares medians.\n\n", n)
	}
	fmt.Fprintln(w, "µs/pkt: CPU time over the window ÷ packets relayed (both directions) — the server process's (and of it, the system time: the kernel working for it), and the whole machine's (client, echo peer and anything else included). ×coturn: server µs/pkt ÷ coturn's. RcvbufErrors: the kernel's UDP receive-buffer drops, whole machine, window + drain.")
	fmt.Fprintln(w)
	for _, k := range sortedLoads(fixed) {
		rs := fixed[k]
		section(w, "### "+k.String(), "server", "offered pkt/s", "relayed pkt/s", "loss", "server µs/pkt", "of it in the kernel", "×coturn",
			"machine µs/pkt", "RTT p50 / p99", "RcvbufErrors", "idle")
		co, hasCo := pick(rs, "coturn")
		for _, s := range servers {
			r, ok := pick(rs, s)
			if !ok {
				continue
			}
			x := "–"
			if hasCo && co.num("server_us_per_pkt") > 0 && s != "coturn" {
				x = fmt.Sprintf("%.2f×", r.num("server_us_per_pkt")/co.num("server_us_per_pkt"))
			}
			sys := "–"
			if v := r.num("server_sys_us_per_pkt"); v > 0 {
				sys = fmt.Sprintf("%.2f", v)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %s | %s | %.2f | %s / %s | %s | %.0f %% |\n", s,
				fmtCount(r.num("offered_pps")), fmtCount(r.num("relayed_pps")), fmtLoss(r),
				r.num("server_us_per_pkt"), sys, x, r.num("machine_us_per_pkt"),
				fmtRTT(r.num("rtt_p50_us")), fmtRTT(r.num("rtt_p99_us")), fmtCount(r.num("rcvbuf_errors")), r.num("machine_idle_pct"))
		}
		fmt.Fprintln(w)
	}

	churnReport(w, all)
	maxReport(w, all)

	hold, http := len(match(all, []string{"mode=hold"})) > 0, len(match(all, []string{"mode=http"})) > 0
	if hold {
		holdReport(w, all)
	}
	if http {
		httpReport(w, all)
	}
	switch {
	case !hold && !http:
		fmt.Fprintln(w, "## Memory and token endpoint")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Not part of this run: `MEMORY=1 TOKENS=1 bash bench/report.sh` adds them here; alone, `bash bench/memory.sh` (RSS at 1k/10k/30k idle allocations, turnkey and coturn) and `bash bench/tokens.sh` (wrk against the token endpoints and a bare handler). Their last figures are in the hand-written report this one replaced: `git show 7728098:BENCHMARKS.md`.")
		fmt.Fprintln(w)
	case !http:
		fmt.Fprintln(w, "## Token endpoint")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Not part of this run: `TOKENS=1 bash bench/report.sh` adds it here; alone, `bash bench/tokens.sh` (wrk against the token endpoints and a bare handler).")
		fmt.Fprintln(w)
	case !hold:
		fmt.Fprintln(w, "## Memory")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Not part of this run: `MEMORY=1 bash bench/report.sh` adds it here; alone, `bash bench/memory.sh` (RSS at 1k/10k/30k idle allocations, turnkey and coturn).")
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "## Reproduce")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	fmt.Fprintf(w, "%-40s # this document and %s, from HEAD (~15 min; refuses a dirty tree)\n", "bash bench/report.sh", o.svgRef)
	fmt.Fprintf(w, "%-40s # the method alone; raw JSON lines in bench/results/<stamp>/\n", "bash bench/fixedload.sh")
	fmt.Fprintf(w, "%-40s # also memory per idle allocation and the token endpoint\n", "MEMORY=1 TOKENS=1 bash bench/report.sh")
	fmt.Fprintf(w, "%-40s # full closed-loop maximum, 160 and 1200 B, profiles\n", "bash bench/compare.sh")
	fmt.Fprintf(w, "%-40s # memory per idle allocation alone; bench/tokens.sh: token endpoint\n", "bash bench/memory.sh")
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Method: `cmd/turnkey-bench -mode relay -pps P -allocs F -size 160 -warmup 2s -duration 6s` (coturn and turnkey: TURN REST credentials, one channel per allocation to the tool's built-in UDP echo peer; `bench/udpforward`: the same payloads through a plain UDP forwarder, `-mode baseline`). One client binary for every server; all the servers run throughout on their own ports, and for each load they run one after the other, the order rotated between loads. turnkey runs its default configuration (socket buffers 8 MiB listening / 512 KiB relay), quotas raised only as far as the largest load needs, with the kernel fast path off; turnkey-kernel is the default configuration as it runs as root, `turn.kernel_offload: auto` with the program attached (the script checks `turnkey_kernel_offload_attached`; its relaying runs in softirq context, charged mostly to the sending client, so its machine µs/pkt is the figure to compare); coturn runs Debian's defaults with REST auth. Server CPU is the server process's utime+stime from /proc/PID/stat over the window; RTT is measured on every packet (log-linear histogram, ~1.5 %). Loss counts window packets whose echo did not return within 1 s after the window. Raw outputs (results.jsonl, machine.txt, server logs) stay in the ignored `bench/results/`.")
}

// maxRounds is the most runs any server has at any one load.
func maxRounds(fixed map[loadKey][]record) int {
	most := 0
	for _, rs := range fixed {
		n := map[string]int{}
		for _, r := range rs {
			n[r.str("label")]++
			most = max(most, n[r.str("label")])
		}
	}
	return most
}

func first(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func firstNum(all []record, key string) float64 {
	for _, r := range all {
		if v := r.num(key); v > 0 {
			return v
		}
	}
	return 0
}

func bytesText(s string) string {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	if v >= 1<<20 && v%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", v>>20)
	}
	return fmt.Sprintf("%d B", v)
}

func churnReport(w io.Writer, all []record) {
	rs := match(all, []string{"mode=allocs"})
	if len(rs) == 0 {
		return
	}
	section(w, "## Allocation churn (401 + Allocate + CreatePermission + ChannelBind, then release; same run)",
		"server", "workers", "allocations/s", "ok / failed", "server µs per allocation", "latency p50 / p99")
	rate := map[string]float64{}
	for _, s := range servers {
		b, ok := best(match(rs, []string{"label=" + s}), "allocs_per_s")
		if !ok {
			continue
		}
		rate[s] = b.num("allocs_per_s")
		fmt.Fprintf(w, "| %s | %.0f | %s | %s / %s | %.0f | %.1f / %.1f ms |\n", s, b.num("concurrency"), fmtCount(b.num("allocs_per_s")),
			fmtCount(b.num("ok")), fmtCount(b.num("failed")), b.num("server_us_per_alloc"), b.num("latency_p50_ms"), b.num("latency_p99_ms"))
	}
	fmt.Fprintln(w)
	if rate["turnkey"] > 0 && rate["coturn"] > 0 {
		fmt.Fprintf(w, "turnkey/coturn allocations/s: %s.\n\n", ratio(rate["turnkey"], rate["coturn"]))
	}
}

func maxReport(w io.Writer, all []record) {
	var rs []record
	for _, r := range all {
		if m := r.str("mode"); (m == "relay" || m == "baseline") && r.num("target_pps_per_flow") == 0 {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return
	}
	section(w, "## Closed-loop maximum (not a fixed load: each flow keeps a window of packets in flight)",
		"server", "transport", "flows × window", "echoed pkt/s each way", "server CPU", "server µs/pkt", "loss")
	for _, s := range servers {
		for _, tr := range []string{"udp", "tcp"} {
			b, ok := best(match(rs, []string{"label=" + s, "transport=" + tr}), "pps")
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %.0f × %.0f | %s | %.0f %% | %.2f | %s |\n", s, tr, b.num("flows"), b.num("window"),
				fmtCount(b.num("pps")), b.num("server_cpu_pct"), b.num("server_us_per_pkt"), fmtLoss(b))
		}
	}
	fmt.Fprintln(w)
}
