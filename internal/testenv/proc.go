//go:build unix

package testenv

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// Proc is a process started by Start, in a process group of its own, with
// its output kept for the test and its failure report.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	// Out holds whatever of stdout and stderr the caller did not send
	// elsewhere before Start.
	Out  *logbuf.Buffer
	done chan struct{}
	err  error // valid once done is closed
}

// raceReport is how the race detector's reports begin.
const raceReport = "WARNING: DATA RACE"

// Start starts cmd in a new process group. At the end of the test the group is killed if the process
// still runs, a race report in its output fails the test, and, when the test
// failed, its output is logged.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: cmd, Out: &logbuf.Buffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Out
	}
	// No Pdeathsig: it fires when the thread that forked exits, and Go ends
	// a thread whose goroutine exits locked to it (as e2e's namespace
	// dialer does), which would kill the process mid-test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		out := p.Out.String()
		if strings.Contains(out, raceReport) {
			t.Errorf("%s: the race detector reported a race", name)
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, last 64 KiB):\n%s", name, cmd.Process.Pid, p.Out.Tail(64<<10))
		}
	})
	return p
}

// Done is closed once the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned (nil for exit status 0);
// valid once it has exited.
func (p *Proc) Err() error { return p.err }

// ExitCode is the exit status, -1 if a signal ended the process; valid once
// it has exited.
func (p *Proc) ExitCode() int { return p.Cmd.ProcessState.ExitCode() }

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to %s: %v", sig, p.Name, err)
	}
}

// Wait waits up to d for the process to end and reports whether it did.
func (p *Proc) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Stop sends SIGTERM and waits up to d for the exit, returning its error
// (nil for exit status 0).
func (p *Proc) Stop(d time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if !p.Wait(d) {
		return errors.New("still running " + d.String() + " after SIGTERM")
	}
	return p.err
}

// Kill ends the whole process group (SIGKILL) and waits for the process,
// bounded.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// String names the process for messages.
func (p *Proc) String() string { return fmt.Sprintf("%s (pid %d)", p.Name, p.Cmd.Process.Pid) }
