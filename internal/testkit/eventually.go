package testkit

import (
	"context"
	"testing"
	"time"
)

// DefaultWait bounds Eventually: long enough for a loaded 2-core machine,
// short enough that a hang fails with a message instead of the go test
// timeout's stack dump.
const DefaultWait = 30 * time.Second

// pollEvery is how often Eventually looks again. Polling is for state that
// announces no event (a raft FSM, a status endpoint, a file); wherever an
// event exists, wait for the event instead.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond until it holds, failing the test after DefaultWait
// with "timed out after …s waiting for <what>".
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, DefaultWait, what, cond)
}

// EventuallyWithin is Eventually with its own deadline.
func EventuallyWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// errTimeout is what Poll returns when the deadline passed.
type errTimeout struct{}

func (errTimeout) Error() string { return "timed out" }

// Poll is Eventually without a test: it returns nil once cond holds, or an
// error after timeout. For helpers that must not call t.Fatal (goroutines,
// cleanups, programs).
func Poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout{}
		}
		<-tick.C
	}
	return nil
}

// Context is a context for one test's calls, canceled when the test ends
// and at the latest after 2 minutes: a bound on hangs, not a measure.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
