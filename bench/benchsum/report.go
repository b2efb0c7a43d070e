package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// servers in the order tables list them.
var servers = []string{"turnkey", "turnkey-kernel", "coturn", "baseline"}

// best returns the record with the highest value of key among rs: on a
// machine shared with other work, the best of several rounds is the one
// least disturbed, and every round is listed beside it.
func best(rs []record, key string) (record, bool) {
	var b record
	for _, r := range rs {
		if b == nil || r.num(key) > b.num(key) {
			b = r
		}
	}
	return b, b != nil
}

func rounds(rs []record, key string, format string) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf(format, r.num(key)))
	}
	return strings.Join(parts, ", ")
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// section writes a heading and the head of the table under it.
func section(w io.Writer, heading string, columns ...string) {
	fmt.Fprintln(w, heading)
	fmt.Fprintln(w)
	tableHead(w, columns...)
}

// tableHead writes a markdown table's header row and its rule.
func tableHead(w io.Writer, columns ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(columns, " | "))
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(columns)))
}

func report(w io.Writer, rs []record) {
	relayReport(w, rs)
	allocsReport(w, rs)
	holdReport(w, rs)
	httpReport(w, rs)
}

func sizes(rs []record) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		s := r.str("size")
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return len(out[i]) < len(out[j]) || (len(out[i]) == len(out[j]) && out[i] < out[j])
	})
	return out
}

func relayReport(w io.Writer, all []record) {
	var relay []record
	for _, r := range all {
		if m := r.str("mode"); m == "relay" || m == "baseline" {
			relay = append(relay, r)
		}
	}
	if len(relay) == 0 {
		return
	}
	fmt.Fprintln(w, "### Relayed packets (each way = packets/s echoed back to the clients; the server forwards twice that)")
	fmt.Fprintln(w)
	for _, size := range sizes(relay) {
		fmt.Fprintf(w, "#### %s-byte payload\n\n", size)
		tableHead(w, "server", "transport", "max pps each way (best; all rounds)", "Mbit/s", "loss at max",
			"RTT p50 / p99 at max (µs)", "server CPU", "client CPU", "rest of machine", "80 % run: offered pps", "loss",
			"RTT p50 / p99 (µs)")
		maxOf := map[string]float64{}
		loss80 := map[string]float64{}
		for _, s := range servers {
			for _, tr := range []string{"udp", "tcp"} {
				mx := match(relay, []string{"label=" + s, "size=" + size, "transport=" + tr, "target_pps_per_flow="})
				paced := match(relay, []string{"label=" + s, "size=" + size, "transport=" + tr})
				var p80 []record
				for _, r := range paced {
					if r.num("target_pps_per_flow") > 0 {
						p80 = append(p80, r)
					}
				}
				b, ok := best(mx, "pps")
				if !ok {
					continue
				}
				if tr == "udp" {
					maxOf[s] = b.num("pps")
				}
				row := fmt.Sprintf("| %s | %s | **%.0f** (%s) | %.1f | %.3f %% | %.0f / %.0f | %.0f %% | %.0f %% | %.0f %% |",
					s, tr, b.num("pps"), rounds(mx, "pps", "%.0f"), b.num("mbps"), b.num("loss_pct"),
					b.num("rtt_p50_us"), b.num("rtt_p99_us"), b.num("server_cpu_pct"), b.num("client_cpu_pct"), b.num("other_cpu_pct"))
				if len(p80) > 0 {
					// The 80 % run listed is the last one: it used the best max.
					p := p80[len(p80)-1]
					row += fmt.Sprintf(" %.0f | %.3f %% (%d lost) | %.0f / %.0f |", p.num("offered_pps"), p.num("loss_pct"), int64(p.num("lost")),
						p.num("rtt_p50_us"), p.num("rtt_p99_us"))
					if tr == "udp" {
						loss80[s] = p.num("lost")
					}
				} else {
					row += " – | – | – |"
				}
				fmt.Fprintln(w, row)
			}
		}
		fmt.Fprintln(w)
		tk, co, bl := maxOf["turnkey"], maxOf["coturn"], maxOf["baseline"]
		fmt.Fprintf(w, "- turnkey/coturn (UDP, max pps): %s (target ≥ 1.5×: %s)\n", ratio(tk, co), verdict(co > 0 && tk/co >= 1.5))
		fmt.Fprintf(w, "- turnkey/baseline (UDP, max pps): %s (target ≥ 0.7×: %s)\n", ratio(tk, bl), verdict(bl > 0 && tk/bl >= 0.7))
		if l, ok := loss80["turnkey"]; ok {
			fmt.Fprintf(w, "- turnkey loss at 80 %% of its max: %.0f packets (target 0: %s)\n", l, verdict(l == 0))
		}
		fmt.Fprintln(w)
	}
}

func allocsReport(w io.Writer, all []record) {
	rs := match(all, []string{"mode=allocs"})
	if len(rs) == 0 {
		return
	}
	section(w, "### Allocations per second (401 + Allocate + CreatePermission + ChannelBind, then release)",
		"server", "transport", "workers", "allocs/s (best; all rounds)", "ok / failed", "latency p50 / p99 (ms)",
		"server CPU", "client CPU", "rest of machine", "errors")
	rate := map[string]float64{}
	for _, s := range servers {
		for _, tr := range []string{"udp", "tcp"} {
			m := match(rs, []string{"label=" + s, "transport=" + tr})
			b, ok := best(m, "allocs_per_s")
			if !ok {
				continue
			}
			if tr == "udp" {
				rate[s] = b.num("allocs_per_s")
			}
			errs := ""
			if e, ok := b["errors"].(map[string]any); ok {
				for k, v := range e {
					errs += fmt.Sprintf("%v× %s; ", v, k)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | **%.0f** (%s) | %.0f / %.0f | %.2f / %.2f | %.0f %% | %.0f %% | %.0f %% | %s |\n",
				s, tr, b.num("concurrency"), b.num("allocs_per_s"), rounds(m, "allocs_per_s", "%.0f"), b.num("ok"), b.num("failed"),
				b.num("latency_p50_ms"), b.num("latency_p99_ms"), b.num("server_cpu_pct"), b.num("client_cpu_pct"), b.num("other_cpu_pct"), errs)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- turnkey/coturn allocations/s: %s; turnkey ≥ 5,000/s: %s (%.0f)\n\n", ratio(rate["turnkey"], rate["coturn"]),
		verdict(rate["turnkey"] >= 5000), rate["turnkey"])
}

func holdReport(w io.Writer, all []record) {
	rs := match(all, []string{"mode=hold"})
	if len(rs) == 0 {
		return
	}
	section(w, "### Memory at idle allocations (UDP, one permission each)",
		"server", "allocations", "RSS before", "RSS after", "bytes / allocation", "goroutines", "open time (s)")
	largest := map[string]record{}
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %.0f | %.1f MiB | %.1f MiB | %.0f | %.0f | %.1f |\n", r.str("label"), r.num("held"),
			r.num("rss_before_bytes")/(1<<20), r.num("rss_after_bytes")/(1<<20), r.num("bytes_per_alloc"), r.num("goroutines"), r.num("open_s"))
		if l, ok := largest[r.str("label")]; !ok || r.num("held") > l.num("held") {
			largest[r.str("label")] = r
		}
	}
	fmt.Fprintln(w)
	if r, ok := largest["turnkey"]; ok {
		rss := r.num("rss_after_bytes")
		how := "measured"
		if r.num("held") < 30000 {
			// Linear in the count: idle footprint plus bytes per allocation.
			rss = r.num("rss_before_bytes") + 30000*r.num("bytes_per_alloc")
			how = fmt.Sprintf("extrapolated from %.0f allocations", r.num("held"))
		}
		fmt.Fprintf(w, "- turnkey at 30,000 allocations: %.0f MiB RSS, %s (target < 1024 MiB: %s)\n\n", rss/(1<<20), how, verdict(rss < 1<<30))
	}
}

func httpReport(w io.Writer, all []record) {
	rs := match(all, []string{"mode=http"})
	if len(rs) == 0 {
		return
	}
	section(w, "### Token endpoint (wrk)",
		"target", "requests/s", "p50 (ms)", "p99 (ms)", "requests", "non-2xx", "socket errors", "server CPU")
	rps := map[string]float64{}
	p99 := map[string]float64{}
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f %% |\n", r.str("label"), r.num("rps"), r.num("p50_ms"), r.num("p99_ms"),
			r.num("requests"), r.num("non2xx"), r.num("socket_errors"), r.num("server_cpu_pct"))
		rps[r.str("label")] = r.num("rps")
		p99[r.str("label")] = r.num("p99_ms")
	}
	fmt.Fprintln(w)
	for _, ep := range []string{"tokens-post", "ice-servers-get"} {
		if rps[ep] == 0 {
			continue
		}
		fmt.Fprintf(w, "- %s / bare handler: %s (target ≥ 0.5×: %s); p99 %.2f ms (target < 5 ms: %s)\n", ep,
			ratio(rps[ep], rps["bare"]), verdict(rps["bare"] > 0 && rps[ep]/rps["bare"] >= 0.5), p99[ep], verdict(p99[ep] < 5))
	}
	fmt.Fprintln(w)
}
