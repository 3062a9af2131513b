package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// envCanary is in every daemon's environment and must never be printed.
var envCanary = fmt.Sprintf("env-canary-%d-%d", os.Getpid(), time.Now().UnixNano())

// daemonProc is a running `raftsnap daemon`.
type daemonProc = daemonproc.Daemon

// daemonCommand is `raftsnap daemon args...` with the canary in its
// environment.
func daemonCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := daemonproc.Command(testkit.Raftsnap(t), args...)
	cmd.Env = append(cmd.Env, "RAFTSNAP_E2E_CANARY="+envCanary)
	return cmd
}

// spawnDaemon starts the binary with args and returns at once.
func spawnDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return daemonproc.Spawn(t, daemonCommand(t, args...))
}

// startDaemon starts the daemon with a config file and waits for its
// "daemon started" log line.
func startDaemon(t *testing.T, configPath string) *daemonProc {
	t.Helper()
	return daemonproc.Start(t, daemonCommand(t, "--config", configPath))
}

// cliResult is one run of the raftsnap CLI binary.
type cliResult = testkit.CLIResult

// rs runs the raftsnap binary (not the daemon) and returns its outcome.
func rs(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return testkit.RunCLI(t, exec.CommandContext(ctx, testkit.Raftsnap(t), args...))
}

func mustRS(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := rs(t, args...)
	if r.Code != 0 {
		t.Fatalf("raftsnap %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// readFiles returns the content of each file matching the filepath.Glob
// pattern, by path: the sidecars a test searches for what must never be
// written.
func readFiles(t *testing.T, pattern string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = string(data)
	}
	return files
}

// daemonAt reaches the daemon on sock through the control client.
func daemonAt(sock string) *daemonProc {
	return &daemonProc{Sock: sock, Client: controlapi.NewClient(sock)}
}

func fetchStatus(t *testing.T, sock string) controlapi.DaemonStatus {
	t.Helper()
	return daemonAt(sock).Status(t)
}

func jobStatus(t *testing.T, st controlapi.DaemonStatus, name string) controlapi.JobStatus {
	t.Helper()
	return daemonproc.JobOf(t, st, name)
}

// awaitStatus polls /status until cond holds for the named job.
func awaitStatus(t *testing.T, sock, name, what string, cond func(controlapi.JobStatus) bool) controlapi.JobStatus {
	t.Helper()
	return daemonAt(sock).AwaitJob(t, name, what, cond)
}

var runningWithBytes = daemonproc.RunningWithBytes

// trickle forwards a body 1 KiB per 100 ms, so that a run is reliably in
// progress when a test resets the job or stops the daemon.
var trickle = testkit.Fault{Trickle: testkit.Trickle{Chunk: 1 << 10, Every: 100 * time.Millisecond}}

// newTrickleProxy puts a trickling proxy in front of a real dev-cluster
// node and returns its URL.
func newTrickleProxy(t *testing.T, upstream string) string {
	t.Helper()
	p := testkit.NewProxy(t, upstream)
	p.Set(trickle)
	return p.URL
}

var (
	shortTempDir = testkit.ShortTempDir
	writeFile    = testkit.WriteFile
	partFiles    = testkit.PartFiles
)

func startCluster(t *testing.T, token string) *devcluster.Cluster {
	t.Helper()
	return raftcluster.Start(t, devcluster.Options{Nodes: 1, Token: token})
}

func leader(t *testing.T, c *devcluster.Cluster) *devcluster.Node {
	t.Helper()
	return raftcluster.Leader(t, c)
}

// putRandom writes n keys of size random bytes each (incompressible, so
// that a paced snapshot of them takes a while).
func putRandom(t *testing.T, c *devcluster.Cluster, format string, n, size int) {
	t.Helper()
	for i := range n {
		raftcluster.Put(t, c, fmt.Sprintf(format, i), randomText(t, size))
	}
}

func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n*3/4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

var snapName = regexp.MustCompile(`[A-Za-z0-9_.-]+-\d{8}T\d{6}Z-\d+(?:-\d+)?\.snap`)

// storedSnapshots returns the committed snapshots of dir: archives with a
// sidecar, as the store lists them. Read-only: opening it for writing would
// take the store's lock from a daemon that may still (or again) run on it.
func storedSnapshots(t *testing.T, dir string) []store.Entry {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// listReadOnly lists a store without changing it, as a running daemon may
// be writing to it.
func listReadOnly(dir string) ([]store.Entry, []store.Foreign, error) {
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		return nil, nil, err
	}
	return st.List(context.Background())
}

// wakeupStored runs the snapshot job now (signal wakeup --wait on the
// daemon at sock) and returns the command's output and the archive it
// stored in storeDir, which must verify, with its sidecar, which must agree
// with it.
func wakeupStored(t *testing.T, sock, job, storeDir string) (cliResult, string, *snapshot.Report, store.Entry) {
	t.Helper()
	r := rs(t, "signal", "wakeup", job, "--wait", "--socket", sock)
	if r.Code != 0 {
		t.Fatalf("signal wakeup %s --wait: %s", job, r)
	}
	name := snapName.FindString(r.Stdout)
	if name == "" {
		t.Fatalf("wakeup output names no snapshot: %s", r)
	}
	archive := filepath.Join(storeDir, name)
	report, err := snapshot.VerifyFile(t.Context(), archive, snapshot.VerifyOptions{})
	if err != nil {
		t.Fatalf("the stored snapshot %s does not verify: %v", name, err)
	}
	sc := readSidecar(t, archive)
	if sc.SHA256 != report.ArchiveSHA256 || !sc.Verified || sc.Job != job || sc.Index != report.Meta.Index {
		t.Errorf("sidecar %+v disagrees with the archive (sha256 %s, index %d)", sc, report.ArchiveSHA256, report.Meta.Index)
	}
	return r, archive, report, sc
}

func readSidecar(t *testing.T, archivePath string) store.Entry {
	t.Helper()
	data, err := os.ReadFile(archivePath + ".json")
	if err != nil {
		t.Fatalf("sidecar of %s: %v", filepath.Base(archivePath), err)
	}
	var e store.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("sidecar of %s: %v", filepath.Base(archivePath), err)
	}
	return e
}

// metricValue finds the series of a scraped family (see
// daemonproc.MetricValue).
var metricValue = daemonproc.MetricValue

func scrapeMetric(t *testing.T, d *daemonProc, family string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(d.MetricFamilies(t)[family], labels)
	if !ok {
		t.Fatalf("/metrics has no %s%v", family, labels)
	}
	return v
}

// writeConfig writes dir/raftsnap.yml and returns its path. global and
// each job are flow-style YAML mappings, one line each (a job per line
// reads like a table); in them %[1]s stands for dir and %[2]s on for args.
func writeConfig(t *testing.T, dir, global string, jobs []string, args ...any) string {
	t.Helper()
	path := filepath.Join(dir, "raftsnap.yml")
	writeConfigFile(t, path, 0o600, global, jobs, args...)
	return path
}

// writeConfigFile is writeConfig to path, with mode; %[1]s is path's
// directory.
func writeConfigFile(t *testing.T, path string, mode os.FileMode, global string, jobs []string, args ...any) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global: %s\njobs:\n", global)
	for _, j := range jobs {
		fmt.Fprintf(&b, "  - %s\n", j)
	}
	writeFile(t, path, fmt.Sprintf(b.String(), append([]any{filepath.Dir(path)}, args...)...), mode)
}

// controlIn is the global section with the control socket in
// dir/control/sock and nothing else.
const controlIn = `{control: {sockpath: %[1]s/control/sock}}`

// controlAndMetrics is controlIn with a metrics listener on a free port.
const controlAndMetrics = `{control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}}`

// pruneJob is a prune job of dir/store keeping one snapshot: a job that
// needs no source.
const pruneJob = `{name: prune, type: prune, store: {path: %[1]s/store}, interval: 1h, pruning: {keep: [{last_n: {count: 1}}]}}`

// pruneOnlyConfig writes a configuration with one prune job and the
// control socket at sockpath.
func pruneOnlyConfig(t *testing.T, dir, sockpath string) string {
	t.Helper()
	return writeConfig(t, dir, `{control: {sockpath: %[2]s}}`, []string{pruneJob}, sockpath)
}

// binaryIn copies the raftsnap binary into dir, made 0755 (executable by
// another user; the build cache may not be reachable for them), and
// returns the copy's path.
func binaryIn(t *testing.T, dir string) string {
	t.Helper()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testkit.Raftsnap(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "raftsnap")
	writeFile(t, bin, string(data), 0o755)
	return bin
}

// awaitPartFiles waits until a download in progress has its temp file in
// dir and returns the temp files. The file appears once the archive's
// meta.json has arrived (the snapshot is named from it before its first
// byte is stored), a little after the run reports its first bytes.
func awaitPartFiles(t *testing.T, dir string) []string {
	t.Helper()
	var parts []string
	if err := testkit.Poll(testkit.DefaultWait, func() bool {
		parts = partFiles(t, dir)
		return len(parts) > 0
	}); err != nil {
		t.Fatalf("no temp file in %s while a run downloads", dir)
	}
	return parts
}
