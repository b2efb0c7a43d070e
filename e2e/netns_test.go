package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// netns is a network namespace with only lo up, so whatever runs in it can
// reach nothing but itself.
type netns struct {
	name string
}

var netnsSeq atomic.Int64

// nextNetnsName is unique per test process and call, so parallel runs and
// leftovers from a killed run never collide.
func nextNetnsName() string {
	return fmt.Sprintf("tk-e2e-%d-%d", os.Getpid(), netnsSeq.Add(1))
}

// probeNetns creates and deletes a namespace to learn whether we can.
func probeNetns() error {
	name := nextNetnsName()
	if out, err := ipCmd("netns", "add", name); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	if out, err := ipCmd("netns", "del", name); err != nil {
		return fmt.Errorf("ip netns del: %v: %s", err, out)
	}
	return nil
}

// newNetns creates a namespace that is torn down in t.Cleanup: every process
// still inside is killed by PID (they can only be ours), then it is deleted.
// Register it before starting processes so its cleanup runs last.
func newNetns(t *testing.T) *netns {
	t.Helper()
	n := &netns{name: nextNetnsName()}
	if out, err := ipCmd("netns", "add", n.name); err != nil {
		t.Fatalf("creating namespace %s: %v: %s", n.name, err, out)
	}
	t.Cleanup(func() { n.destroy(t) })
	if out, err := ipCmd("-n", n.name, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("bringing lo up in %s: %v: %s", n.name, err, out)
	}
	return n
}

func (n *netns) destroy(t *testing.T) {
	// Anything left (e.g. a Chromium helper whose parent was SIGKILLed) would
	// keep the namespace alive after `ip netns del`.
	var left []int
	testenv.Eventually(2*time.Second, func() bool {
		left = n.pids()
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return len(left) == 0
	})
	if len(left) > 0 {
		t.Errorf("processes %v still in namespace %s", left, n.name)
	}
	if out, err := ipCmd("netns", "del", n.name); err != nil {
		t.Errorf("deleting namespace %s: %v: %s", n.name, err, out)
	}
}

func (n *netns) pids() []int {
	out, err := exec.Command("ip", "netns", "pids", n.name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// command runs name inside the namespace. `ip netns exec` execs the command
// in place, so the PID and signals reach the program itself.
func (n *netns) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// dial opens a connection from inside the namespace without moving the test
// process: a goroutine locks its OS thread, switches that thread's network
// namespace and creates the socket there. A socket keeps the namespace it
// was created in, so the connection is then used from anywhere.
func (n *netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked on purpose: the thread now belongs to another
		// namespace, so Go must discard it when this goroutine ends instead
		// of reusing it for unrelated goroutines.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			ch <- result{err: fmt.Errorf("opening namespace %s: %w", n.name, err)}
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ch <- result{err: fmt.Errorf("entering namespace %s: %w", n.name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// httpClient talks HTTP to servers inside the namespace.
func (n *netns) httpClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       n.dial,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

func ipCmd(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", args...).CombinedOutput()
}
