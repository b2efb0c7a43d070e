package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the turnkey binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}
