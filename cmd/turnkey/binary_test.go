package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// This file runs the real turnkey binary, for what only a separate process
// shows: signals, exit codes, reading the configuration file again.

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// buildBinary builds ./cmd/turnkey once per test run into a temporary
// directory and returns the binary's path.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "turnkey-test-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "turnkey")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// The test runs in cmd/turnkey: "." is the command's package.
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/turnkey: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

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
	cmd        *exec.Cmd
	ConfigFile string
	Stderr     *logbuf.Buffer // the log
	Stdout     *logbuf.Buffer
	done       chan struct{}
	exitCode   int // valid once done is closed; -1 when killed by a signal
	waitErr    error
}

// startBinary writes yamlText to a config file and runs `turnkey serve
// -config FILE`, capturing stdout and stderr. It does not wait for
// readiness (see waitReady). At the end of the test a process still running
// is killed and, when the test failed, its log is printed.
func startBinary(t *testing.T, yamlText string) *proc {
	t.Helper()
	bin := buildBinary(t)
	cfgFile := filepath.Join(t.TempDir(), "turnkey.yaml")
	if err := os.WriteFile(cfgFile, []byte(yamlText), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	p := &proc{ConfigFile: cfgFile, Stderr: &logbuf.Buffer{}, Stdout: &logbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "-config", cfgFile)
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	// No TURNKEY_* variable from the developer's shell may change the
	// configuration under test.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TURNKEY_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start turnkey: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("turnkey log:\n%s", p.Stderr.String())
		}
	})
	return p
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

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v: %v", sig, err)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.exitCode
	case <-time.After(d):
		t.Fatalf("turnkey still running after %v", d)
		return 0
	}
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last string
		n := 0
		for line := range strings.SplitSeq(p.Stderr.String(), "\n") {
			if containsAll(line, substrs) {
				n++
				last = line
			}
		}
		if n > after {
			return last
		}
		if p.exited() {
			t.Fatalf("turnkey exited (code %d) before logging %q", p.exitCode, substrs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within 10s", substrs)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	deadline := time.Now().Add(30 * time.Second)
	accountFile := filepath.Join(c.DataDir, "initial-account.json")
	for {
		if p.exited() {
			t.Fatalf("turnkey exited during start-up with code %d", p.exitCode)
		}
		code, err := readyz(c.AdminListen)
		var acct binaryAccount
		if err == nil && code == http.StatusOK {
			raw, rerr := os.ReadFile(accountFile)
			// The file may be caught half-written: try again.
			if rerr == nil && json.Unmarshal(raw, &acct) == nil && acct.AccountSID != "" {
				return acct
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnkey not ready within 30s (readyz %d, %v)", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startBinaryReady is startBinary with c, then waitReady.
func startBinaryReady(t *testing.T, c binaryConfig) (*proc, binaryAccount) {
	t.Helper()
	p := startBinary(t, c.YAML(t))
	return p, p.waitReady(t, c)
}
