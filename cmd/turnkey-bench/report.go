package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// result is one run's figures; -json prints it as one JSON object per line
// so scripts can collect several runs.
type result struct {
	Label     string `json:"label,omitempty"`
	Mode      string `json:"mode"`
	Server    string `json:"server"`
	Transport string `json:"transport"`

	// relay and baseline
	Flows      int     `json:"flows,omitempty"`
	Size       int     `json:"size,omitempty"`
	TargetPPS  float64 `json:"target_pps_per_flow,omitempty"` // 0: flat out
	Window     int     `json:"window,omitempty"`
	WarmupS    float64 `json:"warmup_s,omitempty"`
	DurationS  float64 `json:"duration_s"`
	OfferedPPS float64 `json:"offered_pps,omitempty"` // sent by the clients, all flows
	PPS        float64 `json:"pps,omitempty"`         // echoed back, all flows (= packets/s each way)
	RelayedPPS float64 `json:"relayed_pps,omitempty"` // packets the server forwarded: both ways
	Mbps       float64 `json:"mbps,omitempty"`        // payload Mbit/s each way
	Sent       int64   `json:"sent,omitempty"`
	Received   int64   `json:"received,omitempty"`
	Lost       int64   `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	RTTP50us   float64 `json:"rtt_p50_us,omitempty"`
	RTTP90us   float64 `json:"rtt_p90_us,omitempty"`
	RTTP99us   float64 `json:"rtt_p99_us,omitempty"`
	RTTMaxus   float64 `json:"rtt_max_us,omitempty"`
	SendErrors int64   `json:"send_errors,omitempty"`

	// allocs
	Concurrency int            `json:"concurrency,omitempty"`
	OK          int64          `json:"ok,omitempty"`
	Failed      int64          `json:"failed,omitempty"`
	Rate        float64        `json:"allocs_per_s,omitempty"`
	LatP50ms    float64        `json:"latency_p50_ms,omitempty"`
	LatP99ms    float64        `json:"latency_p99_ms,omitempty"`
	Errors      map[string]int `json:"errors,omitempty"`
	Retransmits int64          `json:"retransmits,omitempty"`

	// hold
	Held          int     `json:"held,omitempty"`
	RSSBefore     int64   `json:"rss_before_bytes,omitempty"`
	RSSAfter      int64   `json:"rss_after_bytes,omitempty"`
	BytesPerAlloc float64 `json:"bytes_per_alloc,omitempty"`
	Goroutines    int64   `json:"goroutines,omitempty"`
	OpenSeconds   float64 `json:"open_s,omitempty"`

	// who used the cores during the window, in % of one core (-1: unknown)
	ClientCPU float64 `json:"client_cpu_pct"`
	ServerCPU float64 `json:"server_cpu_pct"`
	// ServerSysCPU is the system (kernel) part of ServerCPU.
	ServerSysCPU float64 `json:"server_sys_cpu_pct"`
	ServerPID    int     `json:"server_pid,omitempty"`
	// OtherCPU is everything else on the machine in the window.
	OtherCPU float64 `json:"other_cpu_pct"`

	// The whole machine over the window: busy CPU of all processes (% of
	// one core), the idle share of all cores (%), cores, and the 1-minute
	// load average at the window's edges, so a loaded box shows.
	MachineCPU float64 `json:"machine_cpu_pct"`
	IdlePct    float64 `json:"machine_idle_pct"`
	NCPU       int     `json:"ncpu"`
	Load1Start float64 `json:"load1_start"`
	Load1End   float64 `json:"load1_end"`
	// UDP datagrams the kernel dropped on a full receive buffer (any socket
	// on the machine), from the window's start to the end of the drain
	// (/proc/net/snmp Udp RcvbufErrors and InErrors deltas; -1: unknown).
	RcvbufErrors int64 `json:"rcvbuf_errors"`
	UDPInErrors  int64 `json:"udp_in_errors"`
	// CPU time per relayed packet (relay, baseline) or per allocation
	// (allocs), in µs: the server process's, and the whole machine's.
	ServerUsPerPkt    float64 `json:"server_us_per_pkt,omitempty"`
	ServerSysUsPerPkt float64 `json:"server_sys_us_per_pkt,omitempty"`
	MachineUsPerPkt   float64 `json:"machine_us_per_pkt,omitempty"`
	ServerUsPerAlloc  float64 `json:"server_us_per_alloc,omitempty"`
	MachineUsPerAlloc float64 `json:"machine_us_per_alloc,omitempty"`
}

// setMachine fills the machine figures from samples at the window's start
// (a), its end (b) and after the drain (c, for the drop counters).
func (r *result) setMachine(a, b, c machineSample, ncpu int) {
	r.NCPU = ncpu
	r.MachineCPU, r.IdlePct = -1, -1
	r.Load1Start, r.Load1End = a.load1, b.load1
	if a.ok && b.ok && b.total > a.total && b.at.After(a.at) {
		r.MachineCPU = float64(b.busy-a.busy) / clockTicks / b.at.Sub(a.at).Seconds() * 100
		r.IdlePct = 100 - float64(b.busy-a.busy)/float64(b.total-a.total)*100
	}
	r.RcvbufErrors, r.UDPInErrors = -1, -1
	if a.snmpOK && c.snmpOK {
		r.RcvbufErrors, r.UDPInErrors = c.rcvbufErrors-a.rcvbufErrors, c.inErrors-a.inErrors
	}
}

// perUnit is CPU µs per unit: cpuPct (% of one core) over a rate (units/s).
func perUnit(cpuPct, rate float64) float64 {
	if cpuPct < 0 || rate <= 0 {
		return 0
	}
	return cpuPct / 100 * 1e6 / rate
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// jsonLine is v as one line of JSON, the form scripts collect.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return append(b, '\n'), nil
}

// appendJSON adds the result as one line to path.
func (r *result) appendJSON(path string) error {
	b, err := jsonLine(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func (r *result) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := jsonLine(r)
		_, _ = w.Write(b)
		return
	}
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(w, "  %-22s "+format+"\n", append([]any{k}, args...)...)
	}
	fmt.Fprintf(w, "%s %s via %s/%s\n", r.Label, r.Mode, r.Server, r.Transport)
	switch r.Mode {
	case "relay", "baseline":
		target := "flat out (closed loop)"
		if r.TargetPPS > 0 {
			target = fmt.Sprintf("%.0f pps per flow", r.TargetPPS)
		}
		row("flows x size", "%d x %d B, %s, window %d", r.Flows, r.Size, target, r.Window)
		row("window", "%.1f s after %.1f s warm-up", r.DurationS, r.WarmupS)
		row("offered", "%.0f pps", r.OfferedPPS)
		row("echoed (each way)", "%.0f pps, %.1f Mbit/s payload", r.PPS, r.Mbps)
		row("relayed by server", "%.0f pps (both directions)", r.RelayedPPS)
		row("loss", "%d of %d (%.3f %%)", r.Lost, r.Sent, r.LossPct)
		row("rtt p50/p90/p99/max", "%.0f / %.0f / %.0f / %.0f us", r.RTTP50us, r.RTTP90us, r.RTTP99us, r.RTTMaxus)
		row("cpu per relayed pkt", "server %.2f us (%.2f in the kernel), whole machine %.2f us", r.ServerUsPerPkt, r.ServerSysUsPerPkt, r.MachineUsPerPkt)
		if r.SendErrors > 0 {
			row("send errors", "%d", r.SendErrors)
		}
	case "allocs":
		row("workers", "%d for %.1f s", r.Concurrency, r.DurationS)
		row("completed", "%d ok, %d failed (%d retransmissions)", r.OK, r.Failed, r.Retransmits)
		row("rate", "%.0f allocations/s", r.Rate)
		row("latency p50/p99", "%.2f / %.2f ms", r.LatP50ms, r.LatP99ms)
		row("cpu per allocation", "server %.0f us, whole machine %.0f us", r.ServerUsPerAlloc, r.MachineUsPerAlloc)
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row("error", "%dx %s", r.Errors[k], k)
		}
	case "hold":
		row("held", "%d allocations (opened in %.1f s)", r.Held, r.OpenSeconds)
		row("server RSS", "%.1f MiB -> %.1f MiB", float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20))
		row("per allocation", "%.0f bytes", r.BytesPerAlloc)
		if r.Goroutines > 0 {
			row("server goroutines", "%d", r.Goroutines)
		}
	}
	row("cpu (% of one core)", "client %.0f %%, server %.0f %%, rest of machine %.0f %%", r.ClientCPU, r.ServerCPU, r.OtherCPU)
	row("machine", "%d cores, %.0f %% idle, load %.2f -> %.2f, RcvbufErrors +%d, InErrors +%d",
		r.NCPU, r.IdlePct, r.Load1Start, r.Load1End, r.RcvbufErrors, r.UDPInErrors)
}
