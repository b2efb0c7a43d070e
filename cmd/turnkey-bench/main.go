// Command turnkey-bench loads any standard TURN server (turnkey, coturn) with
// TURN REST credentials and measures it: relayed packets/s, loss and round
// trips through ChannelData (mode relay), allocations/s (allocs), memory per
// idle allocation (hold), and the same traffic through a plain UDP forwarder
// as the physical baseline (baseline). "turnkey-bench soak" churns
// allocations and checks the server's counts return to baseline (soak.go).
//
// It only ever talks to loopback addresses: it is a bench instrument, and
// refuses any other target.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unicode"
)

type config struct {
	mode, server, transport string
	secret, realm           string
	allocs, size, window    int
	concurrency             int
	pps                     float64
	warmup, duration, drain time.Duration
	hold, settle, rto       time.Duration
	maxRTO                  time.Duration // 0: uncapped doubling
	tries                   int
	identity                string // REST user names are <identity>-<index>
	peerAddr                string
	externalPeer            bool
	sockbuf                 int
	serverPID               int
	metrics                 string
	label                   string
	json                    bool
	out                     string
	clientIPs               []string
	soak                    soakOpts
}

func main() {
	os.Exit(run())
}

// addSharedFlags registers the flags soak shares with the other modes. The
// defaults that differ between them are the values c and ips hold on entry.
func addSharedFlags(fs *flag.FlagSet, c *config, ips *string) {
	fs.StringVar(&c.server, "server", "127.0.0.1:3478", "TURN server (or forwarder for baseline), loopback only")
	fs.StringVar(&c.secret, "secret", "", "TURN REST shared secret (turn.secrets)")
	fs.StringVar(&c.realm, "realm", "turnkey", "expected realm (the server's own is used)")
	fs.IntVar(&c.concurrency, "concurrency", c.concurrency, "allocation workers: allocations in flight at once")
	fs.DurationVar(&c.duration, "duration", c.duration, "measurement window (soak: stop starting allocations after this long)")
	fs.DurationVar(&c.settle, "settle", c.settle, "hold: wait before reading RSS; soak: longest wait for the counts to return to baseline")
	fs.DurationVar(&c.rto, "rto", 500*time.Millisecond, "first STUN retransmission timeout (UDP)")
	fs.IntVar(&c.tries, "tries", c.tries, "transmissions of a STUN request before it counts as lost (UDP)")
	fs.StringVar(ips, "client-ips", *ips, "client source addresses in 127.0.0.0/8, comma separated, used in turn")
}

// splitIPs parses -client-ips: addresses separated by commas and spaces.
func splitIPs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		return soakMain(os.Args[2:])
	}
	cfg := config{concurrency: 16, duration: 10 * time.Second, settle: 3 * time.Second, tries: 5, identity: "bench"}
	var baseline bool
	ips := "127.0.0.1"
	addSharedFlags(flag.CommandLine, &cfg, &ips)
	flag.StringVar(&cfg.mode, "mode", "relay", "relay, allocs, hold, baseline or peer (soak: \"turnkey-bench soak -h\")")
	flag.BoolVar(&baseline, "baseline", false, "shorthand for -mode baseline: plain UDP through bench/udpforward at -server")
	flag.StringVar(&cfg.transport, "transport", "udp", "udp or tcp to the TURN server")
	flag.IntVar(&cfg.allocs, "allocs", 10, "allocations (relay, hold) or client flows (baseline)")
	flag.Float64Var(&cfg.pps, "pps", 0, "packets/s per allocation; 0 sends flat out, closed loop")
	flag.IntVar(&cfg.window, "window", 32, "flat out: packets in flight per allocation")
	flag.IntVar(&cfg.size, "size", 160, "payload bytes per packet (at least 16)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "traffic before the measurement window, excluded from stats")
	flag.DurationVar(&cfg.drain, "drain", time.Second, "wait for late echoes after the window")
	flag.DurationVar(&cfg.hold, "hold", 0, "hold: keep the allocations this long after measuring (SIGTERM ends early)")
	flag.StringVar(&cfg.peerAddr, "peer", "127.0.0.1:3480", "UDP echo peer; built in and listening here unless -external-peer")
	flag.BoolVar(&cfg.externalPeer, "external-peer", false, "-peer is run by someone else (e.g. turnutils_peer)")
	flag.IntVar(&cfg.sockbuf, "sockbuf", 4<<20, "peer socket buffer bytes")
	flag.IntVar(&cfg.serverPID, "server-pid", 0, "server PID: its CPU use during the window (and RSS for hold)")
	flag.StringVar(&cfg.metrics, "metrics", "", "hold: Prometheus URL to read go_goroutines from")
	flag.StringVar(&cfg.label, "label", "", "name printed with the result (turnkey, coturn, ...)")
	flag.BoolVar(&cfg.json, "json", false, "print one JSON object instead of the table")
	flag.StringVar(&cfg.out, "out", "", "also append the JSON object to this file (for scripts)")
	flag.Parse()
	if baseline {
		cfg.mode = "baseline"
	}
	cfg.clientIPs = splitIPs(ips)
	if err := cfg.check(); err != nil {
		fmt.Fprintf(os.Stderr, "turnkey-bench: %v\n", err)
		return 2
	}

	peer, err := net.ResolveUDPAddr("udp4", cfg.peerAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "turnkey-bench: -peer: %v\n", err)
		return 2
	}
	if !cfg.externalPeer && cfg.mode != "allocs" && cfg.mode != "hold" {
		p, err := startEchoPeer(cfg.peerAddr, cfg.sockbuf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "turnkey-bench: %v\n", err)
			return 1
		}
		defer p.close()
		peer = p.addr
	}

	var r *result
	switch cfg.mode {
	case "relay":
		r, err = runRelay(&cfg, peer)
	case "baseline":
		r, err = runBaseline(&cfg)
	case "allocs":
		r, err = runAllocs(&cfg, peer)
	case "hold":
		r, err = runHold(&cfg, peer)
	case "peer":
		// Only the echo peer, for other load tools; bounded like the rest.
		fmt.Printf("echo peer on %s for %s\n", peer, cfg.duration)
		time.Sleep(cfg.duration)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "turnkey-bench: %v\n", err)
		return 1
	}
	r.print(os.Stdout, cfg.json)
	if cfg.out != "" {
		if err := r.appendJSON(cfg.out); err != nil {
			fmt.Fprintf(os.Stderr, "turnkey-bench: %v\n", err)
			return 1
		}
	}
	return 0
}

// check validates flags, above all that every address is loopback.
func (c *config) check() error {
	switch c.mode {
	case "relay", "allocs", "hold", "baseline", "peer":
	default:
		return fmt.Errorf("-mode %q is not relay, allocs, hold, baseline or peer", c.mode)
	}
	if c.transport != "udp" && c.transport != "tcp" {
		return fmt.Errorf("-transport %q is not udp or tcp", c.transport)
	}
	if c.mode != "baseline" && c.mode != "peer" && c.secret == "" {
		return fmt.Errorf("-secret is required")
	}
	if c.size < payloadMin || c.size > 1400 {
		return fmt.Errorf("-size %d is outside [%d, 1400]", c.size, payloadMin)
	}
	if c.allocs < 1 || c.concurrency < 1 || c.window < 1 {
		return fmt.Errorf("-allocs, -concurrency and -window must be at least 1")
	}
	if c.duration <= 0 || c.duration > time.Hour || c.hold > time.Hour {
		return fmt.Errorf("-duration must be in (0, 1h] and -hold at most 1h: every run stops by itself")
	}
	if c.tries < 1 {
		return fmt.Errorf("-tries must be at least 1")
	}
	if err := loopbackOnly(c.clientIPs, c.server, c.peerAddr); err != nil {
		return err
	}
	if c.metrics != "" && !strings.HasPrefix(c.metrics, "http://127.") {
		return fmt.Errorf("-metrics %q must be an http://127.x.y.z URL", c.metrics)
	}
	return nil
}

// loopbackOnly checks that every address (the client IPs, of which there
// must be one, then host:port pairs) is on 127.0.0.0/8.
func loopbackOnly(ips []string, hostports ...string) error {
	if len(ips) == 0 {
		return errors.New("-client-ips is empty")
	}
	hosts := append([]string{}, ips...)
	for _, hp := range hostports {
		h, _, err := net.SplitHostPort(hp)
		if err != nil {
			return fmt.Errorf("address %q: %w", hp, err)
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return fmt.Errorf("%q is not an IPv4 loopback address: this tool only sends to 127.0.0.0/8", h)
		}
	}
	return nil
}
