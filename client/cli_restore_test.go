package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
)

// raftsnapWithStdin is raftsnap with stdin as the command's standard input.
func raftsnapWithStdin(t *testing.T, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, stdin, &stdout, &stderr)
	return cliResult{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// TestCLIRestoreCutsAnArchiveThatFailsAtItsEnd: an archive whose fault
// shows only at its very end (here a second, empty gzip member, which the
// raft handler's reader and the vendors' readers would accept) is sent as
// it verifies, but never whole: the restore exits 3 and the cluster keeps
// its state. The same file without the fault restores.
func TestCLIRestoreCutsAnArchiveThatFailsAtItsEnd(t *testing.T) {
	c, leader := blueDevCluster(t, 1, 6)
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	data := mustSave(t, "raft", leader.HTTPAddr, good)
	if len(data) < 2*snapshot.DefaultHoldBack {
		t.Fatalf("archive of %d bytes: too small to show streaming", len(data))
	}
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, testkit.WithEmptyGzipMember(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "color", "red"); err != nil {
		t.Fatal(err)
	}

	r := raftsnap(t, "snapshot", "restore", "--source", "raft", "--address", leader.HTTPAddr, "--yes", bad)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "bad.snap failed verification while it was sent") ||
		!strings.Contains(r.Stderr, "second gzip member") || !strings.Contains(r.Stderr, "the upload was cut after") ||
		strings.Contains(r.Stdout, "Restored") {
		t.Fatalf("restore of an archive with a second gzip member: %s", r)
	}
	if v, _, _ := c.Get(ctx, "color"); v != "red" {
		t.Fatalf("the cluster changed although the archive never arrived whole: color = %q", v)
	}
	// The cluster still works, and the good file restores.
	mustRaftsnap(t, "snapshot", "restore", "--source", "raft", "--address", leader.HTTPAddr, "--yes", good)
	if v, _, _ := c.Get(ctx, "color"); v != "blue" {
		t.Fatalf("after restoring the good file color = %q", v)
	}
}

// TestCLIRestoreFileChangedDuringUpload is issue 12's case: a file changed
// in place during a slow upload. The proxy holds the upload after 1 MiB
// while part of the file past what raftsnap has read is rewritten; then
// lets it go on. What was sent was what was read and verified, the change
// fails verification, the end is never sent: exit 3, cluster unchanged.
func TestCLIRestoreFileChangedDuringUpload(t *testing.T) {
	c, leader := blueDevCluster(t, 1, 32)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "dev.snap")
	mustRaftsnap(t, "snapshot", "save", "--source", "raft", "--address", leader.HTTPAddr, file)
	if err := c.Put(ctx, "color", "red"); err != nil {
		t.Fatal(err)
	}
	r := restoreChangedMidUpload(t, "raft", leader.HTTPAddr, file)
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "failed verification while it was sent") || !strings.Contains(r.Stderr, "the upload was cut after") {
		t.Fatalf("restore of a file changed during the upload: %s", r)
	}
	if v, _, _ := c.Get(ctx, "color"); v != "red" {
		t.Fatalf("the cluster took a file that changed during the upload: color = %q", v)
	}
}

// restoreChangedMidUpload restores file into the kind of server at addr
// through a proxy that holds the upload after 1 MiB; while it holds, the
// file is rewritten 3 MiB before its end, past what raftsnap can have read
// (the 1 MiB forwarded, the proxy's and the client's socket buffers, under
// 5 MiB, the held-back MiB and a chunk: file must be 12 MiB or more).
func restoreChangedMidUpload(t *testing.T, kind, addr, file string) cliResult {
	t.Helper()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() < 12<<20 {
		t.Fatalf("archive of %d bytes: too small for the change to land past what was read", info.Size())
	}
	proxy := testkit.NewProxy(t, addr)
	release := make(chan struct{})
	proxy.Set(testkit.Fault{HoldUploadAfter: 1 << 20, ReleaseUpload: release})
	done := make(chan cliResult, 1)
	go func() {
		done <- raftsnap(t, "snapshot", "restore", "--source", kind, "--address", proxy.URL, "--yes", file)
	}()
	select {
	case <-proxy.UploadHeld():
	case r := <-done:
		t.Fatalf("restore ended before the upload was held: %s", r)
	}
	testkit.SpoilAt(t, file, info.Size()-3<<20, 64<<10)
	close(release)
	return <-done
}

// requestCounter is a stand-in target that must never be reached: it
// counts requests and answers 500.
func requestCounter(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "not expected", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

var (
	consulHeader = []byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0x0a}
	nomadHeader  = []byte{0x80}
)

// TestCLIRestoreRefusesAnotherSystemsSnapshot (issue 12, item 5): a Nomad
// snapshot into Consul, a Consul one into Nomad, anything unsealed into
// Vault, is refused with exit 4 before a request is made.
func TestCLIRestoreRefusesAnotherSystemsSnapshot(t *testing.T) {
	dir := t.TempDir()
	nomadFile, consulFile, appFile := filepath.Join(dir, "nomad.snap"), filepath.Join(dir, "consul.snap"), filepath.Join(dir, "app.snap")
	writeArchive(t, nomadFile, testkit.Noise(nomadHeader, 1000, 1))
	writeArchive(t, consulFile, testkit.Noise(consulHeader, 1000, 2))
	writeArchive(t, appFile, testkit.Noise([]byte(`{"app":1}`), 1000, 3))
	target, requests := requestCounter(t)
	for _, tc := range []struct {
		kind, file, says string
	}{
		{"consul", nomadFile, "it is a Nomad snapshot, not a Consul snapshot: HashiCorp Consul cannot read its state"},
		{"consul", appFile, "it is a snapshot of another application (neither Consul, Nomad nor Vault), not a Consul snapshot (statebin: header"},
		{"nomad", consulFile, "it is a Consul snapshot, not a Nomad snapshot"},
	} {
		r := raftsnap(t, "snapshot", "restore", "--source", tc.kind, "--address", target, "--yes", tc.file)
		if r.Code != ExitWrongFlavor || !strings.Contains(r.Stderr, tc.says) || !strings.Contains(r.Stderr, "nothing was sent (--force sends it anyway)") {
			t.Errorf("%s into %s: %s", filepath.Base(tc.file), tc.kind, r)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the target", n)
	}
	// A Vault archive is told apart by its last member, so a Vault target
	// refuses at the end, before the end leaves.
	r := raftsnap(t, "snapshot", "restore", "--source", "vault", "--address", target, "--yes", consulFile)
	if r.Code != ExitWrongFlavor || !strings.Contains(r.Stderr, "it is a Consul snapshot, not a Vault snapshot") {
		t.Errorf("consul.snap into vault: %s", r)
	}
	// --force sends it (the stand-in refuses it, as the vendor might not).
	forced, forcedRequests := requestCounter(t)
	r = raftsnap(t, "snapshot", "restore", "--source", "consul", "--address", forced, "--yes", "--force", nomadFile)
	if r.Code != ExitError || forcedRequests.Load() != 1 {
		t.Fatalf("--force: %d requests; %s", forcedRequests.Load(), r)
	}
}

func TestCLIRestoreRefusesStaleAndStdin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a.snap")
	writeValidArchive(t, file)
	target, requests := requestCounter(t)
	for args, want := range map[string]string{
		"--stale":   "--stale does not apply to restore: a restore always goes to the leader",
		"-":         "restore reads a FILE, not standard input",
		"/dev/null": "/dev/null is not a regular file",
	} {
		cmd := []string{"snapshot", "restore", "--source", "consul", "--address", target, "--yes"}
		if args == "--stale" {
			cmd = append(cmd, "--stale", file)
		} else {
			cmd = append(cmd, args)
		}
		if r := raftsnap(t, cmd...); r.Code != ExitUsage || !strings.Contains(r.Stderr, want) {
			t.Errorf("restore %s: %s", args, r)
		}
	}
	if requests.Load() != 0 {
		t.Fatal("a refused restore reached the target")
	}
}

// TestCLIInspectWrongFlavorExits4: a valid archive of another flavour is
// not a failed verification.
func TestCLIInspectWrongFlavorExits4(t *testing.T) {
	consulFixture := filepath.Join("..", "snapshot", "testdata", "inspect", "consul.snap")
	r := raftsnap(t, "snapshot", "inspect", "--flavor", "nomad", consulFixture)
	if r.Code != ExitWrongFlavor || !strings.Contains(r.Stderr, "it is a Consul snapshot, not a Nomad snapshot") || r.Stdout != "" {
		t.Fatalf("inspect --flavor nomad of a Consul snapshot: %s", r)
	}
	r = mustRaftsnap(t, "snapshot", "inspect", "--flavor", "consul", consulFixture)
	if !strings.Contains(r.Stdout, "Flavor           consul") {
		t.Fatalf("inspect of a Consul snapshot does not name its flavour:\n%s", r.Stdout)
	}
	// A damaged archive is still a failed verification.
	data, err := os.ReadFile(consulFixture)
	if err != nil {
		t.Fatal(err)
	}
	if r := raftsnapWithStdin(t, bytes.NewReader(data[:len(data)-10]), "snapshot", "inspect", "--flavor", "nomad", "-"); r.Code != ExitInvalid {
		t.Fatalf("inspect of a truncated archive: %s", r)
	}
}

// failingReader fails after its data: an I/O error of standard input.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("read /dev/stdin: input/output error")
	}
	return n, err
}

// TestCLIStandardInputAndOutput: "-" is standard output for save and
// standard input for verify and inspect, with the verdicts and exit codes
// of files.
func TestCLIStandardInputAndOutput(t *testing.T) {
	_, leader := blueDevCluster(t, 1, 0)
	save := mustRaftsnap(t, "snapshot", "save", "--source", "raft", "--address", leader.HTTPAddr, "-")
	archive := []byte(save.Stdout)
	if !strings.HasPrefix(save.Stderr, "Saved - from raft at") || len(archive) == 0 {
		t.Fatalf("save -: stderr %q, %d bytes on stdout", save.Stderr, len(archive))
	}
	if _, err := snapshot.Verify(context.Background(), bytes.NewReader(archive), snapshot.VerifyOptions{}); err != nil {
		t.Fatalf("what save - wrote does not verify: %v", err)
	}

	if r := raftsnapWithStdin(t, bytes.NewReader(archive), "snapshot", "verify", "-"); r.Code != ExitOK || !strings.HasPrefix(r.Stdout, "OK    -  index ") {
		t.Fatalf("verify -: %s", r)
	}
	if r := raftsnapWithStdin(t, bytes.NewReader(archive), "snapshot", "inspect", "--format", "json", "-"); r.Code != ExitOK || !strings.Contains(r.Stdout, `"path": "-"`) || !strings.Contains(r.Stdout, `"flavor": "consul"`) {
		t.Fatalf("inspect -: %s", r)
	}
	// Cut short by its producer: a verdict on what arrived (3); a read
	// error of standard input itself: no verdict (1).
	if r := raftsnapWithStdin(t, bytes.NewReader(archive[:len(archive)/2]), "snapshot", "verify", "-"); r.Code != ExitInvalid || !strings.Contains(r.Stdout, "FAIL  -  snapshot archive is truncated") {
		t.Fatalf("verify - of a truncated stream: %s", r)
	}
	if r := raftsnapWithStdin(t, failingReader{bytes.NewReader(archive[:len(archive)/2])}, "snapshot", "verify", "-"); r.Code != ExitError || !strings.Contains(r.Stdout, "input/output error") {
		t.Fatalf("verify - with a failing stdin: %s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshot", "verify", "-", "-"}, `"-" (standard input) can be given once`},
		{[]string{"snapshot", "save", "--source", "raft", "--address", leader.HTTPAddr, "--format", "json", "-"}, "--format json writes to standard output"},
	} {
		if r := raftsnap(t, tc.args...); r.Code != ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: %s", strings.Join(tc.args, " "), r)
		}
	}
}

// TestCLISaveToStdoutHoldsBackTheEnd: with no .part file to withhold, a
// save to standard output of an archive that fails at its end leaves the
// reader without that end, and exits 3.
func TestCLISaveToStdoutHoldsBackTheEnd(t *testing.T) {
	c, leader := startDevCluster(t, 1)
	raftcluster.Fill(t, c, 6)
	good := mustRaftsnap(t, "snapshot", "save", "--source", "raft", "--address", leader.HTTPAddr, "-").Stdout
	// A server that appends a second gzip member: a stand-in, since no
	// real one does it on demand.
	bad := testkit.WithEmptyGzipMember([]byte(good))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(bad)
	}))
	defer srv.Close()
	r := raftsnap(t, "snapshot", "save", "--source", "raft", "--address", srv.URL, "-")
	if r.Code != ExitInvalid || !strings.Contains(r.Stderr, "second gzip member") || !strings.Contains(r.Stderr, "standard output got") {
		t.Fatalf("save - of an archive failing at its end: %s", r)
	}
	if len(r.Stdout) == 0 || len(r.Stdout) > len(bad)-snapshot.DefaultHoldBack || r.Stdout != string(bad[:len(r.Stdout)]) {
		t.Fatalf("stdout got %d of %d bytes: want a streamed prefix without the held-back end", len(r.Stdout), len(bad))
	}
	if !strings.Contains(r.Stderr, fmt.Sprintf("standard output got %d bytes", len(r.Stdout))) {
		t.Fatalf("the message does not count what stdout got: %s", r.Stderr)
	}
}
