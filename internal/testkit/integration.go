package testkit

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// SkipEnv names the variable that lets a run without the integration tools
// skip the tests that need them, saying so, instead of failing. CI never
// sets it.
const SkipEnv = "RAFTSNAP_SKIP_INTEGRATION"

// Integration marks a test that needs something outside the Go toolchain: a
// real Consul or Nomad server, root, tmux, strace, systemd's tools or the
// built raftsnap binary. Under -short it skips, so that `go test -short
// ./...` is a fast loop; otherwise it returns and the test goes on.
func Integration(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: skipped under -short", needs)
	}
}

// Missing is the one rule for a tool or privilege a test needs but does not
// have: the test fails with msg, unless RAFTSNAP_SKIP_INTEGRATION=1 says to
// skip it knowingly. A missing tool never makes a test pass quietly.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("SKIPPED, NOT PASSED: %s [%s=1]", msg, SkipEnv)
	}
	t.Fatalf("%s (set %s=1 to skip knowingly; CI never does)", msg, SkipEnv)
}

// RequireRoot is Integration plus root: without root the test fails, or
// skips under RAFTSNAP_SKIP_INTEGRATION=1. why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	Integration(t, "root")
	if os.Geteuid() != 0 {
		Missing(t, why+" needs root (CI runs as root)")
	}
}

// RequireTool is Integration plus a program on PATH, whose path it
// returns; hint says how to install it.
func RequireTool(t testing.TB, name, hint string) string {
	t.Helper()
	Integration(t, name)
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed: "+hint)
	}
	return path
}

// MainIntegration is for the TestMain of a package whose every test is
// Integration (e2e/): under -short it runs none and says so, sparing each
// test's set-up before its own skip; otherwise it runs them.
func MainIntegration(m *testing.M, needs string) int {
	flag.Parse()
	if testing.Short() {
		fmt.Printf("every test here needs %s: skipped under -short\n", needs)
		return 0
	}
	return m.Run()
}
