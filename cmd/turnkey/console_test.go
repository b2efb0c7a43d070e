package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// consoleResult is the JSON line clients/node/console.js prints.
type consoleResult struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Steps    []string `json:"steps"`
	StoredIn struct {
		Session bool   `json:"session"`
		Local   int    `json:"local"`
		Cookies string `json:"cookies"`
	} `json:"storedIn"`
	Key struct {
		SID             string `json:"sid"`
		SecretShown     int    `json:"secretShown"`
		SecretAfterDone int    `json:"secretAfterDone"`
		Deleted         bool   `json:"deleted"`
	} `json:"key"`
	Selftest []struct {
		Transport string   `json:"transport"`
		Relay     bool     `json:"relay"`
		OK        bool     `json:"ok"`
		Cells     []string `json:"cells"`
	} `json:"selftest"`
	OperatorSignInHidden bool     `json:"operatorSignInHidden"`
	Screenshots          []string `json:"screenshots"`
	ErrorText            *string  `json:"errorText"`
}

// TestConsoleInChromium walks the web console in Chromium: sign in with the
// auth token, see a live allocation appear and close it (the client's next
// Refresh gets 437), create a key (its secret shown once) and delete it,
// run the TURN self-test (relay candidates and a data-channel echo on UDP
// and TCP), and open the operator view; all under the console's CSP.
// Screenshots go to e2e/artifacts/.
func TestConsoleInChromium(t *testing.T) {
	node := testenv.Program(t, "node", "apt-get install nodejs")
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		testenv.Require(t, "Chromium not found at %s (apt-get install chromium): %v", chromium, err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		testenv.Require(t, "playwright-core is not installed: run `npm ci` in clients/node")
	}
	artifacts, err := filepath.Abs(filepath.Join("..", "..", "e2e", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}

	n := startTestNode(t, nil)
	creds := accountCreds(t, n, n.AccountSID, n.AuthToken)
	held := newRawSession(t, n.TURNUDP, creds.username, creds.credential)
	if code := held.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	// A second one with traffic, which stays: the screenshots show it.
	busy := turnAllocation(t, "udp", n.TURNUDP, creds.username, creds.credential)
	echoSizes(t, busy, newCountingEcho(t).addr, []int{1200, 1200, 1200, 800, 800, 400})
	_, page := listAllocations(t, n.Admin+"/v1/allocations?page_size=1", nil)
	if page.Meta.Total != 2 {
		t.Fatalf("allocations before the console: %+v", page)
	}
	target := page.Allocations[0]

	in, err := json.Marshal(map[string]string{"api": n.API, "admin": n.Admin, "account": n.AccountSID,
		"secret": n.AuthToken, "relay": target.Relay, "artifacts": artifacts, "chromium": chromium})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "console.js"), string(in))
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var r consoleResult
	if err := json.Unmarshal(lastJSONLine(out), &r); err != nil {
		t.Fatalf("console.js printed no result (%v): %v\nstdout: %s\nstderr: %s", runErr, err, out, stderr.String())
	}
	t.Logf("console walk-through: steps %q, self-test %+v, screenshots %v", r.Steps, r.Selftest, r.Screenshots)
	if !r.OK || runErr != nil {
		t.Fatalf("console walk-through failed (%v): %q; page error %v", runErr, r.Problems, r.ErrorText)
	}

	if !r.StoredIn.Session || r.StoredIn.Local != 0 || r.StoredIn.Cookies != "" {
		t.Errorf("credentials kept %+v, want in sessionStorage only", r.StoredIn)
	}
	if code := held.refresh(); code != int(stun.CodeAllocMismatch) {
		t.Errorf("Refresh of the allocation closed in the console: %d, want 437", code)
	}
	if v := scrape(t, n).get("turnkey_allocations_closed_total", "reason", "tenant"); v != 1 {
		t.Errorf("allocations_closed_total{tenant} = %v, want 1", v)
	}
	if r.Key.SID == "" || r.Key.SecretShown < 32 || r.Key.SecretAfterDone != 0 || !r.Key.Deleted {
		t.Errorf("key walk-through: %+v", r.Key)
	}
	if _, err := n.store.GetKey(context.Background(), n.AccountSID, r.Key.SID); err == nil {
		t.Errorf("key %s deleted in the console is still in the store", r.Key.SID)
	}
	relayed := map[string]bool{}
	for _, s := range r.Selftest {
		if s.Relay && s.OK {
			relayed[s.Transport] = true
		}
	}
	if !relayed["udp"] || !relayed["tcp"] {
		t.Errorf("self-test relayed on %v, want udp and tcp: %+v", relayed, r.Selftest)
	}
	if !r.OperatorSignInHidden {
		t.Error("the operator view asks for a sign-in")
	}
	res, _ := httpGet(t, n.API+"/console/")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("console CSP %q", csp)
	}
	if res, _ := httpDo(t, http.MethodPost, n.API+"/console/", nil, nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d", res.StatusCode)
	}
}

func lastJSONLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}
