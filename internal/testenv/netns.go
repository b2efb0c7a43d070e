package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// netnsChildEnv marks the child process InNetns starts.
const netnsChildEnv = "TURNKEY_NETNS_CHILD"

// InNetns runs the calling test in a network namespace of its own: in the
// parent it creates the namespace, re-runs this test binary inside it for
// just this test, fails with the child's output if the child did not pass,
// and returns false (the caller returns); in the child it brings lo up, runs
// each `ip` command of setup (e.g. {"addr", "add", "198.51.100.10/24", "dev",
// "lo"}) and returns true (the caller runs the test body). Without root or
// iproute2 it stops the test as Require does.
func InNetns(t *testing.T, setup ...[]string) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		for _, args := range append([][]string{{"link", "set", "lo", "up"}}, setup...) {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v: %s", args, err, out)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		Require(t, "root, to create a network namespace")
	}
	ip := Program(t, "ip", "Debian's iproute2")
	ns := "tk-" + strconv.Itoa(os.Getpid()) + "-" + strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		Require(t, "ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	cmd := exec.Command(ip, "netns", "exec", ns, os.Args[0],
		"-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child in network namespace %s: %v\n%s", ns, err, out)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(line, []byte("--- ")) {
			t.Log(string(bytes.TrimSpace(line)))
		}
	}
	return false
}
