package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// proc is a started process in its own process group, with its output kept
// for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error // valid after done is closed
}

// startProc starts cmd in a new process group and registers a cleanup that
// kills the group (SIGKILL) if it still runs and prints its output when the
// test failed.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, out: &logbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s (last 4 KiB):\n%s", name, p.out.Tail(4096))
		}
	})
	return p
}

// kill ends the whole process group and waits for the process, bounded.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// stop sends SIGTERM and waits up to d for the exit, returning its error
// (nil for exit status 0).
func (p *proc) stop(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return errors.New("still running " + d.String() + " after SIGTERM")
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// runOut runs cmd to completion within ctx, killing its process group when
// the deadline passes, and returns stdout and stderr.
func runOut(ctx context.Context, cmd *exec.Cmd) (stdout, stderr []byte, err error) {
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return o.Bytes(), e.Bytes(), err
}
