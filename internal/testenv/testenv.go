// Package testenv holds what turnkey's tests share about their environment:
// the rule that a missing outside program skips a test on a developer's
// machine but fails it in CI, and waiting for a condition instead of
// sleeping.
package testenv

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where every outside
// program the tests use is installed by .ci/run and so is required.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require stops the test because something it needs is missing: a skip with
// the reason locally, a failure under CI, so a missing install step can
// never turn CI green by skipping.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true, so this is required: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// Program returns the path of an outside program, or stops the test as
// Require does; hint says how to install it.
func Program(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Require(t, "%s not found (%s): %v", name, hint, err)
	}
	return p
}

// PostgresDSN returns the PostgreSQL server the tests may use, from
// TURNKEY_TEST_POSTGRES_DSN, or stops the test as Require does.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("TURNKEY_TEST_POSTGRES_DSN")
	if dsn == "" {
		Require(t, "TURNKEY_TEST_POSTGRES_DSN is not set; to run the PostgreSQL tests: "+
			`export TURNKEY_TEST_POSTGRES_DSN="$(sudo sh credentials/store/postgres-setup.sh)"`)
	}
	return dsn
}

// Polling starts at firstPoll and doubles up to maxPoll: a condition that
// holds at once or soon is seen at once, and one that takes seconds (a
// process starting, a poll interval passing) costs a check every maxPoll,
// not a hundred a second of HTTP requests or allocations.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// WaitFor checks cond until it holds or d has passed, then fails the test
// naming what it waited for. cond runs on the calling goroutine, so it may
// itself stop the test (e.g. when the process it waits on has exited).
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !Eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Eventually checks cond until it holds (true) or d has passed (false).
func Eventually(d time.Duration, cond func() bool) bool {
	return EventuallyErr(d, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}) == nil
}

var errNotYet = errors.New("condition not met")

// WaitForErr is WaitFor for a check that says what it saw: it checks until
// check returns nil or d has passed, then fails the test naming what it
// waited for and check's last error.
func WaitForErr(t testing.TB, what string, d time.Duration, check func() error) {
	t.Helper()
	if err := EventuallyErr(d, check); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
	}
}

// EventuallyErr checks until check returns nil (then nil) or d has passed
// (then check's last error).
func EventuallyErr(d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	every := firstPoll
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(min(every, time.Until(deadline)+time.Millisecond))
		every = min(2*every, maxPoll)
	}
}
