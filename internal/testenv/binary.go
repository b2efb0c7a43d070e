package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// built is what Binary built in this test process, by package.
var built struct {
	mu   sync.Mutex
	dir  string // removed by Main
	bins map[string]*binary
}

type binary struct {
	once sync.Once
	path string
	err  error
}

// Binary builds the command in pkg (relative to the module root, e.g.
// "./cmd/turnkey") once per test process and returns its path. The binary
// lives in a temporary directory that Main removes.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	return binaryOf(t, pkg, false)
}

// RaceBinary is Binary built with -race when the test binary is, so the
// processes a test starts are checked too (Start fails the test on what the
// detector prints). It starts and runs slower, so only the multi-node test
// uses it, as it did before this helper.
func RaceBinary(t testing.TB, pkg string) string {
	t.Helper()
	return binaryOf(t, pkg, RaceEnabled())
}

func binaryOf(t testing.TB, pkg string, race bool) string {
	t.Helper()
	key := pkg
	if race {
		key += " -race"
	}
	built.mu.Lock()
	if built.bins == nil {
		built.bins = map[string]*binary{}
	}
	b := built.bins[key]
	if b == nil {
		b = &binary{}
		built.bins[key] = b
	}
	built.mu.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkg, race) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func build(pkg string, race bool) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	built.mu.Lock()
	if built.dir == "" {
		built.dir, err = os.MkdirTemp("", "turnkey-test-bin-")
	}
	dir := built.dir
	built.mu.Unlock()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if race {
		bin += "-race"
		args = []string{"build", "-o", bin, "-race"}
	}
	args = append(args, pkg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// ModuleRoot returns the module's root directory, or fails the test.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// moduleRoot walks up from the package directory (a test's working
// directory) to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// RaceEnabled reports whether the test binary was built with -race.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Main is TestMain for a package whose tests use Binary: it runs the tests,
// removes what Binary built, and exits.
func Main(m *testing.M) {
	code := m.Run()
	built.mu.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.mu.Unlock()
	os.Exit(code)
}
