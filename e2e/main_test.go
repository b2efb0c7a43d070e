package e2e

import (
	"testing"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// TestMain removes the turnkey binary built for the run.
func TestMain(m *testing.M) { testenv.Main(m) }
