package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

const (
	uclientClients  = 50
	uclientMessages = 200
	peerPort        = "3480"
)

// TestCoturnUclientLoad drives turnkey with coturn's own test client: 50
// clients × 200 messages each through the relay to turnutils_peer and back,
// over UDP and over TCP, with no loss allowed.
func TestCoturnUclientLoad(t *testing.T) {
	requireNetns(t)
	requireCoturnTools(t)
	ns := newNetns(t)
	srv := startTurnkey(t, ns, serverOptions{
		// The echo peer lives on loopback, which the default deny-list covers.
		peerAllow: []string{"127.0.0.1"},
		// Every uclient client shares one username.
		unlimitedQuotas: true,
		// uclient picks channel numbers from RFC 5766's range.
		legacyChannels: true,
	})
	startPeer(t, ns)

	for _, tc := range []struct {
		name      string
		flags     []string
		transport string
	}{
		{"udp", nil, "udp"},
		{"tcp", []string{"-t"}, "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after := uclientRelays(t, srv, ns, uclientClients, uclientMessages, append(append([]string{}, tc.flags...),
				// Without -u the client sends a bare "<expiry>" username, which
				// coturn accepts and turnkey refuses as malformed: name a user.
				"-u", "e2e-load", "-W", e2eSecret, "-p", "3478", "-e", "127.0.0.1", "-r", peerPort,
				"-m", strconv.Itoa(uclientClients), "-n", strconv.Itoa(uclientMessages), "-l", "120",
				"-c", "-X", "127.0.0.1"))
			if got := alloc(after, tc.transport) - alloc(before, tc.transport); got < uclientClients {
				t.Errorf("turnkey_allocations_total{transport=%q} rose by %g, want >= %d", tc.transport, got, uclientClients)
			}
		})
	}
}

// TestCoturnUclientIPv6 (#19): coturn's client over IPv6 ([::1]) with IPv6
// relays (-x: REQUESTED-ADDRESS-FAMILY IPv6), client to client (-y: each
// client's peer is another client's IPv6 relayed address), with no loss.
func TestCoturnUclientIPv6(t *testing.T) {
	requireNetns(t)
	requireCoturnTools(t)
	ns := newNetns(t)
	srv := startTurnkey(t, ns, serverOptions{
		unlimitedQuotas: true,
		legacyChannels:  true,
		listenIP:        "::",
		relayIPs:        []string{"127.0.0.1", "::1"},
	})
	const clients, messages = 10, 200
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"udp", nil},
		{"tcp", []string{"-t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after := uclientRelays(t, srv, ns, clients, messages, append(append([]string{}, tc.flags...),
				"-x", "-y", "-u", "e2e-v6", "-W", e2eSecret, "-p", "3478",
				"-m", strconv.Itoa(clients), "-n", strconv.Itoa(messages), "-l", "120", "-c", "::1"))
			if got := after.allocIPv6 - before.allocIPv6; got < clients {
				t.Errorf(`turnkey_allocations_total{family="ipv6"} rose by %g, want >= %d`, got, clients)
			}
		})
	}
}

// startPeer starts coturn's UDP echo peer in ns and waits until it echoes.
func startPeer(t *testing.T, ns *netns) {
	t.Helper()
	p := testenv.Start(t, "turnutils_peer", ns.command(context.Background(), "turnutils_peer", "-L", "127.0.0.1", "-p", peerPort))
	err := testenv.EventuallyErr(10*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("turnutils_peer exited: %v\n%s", p.Err(), p.Out.Tail(2048))
		}
		return udpEcho(ns, "127.0.0.1:"+peerPort)
	})
	if err != nil {
		t.Fatalf("turnutils_peer does not echo on 127.0.0.1:%s: %v\n%s", peerPort, err, p.Out.Tail(2048))
	}
}

// udpEcho sends one datagram from inside ns and waits briefly for it back.
func udpEcho(ns *netns, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.dial(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("e2e-probe")); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		return fmt.Errorf("no echo: %w", err)
	}
	return nil
}

// uclientRelays runs turnutils_uclient in ns with args (clients ×
// messages) and fails unless its totals parse, show every message back and
// none lost, and turnkey's relay byte counters rose both ways; it returns
// turnkey's counters from before and after.
func uclientRelays(t *testing.T, srv *server, ns *netns, clients, messages int, args []string) (before, after relayCounters) {
	t.Helper()
	before = mustCounters(t, srv)
	res, all, perr := runUclientArgs(t, ns, args)
	after = mustCounters(t, srv)
	t.Logf("%d clients x %d messages: sent %d, received %d, lost %d (%s%%)",
		clients, messages, res.sent, res.received, res.lost, res.lostPct)
	t.Logf("turnkey before: %s", before)
	t.Logf("turnkey after:  %s", after)
	if perr != nil {
		t.Fatalf("reading turnutils_uclient output: %v\n%s", perr, tail(all, 4096))
	}
	if want := clients * messages; res.sent != want || res.received != want || res.lost != 0 {
		t.Errorf("sent %d, received %d, lost %d: want %d each way and no loss\n%s",
			res.sent, res.received, res.lost, want, tail(all, 2048))
	}
	if after.bytesC2P <= before.bytesC2P || after.bytesP2C <= before.bytesP2C {
		t.Errorf("turnkey_relay_bytes_total did not rise in both directions")
	}
	return before, after
}

// runUclientArgs runs turnutils_uclient in ns with args and parses its
// totals, failing the test if the client itself fails.
func runUclientArgs(t *testing.T, ns *netns, args []string) (uclientResult, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := runOut(ctx, ns.command(ctx, "turnutils_uclient", args...))
	all := string(out) + string(errOut)
	// Exit status 0 says little (it is 0 at 100 % loss too); 255 is an
	// allocation failure.
	if err != nil {
		t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, tail(all, 4096))
	}
	res, perr := parseUclient(all)
	return res, all, perr
}

type uclientResult struct {
	sent, received, lost int
	lostPct              string
}

var (
	// The summary line, e.g. "start_mclient: tot_send_msgs=10000, tot_recv_msgs=10000"
	// (progress lines carry "msz=" first and are skipped by anchoring).
	uclientTotals = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	uclientLost   = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\)`)
)

func parseUclient(out string) (uclientResult, error) {
	var r uclientResult
	tot := uclientTotals.FindAllStringSubmatch(out, -1)
	lost := uclientLost.FindStringSubmatch(out)
	if len(tot) == 0 || lost == nil {
		return r, fmt.Errorf("no final totals (tot_send_msgs / Total lost packets) in the output")
	}
	last := tot[len(tot)-1]
	r.sent, _ = strconv.Atoi(last[1])
	r.received, _ = strconv.Atoi(last[2])
	r.lost, _ = strconv.Atoi(lost[1])
	r.lostPct = lost[2]
	return r, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
