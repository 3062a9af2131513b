// Package e2e holds raftsnap's end-to-end tests: the real binary (built
// once, see testkit.Raftsnap) run as a daemon and as a CLI with real
// configurations, against real dev clusters (in this test process, over
// 127.0.0.1 TCP), real Consul and Nomad servers, real unix sockets and
// files, a real terminal (tmux). Every test starts what it needs and can
// run alone: go test ./e2e -run TestName. Under -short they all skip.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

func TestMain(m *testing.M) {
	code := testkit.MainIntegration(m, "the built raftsnap binary")
	// Every test stops what it started; a child still running now (a
	// daemon, a server, strace, tmux) was leaked by one of them.
	if left := testkit.ChildProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: child processes left running after the tests:\n%s\n", left)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
