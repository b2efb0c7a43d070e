package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// TestContainerImage builds the image's final stage with podman (no registry
// here: docker/ci-image.sh puts the static binary into that stage on
// `scratch`) and checks what a runtime sees: entrypoint, command, user,
// labels, ports, volume, environment, the binary's capability and the data
// directory's owner and mode.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and an image; skipped with -short")
	}
	podman := testenv.Program(t, "podman", "Debian's podman package; .ci/run installs it")
	testenv.Program(t, "setcap", "Debian's libcap2-bin package")
	if os.Geteuid() != 0 {
		testenv.Require(t, "building the image needs root (rootful podman, setcap)")
	}
	tag := "localhost/turnkey:test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if out, err := run(t, ".", "bash", "docker/ci-image.sh", tag); err != nil {
		t.Fatalf("ci-image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = run(t, ".", podman, "rmi", "-f", tag) })

	out, err := run(t, ".", podman, "image", "inspect", "--format", "{{json .Config}}", tag)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		Env          []string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Labels       map[string]string
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("inspect output %q: %v", out, err)
	}
	if cfg.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532 (non-root)", cfg.User)
	}
	if !reflect.DeepEqual(cfg.Entrypoint, []string{"/turnkey"}) || !reflect.DeepEqual(cfg.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q Cmd %q, want [/turnkey] [serve]", cfg.Entrypoint, cfg.Cmd)
	}
	for _, p := range []string{"3478/udp", "3478/tcp", "443/tcp", "5349/tcp", "8080/tcp", "9641/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, cfg.ExposedPorts)
		}
	}
	if _, ok := cfg.Volumes["/var/lib/turnkey"]; !ok {
		t.Errorf("no /var/lib/turnkey volume: %v", cfg.Volumes)
	}
	if !slices.Contains(cfg.Env, "TURNKEY_DATA_DIR=/var/lib/turnkey") {
		t.Errorf("Env %q lacks TURNKEY_DATA_DIR=/var/lib/turnkey", cfg.Env)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":   "turnkey",
		"org.opencontainers.image.version": "ci",
		"org.opencontainers.image.source":  "https://github.com/turnkey-dev/turnkey",
	} {
		if cfg.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], want)
		}
	}

	// The filesystem, through a container that is created but never run.
	cid, err := run(t, ".", podman, "create", tag)
	if err != nil {
		t.Fatal(err)
	}
	cid = strings.TrimSpace(cid)
	t.Cleanup(func() { _, _ = run(t, ".", podman, "rm", "-f", cid) })
	root, err := run(t, ".", podman, "mount", cid)
	if err != nil {
		t.Fatal(err)
	}
	root = strings.TrimSpace(root)
	t.Cleanup(func() { _, _ = run(t, ".", podman, "umount", cid) })
	if caps, err := run(t, ".", "getcap", filepath.Join(root, "turnkey")); err != nil || !strings.Contains(caps, "cap_net_bind_service=ep") {
		t.Errorf("/turnkey capabilities %q (%v), want cap_net_bind_service=ep so uid 65532 can bind 443", caps, err)
	}
	if v, err := run(t, ".", filepath.Join(root, "turnkey"), "version"); err != nil || strings.TrimSpace(v) != "turnkey ci" {
		t.Errorf("/turnkey version: %q %v", v, err)
	}
	fi, err := os.Stat(filepath.Join(root, "var/lib/turnkey"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Errorf("/var/lib/turnkey mode %v, want a 0700 directory (it holds the secrets)", fi.Mode())
	}
	if uid, gid := ownerOf(fi); uid != 65532 || gid != 65532 {
		t.Errorf("/var/lib/turnkey owned by %d:%d, want 65532:65532", uid, gid)
	}
}

// ownerOf returns a file's uid and gid.
func ownerOf(fi os.FileInfo) (uid, gid int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}
