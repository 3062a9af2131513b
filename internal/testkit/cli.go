package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// CLIResult is one run of the raftsnap CLI: in process (the client's
// tests) or the built binary (RunCLI).
type CLIResult struct {
	Code           int
	Stdout, Stderr string
}

func (r CLIResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// RunCLI runs cmd, a raftsnap CLI command (possibly as another user), and
// returns its exit code and output. A command that could not be run at
// all fails the test.
func RunCLI(t testing.TB, cmd *exec.Cmd) CLIResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return CLIResult{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}
