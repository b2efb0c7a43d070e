package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// need skips the test when a prerequisite is missing, so `go test ./...`
// stays green on a laptop without Chromium; under CI=true a missing tool is a
// broken CI image, so it fails instead.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	testenv.Require(t, "e2e needs %s: %v", what, err)
}

// chromiumPath is Debian's Chromium unless TURNKEY_E2E_CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("TURNKEY_E2E_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireChromium checks for the browser and for node with playwright-core
// installed under clients/node.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath()); err != nil {
		need(t, "Chromium (apt-get install -y chromium)", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		need(t, "node", err)
	}
	pw := filepath.Join(testenv.ModuleRoot(t), "clients", "node", "node_modules", "playwright-core", "package.json")
	if _, err := os.Stat(pw); err != nil {
		need(t, "playwright-core (cd clients/node && npm install --no-audit --no-fund)", err)
	}
}

// requireCoturnTools checks for coturn's test client and echo peer.
func requireCoturnTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"turnutils_uclient", "turnutils_peer"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" (apt-get install -y coturn)", err)
		}
	}
}

// skipShort keeps `go test -short ./...` quick: these tests take a minute.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping real-client e2e in -short mode")
	}
}

// requireNetns checks that network namespaces can be created: it needs root
// (or CAP_SYS_ADMIN) and iproute2.
func requireNetns(t *testing.T) {
	t.Helper()
	skipShort(t)
	if _, err := exec.LookPath("ip"); err != nil {
		need(t, "ip from iproute2", err)
	}
	if os.Geteuid() != 0 {
		need(t, "root to create network namespaces", errors.New("not running as root"))
	}
	if err := probeNetns(); err != nil {
		need(t, "working `ip netns`", fmt.Errorf("probe: %w", err))
	}
}
