package relay

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// fallbackChildEnv marks the unprivileged child of
// TestKernelOffloadFallsBackWithoutPrivilege.
const fallbackChildEnv = "TURNKEY_KERNEL_FALLBACK_CHILD"

// TestKernelOffloadFallsBackWithoutPrivilege runs a server with
// KernelOffload auto as the unprivileged user 65534 (this test binary,
// re-executed): the kernel path cannot load, the server says why in one
// log line and relays in userspace. With on, start-up fails instead.
func TestKernelOffloadFallsBackWithoutPrivilege(t *testing.T) {
	if os.Getenv(fallbackChildEnv) == "1" {
		fallbackChild(t)
		return
	}
	if os.Geteuid() != 0 {
		testenv.Require(t, "root, to run the server as another user")
	}
	// The test binary's own directory is private to root: copy it where
	// user 65534 may execute it.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "relay.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run=^TestKernelOffloadFallsBackWithoutPrivilege$", "-test.count=1", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), fallbackChildEnv+"=1", "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestKernelOffloadFallsBackWithoutPrivilege")) {
		t.Fatalf("unprivileged child: %v\n%s", err, out)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(line, []byte("kernel fast path")) {
			t.Log(string(bytes.TrimSpace(line)))
		}
	}
}

func fallbackChild(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("the child runs as root")
	}
	_, err := New(withDefaults(Config{Realm: testRealm, ListenIPs: []netip.Addr{loopback}, UDPPort: freeUDPPort(t), RelayIPs: []netip.Addr{loopback},
		MinPort: 61000, MaxPort: 61999, Keyring: testRing(t, testSecret), KernelOffload: OffloadOn}))
	if err == nil || !strings.Contains(err.Error(), "kernel offload on") {
		t.Fatalf("KernelOffload on without privilege: New = %v, want a start-up failure naming the kernel offload", err)
	}
	ts := startServer(t, func(c *Config) { c.KernelOffload = OffloadAuto })
	if ts.kernel != nil {
		t.Fatal("the kernel path attached without privilege")
	}
	for _, line := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(line, "kernel fast path") {
			t.Log(line)
		}
	}
	if n := strings.Count(ts.log.String(), "kernel fast path not attached"); n != 1 {
		t.Fatalf("%d log lines about the kernel path, want 1:\n%s", n, ts.log.String())
	}
	peer := udpPeer(t)
	c := newChanClient(t, ts, "udp", peer)
	chanRoundTrip(t, c, []byte("in userspace"))
	testenv.WaitFor(t, "userspace counted both ways", 3*time.Second, func() bool {
		all, _, _ := ts.stats.totals("")
		return all.PacketsUp == 1 && all.PacketsDown == 1
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
