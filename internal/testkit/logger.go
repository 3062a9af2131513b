package testkit

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// LogWriter returns a writer that sends each write to t.Log, and drops
// what is written once the test's cleanups have run. Background goroutines
// (a raft transport, a server's accept loop) may outlive the test that
// started them by a moment; a plain t.Log from them then panics the whole
// test binary with "Log in goroutine after Test… has completed".
func LogWriter(t testing.TB) io.Writer {
	w := &testLogWriter{t: t}
	// Registered first, so it runs last: cleanups that stop clusters and
	// servers still log through it.
	t.Cleanup(w.close)
	return w
}

type testLogWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	// Held across t.Log, so close waits for a write in progress instead of
	// letting it race the end of the test.
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// Logger is a slog.Logger at level over LogWriter: safe to hand to code
// that logs from its own goroutines.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter(t), &slog.HandlerOptions{Level: level}))
}
