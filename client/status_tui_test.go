package client

import (
	"testing"
)

// TestStatusModeAndIntervalErrors: a bad --interval or an interactive view
// without a terminal is a usage error (exit 2) before the daemon is
// contacted; without a terminal the default mode is dump.
func TestStatusModeAndIntervalErrors(t *testing.T) {
	sock := "/nonexistent/raftsnap-test/sock"
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--interval", "0s"), ExitUsage, "",
		"--interval 0s is too short: use at least 100ms")
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--interval", "50ms"), ExitUsage, "",
		"--interval 50ms is too short: use at least 100ms")
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--interval", "soon"), ExitUsage, "", `invalid argument "soon" for "--interval"`)
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--mode", "interactive"), ExitUsage, "",
		"--mode interactive needs a terminal on stdout: use --mode dump or --mode raw")
	// Not a terminal: the default is dump, which needs the daemon.
	wantResult(t, raftsnap(t, "status", "--socket", sock, "--interval", "2s"), ExitError, "",
		"no raftsnap daemon is listening on /nonexistent/raftsnap-test/sock")
}

func TestStatusDefaultsToDumpWithoutTerminal(t *testing.T) {
	jobs, _ := newScriptedJobs()
	sock := startControlServer(t, jobs)
	r := mustRaftsnap(t, "status", "--socket", sock, "--interval", "250ms")
	wantResult(t, r, ExitOK, ">> consul-snap (snapshot): running", "")
}
