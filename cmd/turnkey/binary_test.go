package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// This file runs the real turnkey binary, for what only a separate process
// shows: signals, exit codes, reading the configuration file again.

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) { testenv.Main(m) }

// turnkeyBinary is this command, built once per test run.
func turnkeyBinary(t *testing.T) string { return testenv.Binary(t, "./cmd/turnkey") }

// binaryConfig is the YAML configuration of a turnkey binary under test:
// the fields tests vary. newBinaryConfig fills in free loopback ports.
type binaryConfig struct {
	DataDir      string
	Realm        string
	LogLevel     string
	DrainTimeout time.Duration
	// Ports; TCP shares the UDP port number.
	UDPPort, AltTCPPort, TLSPort int
	APIListen, AdminListen       string
	Secrets                      []string
	CertFile, KeyFile            string
	Regions                      map[string]string
}

// binarySecret is the TURN secret newBinaryConfig configures.
const binarySecret = "binary-test-secret-0123456789abcdef"

// newBinaryConfig is a single node on free loopback ports with data in a
// fresh temporary directory.
func newBinaryConfig(t *testing.T) binaryConfig {
	t.Helper()
	return binaryConfig{
		DataDir:      filepath.Join(t.TempDir(), "data"),
		Realm:        "turnkey",
		LogLevel:     "debug",
		DrainTimeout: 30 * time.Second,
		UDPPort:      freePort(t, "udp"),
		AltTCPPort:   freePort(t, "tcp"),
		TLSPort:      freePort(t, "tcp"),
		APIListen:    "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp")),
		AdminListen:  "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp")),
		Secrets:      []string{binarySecret},
	}
}

// YAML renders the configuration file.
func (c binaryConfig) YAML(t *testing.T) string {
	t.Helper()
	turn := map[string]any{
		"realm":        c.Realm,
		"listen_ip":    "127.0.0.1",
		"relay_ip":     "127.0.0.1",
		"udp_port":     c.UDPPort,
		"tcp_port":     c.UDPPort,
		"alt_tcp_port": c.AltTCPPort,
		"tls_port":     c.TLSPort,
		// Apart from startTestNode's range, so both can run at once.
		"min_port":    61000,
		"max_port":    61999,
		"secrets":     c.Secrets,
		"peer_policy": map[string]any{"allow": []string{"127.0.0.1"}},
	}
	doc := map[string]any{
		"data_dir":      c.DataDir,
		"drain_timeout": c.DrainTimeout.String(),
		"log":           map[string]any{"level": c.LogLevel, "format": "text"},
		"turn":          turn,
		"api":           map[string]any{"listen": c.APIListen, "regions": c.Regions},
		"admin":         map[string]any{"listen": c.AdminListen},
		"store":         map[string]any{"revocation_poll": "200ms"},
	}
	if c.CertFile != "" {
		doc["tls"] = map[string]any{"cert_file": c.CertFile, "key_file": c.KeyFile}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("render config: %v", err)
	}
	return string(out)
}

// proc is a running turnkey binary.
type proc struct {
	*testenv.Proc
	ConfigFile string
	Stderr     *logbuf.Buffer // the log
	Stdout     *logbuf.Buffer
}

// startBinary writes yamlText to a config file and runs `turnkey serve
// -config FILE`, capturing stdout and stderr. It does not wait for
// readiness (see waitReady). At the end of the test a process still running
// is killed and, when the test failed, its log is printed.
func startBinary(t *testing.T, yamlText string) *proc {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "turnkey.yaml")
	if err := os.WriteFile(cfgFile, []byte(yamlText), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	cmd := exec.Command(turnkeyBinary(t), "serve", "-config", cfgFile)
	stdout := &logbuf.Buffer{}
	cmd.Stdout = stdout
	cmd.Env = childEnv()
	p := &proc{Proc: testenv.Start(t, "turnkey", cmd), ConfigFile: cfgFile, Stdout: stdout}
	p.Stderr = p.Out
	return p
}

// childEnv is the test's environment without TURNKEY_* variables: none
// from the developer's shell may change the configuration under test.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TURNKEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// writeConfig replaces the configuration file (read again on SIGHUP).
func (p *proc) writeConfig(t *testing.T, yamlText string) {
	t.Helper()
	tmp := p.ConfigFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(yamlText), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	if err := os.Rename(tmp, p.ConfigFile); err != nil {
		t.Fatalf("replace config: %v", err)
	}
}

// waitExit waits up to d for the process to end and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	if !p.Wait(d) {
		t.Fatalf("turnkey still running after %v", d)
	}
	return p.ExitCode()
}

// countLog counts log lines containing every one of the substrings.
func (p *proc) countLog(substrs ...string) int {
	n := 0
	for line := range strings.SplitSeq(p.Stderr.String(), "\n") {
		if containsAll(line, substrs) {
			n++
		}
	}
	return n
}

// waitLog waits until more than after log lines contain every substring
// and returns the newest such line. Pass countLog's result from before the
// action that should log.
func (p *proc) waitLog(t *testing.T, after int, substrs ...string) string {
	t.Helper()
	var last string
	testenv.WaitFor(t, fmt.Sprintf("a log line with %q", substrs), 10*time.Second, func() bool {
		n := 0
		for line := range strings.SplitSeq(p.Stderr.String(), "\n") {
			if containsAll(line, substrs) {
				n++
				last = line
			}
		}
		if n <= after && p.Exited() {
			t.Fatalf("turnkey exited (code %d) before logging %q", p.ExitCode(), substrs)
		}
		return n > after
	})
	return last
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// readyz returns the admin /readyz status code, or an error when the
// admin listener does not answer.
func readyz(adminListen string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + adminListen + "/readyz")
	if err != nil {
		return 0, fmt.Errorf("GET /readyz: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// binaryAccount is the bootstrap account the binary writes on first start.
type binaryAccount struct {
	AccountSID string `json:"account_sid"`
	AuthToken  string `json:"auth_token"`
}

// waitReady waits until /readyz answers 200 and the bootstrap account file
// is written, and returns that account.
func (p *proc) waitReady(t *testing.T, c binaryConfig) binaryAccount {
	t.Helper()
	accountFile := filepath.Join(c.DataDir, "initial-account.json")
	var acct binaryAccount
	testenv.WaitForErr(t, "turnkey to be ready", 30*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("turnkey exited during start-up with code %d", p.ExitCode())
		}
		code, err := readyz(c.AdminListen)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz %d", code)
		}
		raw, err := os.ReadFile(accountFile)
		if err != nil {
			return err
		}
		// The file may be caught half-written: try again.
		if err := json.Unmarshal(raw, &acct); err != nil || acct.AccountSID == "" {
			return fmt.Errorf("%s: no account yet (%v)", accountFile, err)
		}
		return nil
	})
	return acct
}

// startBinaryReady is startBinary with c, then waitReady.
func startBinaryReady(t *testing.T, c binaryConfig) (*proc, binaryAccount) {
	t.Helper()
	p := startBinary(t, c.YAML(t))
	return p, p.waitReady(t, c)
}
