package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// hookScript writes an executable shell script into dir.
func hookScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// hookJob is a snapshot job of a token-protected dev cluster, its token in
// a file, through a deferred source as the daemon builds it.
func hookJob(t *testing.T, hooks []Hook) (*SnapshotJob, *testStoreDir) {
	t.Helper()
	c := raftcluster.Start(t, devcluster.Options{Nodes: 1, Token: "hook-test-token-1234"})
	raftcluster.Put(t, c, "seed", "1")
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("hook-test-token-1234\n"), 0o600)
	src, err := source.NewDeferred(source.Config{Kind: source.Raft, Address: raftcluster.Leader(t, c).HTTPAddr, TokenFile: tokenFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Local(t)
	policy, _ := retention.NewPolicy(mustRule(retention.NewLastN(5)))
	j, err := NewSnapshotJob(SnapshotOptions{Name: "hooked", Source: src, Store: st, Interval: time.Hour, Policy: policy, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	startJob(t, j)
	return j, &testStoreDir{dir: st.Dir()}
}

type testStoreDir struct{ dir string }

// TestHooksEnvironment: hooks get the run described, the source's address,
// and the token only when allowed; never the daemon's environment.
func TestHooksEnvironment(t *testing.T) {
	t.Setenv("RAFTSNAP_DAEMON_SECRET", "from-the-daemon-environment")
	dir := t.TempDir()
	dump := func(name string) string { return hookScript(t, dir, name, "env > "+filepath.Join(dir, name+".env")) }
	j, _ := hookJob(t, []Hook{
		{Path: dump("pre"), Timeout: 10 * time.Second},
		{Path: dump("pre-token"), Timeout: 10 * time.Second, PassToken: true},
	})
	rep := wakeAndWait(t, j)
	if rep.Result != controlapi.ResultSuccess || len(rep.Warnings) != 0 {
		t.Fatalf("run: %+v", rep)
	}
	read := func(name string) map[string]string {
		data, err := os.ReadFile(filepath.Join(dir, name+".env"))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				env[k] = v
			}
		}
		return env
	}
	// The script ran twice per hook list: pre, then post (the same list).
	pre := read("pre")
	if pre["RAFTSNAP_HOOK"] != "post_snapshot" || pre["RAFTSNAP_JOB"] != "hooked" || pre["RAFTSNAP_RESULT"] != "success" ||
		pre["RAFTSNAP_SNAPSHOT"] != rep.Snapshot || pre["RAFTSNAP_RUN_ID"] != rep.ID || pre["RAFTSNAP_SOURCE_KIND"] != "raft" ||
		!strings.HasPrefix(pre["RAFTSNAP_SOURCE_ADDRESS"], "http://127.0.0.1:") {
		t.Errorf("post-snapshot environment: %v", pre)
	}
	if _, ok := pre["RAFTSNAP_DAEMON_SECRET"]; ok {
		t.Error("a hook saw the daemon's environment")
	}
	if _, ok := pre["RAFTSNAP_RAFT_TOKEN"]; ok {
		t.Error("a hook without pass_token got the token")
	}
	if tok := read("pre-token")["RAFTSNAP_RAFT_TOKEN"]; tok != "hook-test-token-1234" {
		t.Errorf("pass_token hook got token %q", tok)
	}
}

// TestHookFailures: a fatal pre-snapshot hook fails the run with nothing
// taken (reason hook); a non-fatal one and a failing post-snapshot hook
// become warnings; a hung hook and what it started are killed at its
// timeout.
func TestHookFailures(t *testing.T) {
	dir := t.TempDir()
	fail := hookScript(t, dir, "fail", `[ "$RAFTSNAP_HOOK" = pre_snapshot ] && { echo "consul kv put failed" >&2; exit 3; }; exit 0`)
	t.Run("fatal pre-snapshot hook", func(t *testing.T) {
		j, st := hookJob(t, []Hook{{Path: fail, Timeout: 10 * time.Second, ErrIsFatal: true}})
		rep := wakeAndWait(t, j)
		if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "pre-snapshot hook "+fail+" failed: exit status 3") ||
			FailureReason(&HookError{}) != ReasonHook {
			t.Fatalf("run: %+v", rep)
		}
		if names, _ := filepath.Glob(filepath.Join(st.dir, "*.snap")); len(names) != 0 {
			t.Fatalf("a snapshot was taken after the fatal pre-hook failed: %v", names)
		}
	})
	t.Run("non-fatal hooks", func(t *testing.T) {
		postFail := hookScript(t, dir, "post-fail", `[ "$RAFTSNAP_HOOK" = post_snapshot ] && exit 1; exit 0`)
		j, _ := hookJob(t, []Hook{{Path: fail, Timeout: 10 * time.Second}, {Path: postFail, Timeout: 10 * time.Second, ErrIsFatal: true}})
		rep := wakeAndWait(t, j)
		if rep.Result != controlapi.ResultSuccess || len(rep.Warnings) != 2 ||
			!strings.Contains(rep.Warnings[0], "pre-snapshot hook "+fail+" failed") || !strings.Contains(rep.Warnings[1], "post-snapshot hook "+postFail+" failed") {
			t.Fatalf("run: %+v", rep)
		}
	})
	t.Run("hung hook", func(t *testing.T) {
		pidFile := filepath.Join(dir, "child.pid")
		hung := hookScript(t, dir, "hung", "sleep 600 & echo $! > "+pidFile+"; wait")
		j, _ := hookJob(t, []Hook{{Path: hung, Timeout: 300 * time.Millisecond, ErrIsFatal: true}})
		rep := wakeAndWait(t, j)
		if rep.Result != controlapi.ResultFailure || !strings.Contains(rep.Error, "killed after its timeout of 300ms") {
			t.Fatalf("run: %+v", rep)
		}
		data, _ := os.ReadFile(pidFile)
		pid := strings.TrimSpace(string(data))
		testkit.EventuallyWithin(t, 10*time.Second, "the hook's child killed", func() bool {
			_, err := os.Stat("/proc/" + pid)
			return pid != "" && err != nil
		})
	})
}
