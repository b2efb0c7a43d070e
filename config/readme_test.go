package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting: the README's configuration reference is
// the operator's; a setting missing from it does not exist for them.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for path := range Settings() {
		if !strings.Contains(string(readme), "| `"+path+"` |") {
			t.Errorf("README's configuration table has no row for `%s`", path)
		}
	}
}
