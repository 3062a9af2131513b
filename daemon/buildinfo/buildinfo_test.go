package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name            string
		bi              *debug.BuildInfo
		ldflags         string
		version, commit string
	}{
		{"no build info", nil, "", "devel", "unknown"},
		{"go build outside a checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "devel", "unknown"},
		{"go build in a clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab"}, Settings: vcs("0123456789abcdef", "false")},
			"", "v0.0.0-20260101000000-0123456789ab", "0123456789abcdef"},
		{"go build with changes", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "true")}, "", "devel", "0123456789abcdef-dirty"},
		{"go install @tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "", "v1.4.0", "unknown"},
		{"make build", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("fedcba9876543210", "false")}, "v1.5.0-3-gfedcba9", "v1.5.0-3-gfedcba9", "fedcba9876543210"},
	} {
		got := fromBuildInfo(tc.bi, tc.ldflags)
		if got.Version != tc.version || got.Commit != tc.commit || got.GoVersion == "" || got.OS == "" || got.Arch == "" {
			t.Errorf("%s: got %+v, want version %q commit %q", tc.name, got, tc.version, tc.commit)
		}
	}
}

// TestPlainGoBuildShowsTheCommit builds raftsnap with plain `go build` plus
// the Makefile's version flag, and checks that `raftsnap version` prints
// that version and the checkout's commit, which only Go's embedded VCS
// information can supply.
func TestPlainGoBuildShowsTheCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the raftsnap binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("not a git checkout, so there is no commit to embed (git %s: %v)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	want := git("rev-parse", "HEAD")
	if git("status", "--porcelain") != "" {
		want += "-dirty"
	}
	if info, err := os.Stat(filepath.Join(root, ".git")); err != nil || !info.IsDir() {
		// A linked worktree has a .git file, which Go's VCS lookup does
		// not recognise: it builds without VCS information there.
		t.Skip("not the main checkout of the repository (a git worktree?): go build embeds no commit here")
	}
	bin := filepath.Join(t.TempDir(), "raftsnap")
	// -buildvcs=auto is go build's default; the flag overrides a
	// GOFLAGS=-buildvcs=false the environment may set.
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "-ldflags", "-X github.com/raftsnap/raftsnap/daemon/buildinfo.version=v0.0.0-buildinfo-test", ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--socket", filepath.Join(t.TempDir(), "no-daemon")).Output()
	if err != nil {
		t.Fatalf("raftsnap version: %v\n%s", err, out)
	}
	if first := strings.SplitN(string(out), "\n", 2)[0]; !strings.HasPrefix(first, "raftsnap v0.0.0-buildinfo-test (commit "+want+", ") {
		t.Fatalf("raftsnap version printed %q, want version v0.0.0-buildinfo-test and commit %s", first, want)
	}
}
