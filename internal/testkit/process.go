package testkit

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Output collects what a process writes and wakes waiters on each write,
// so that tests await a line instead of sleeping.
type Output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewOutput returns an empty Output.
func NewOutput() *Output { return &Output{changed: make(chan struct{}, 1)} }

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	n, err := o.buf.Write(p)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return n, err
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Process is a child process a test started. Its stdout and stderr are
// collected (unless the command had them set), it is killed and waited for
// when the test ends, and its output is logged if the test failed.
type Process struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *Output
	exited         chan struct{}
	waitErr        error
}

// StartProcess starts cmd.
func StartProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Stdout: NewOutput(), Stderr: NewOutput(), exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%v (pid %d) output:\nstdout:\n%s\nstderr:\n%s", cmd.Args, cmd.Process.Pid, p.Stdout, p.Stderr)
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitErr is what Wait returned; valid once Exited is closed.
func (p *Process) WaitErr() error { return p.waitErr }

// Output is what the process wrote so far, stdout then stderr.
func (p *Process) Output() string { return p.Stdout.String() + p.Stderr.String() }

// WaitOutput waits until re matches what the process wrote to out, and
// returns the submatches. It fails if the process exits first, or after
// timeout.
func (p *Process) WaitOutput(t testing.TB, out *Output, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case <-out.changed:
		case <-p.exited:
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%v) before writing %q\nstdout:\n%s\nstderr:\n%s", p.Cmd.Path, p.waitErr, re, p.Stdout, p.Stderr)
		case <-deadline:
			t.Fatalf("%s did not write %q within %s\nstdout:\n%s\nstderr:\n%s", p.Cmd.Path, re, timeout, p.Stdout, p.Stderr)
		}
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.Pid(), err)
	}
}

// Kill kills the process (SIGKILL) and waits for it.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	<-p.exited
}

// ExitCode waits up to timeout for the process to exit and returns its
// exit code.
func (p *Process) ExitCode(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) still running %s after being told to stop\nstderr:\n%s", p.Cmd.Path, p.Pid(), timeout, p.Stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(p.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if p.waitErr != nil {
		t.Fatalf("waiting for %s: %v", p.Cmd.Path, p.waitErr)
	}
	return 0
}

// Stop sends SIGTERM and returns the exit code, failing if the process is
// still running after timeout.
func (p *Process) Stop(t testing.TB, timeout time.Duration) int {
	t.Helper()
	p.Signal(t, syscall.SIGTERM)
	return p.ExitCode(t, timeout)
}
