package e2e

// Crash tests: the real daemon binary killed with SIGKILL while it writes,
// prunes and restores, restarted, and the store checked after every kill;
// the fsync/rename order of a commit checked under strace (the closest a
// test gets to a power cut). See docs/reliability.md.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// crashKillsCI is how many SIGKILLs TestCrashKillLoop deals in a normal run;
// RAFTSNAP_SOAK_KILLS (make soak) raises it.
const crashKillsCI = 200

// crashJobs write, prune and restore through rate-limited proxies: %[2]s
// in front of the source, %[3]s of the target; %[4]d is crashKeepFloor.
var crashJobs = []string{
	`{name: snap, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1s, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: 4}}]}}`,
	`{name: prune, type: prune, store: {path: %[1]s/store}, interval: 1s, owners: [snap], pruning: {keep: [{last_n: {count: %[4]d}}]}}`,
	`{name: restore, type: restore, from_job: snap, snapshot: latest, target: {type: raft, address: %[3]s}}`,
}

// crashKeepFloor is the prune job's last_n: once the store has held that
// many snapshots it must never list fewer, whatever was killed when.
const crashKeepFloor = 2

// postSignal sends a wakeup without waiting for the run, so that the kill
// lands while the run is in progress.
func postSignal(t *testing.T, sock, jobName string) {
	t.Helper()
	daemonAt(sock).Signal(t, jobName, controlapi.OpWakeup, false)
}

// crashState is what one kill left in the store, read before the restart.
type crashState struct {
	entries []store.Entry
	parts   []string // base names of *.part files
	orphans []string // archives without a sidecar
}

// inspectStore checks the store as a crash left it, without changing it:
// every listed snapshot verifies and its sidecar matches the file.
func inspectStore(t *testing.T, dir string) crashState {
	t.Helper()
	entries, foreign, err := listReadOnly(dir)
	if err != nil {
		t.Fatalf("listing the store after a kill: %v", err)
	}
	var st crashState
	st.entries = entries
	for _, e := range entries {
		report, err := snapshot.VerifyFile(t.Context(), e.Path, snapshot.VerifyOptions{})
		if err != nil {
			t.Fatalf("listed snapshot %s does not verify after a kill: %v", e.Name, err)
		}
		if !e.Verified || e.Size != report.ArchiveBytes || e.SHA256 != report.ArchiveSHA256 || e.Index != report.Meta.Index || e.Job != "snap" {
			t.Fatalf("sidecar of %s disagrees with its file after a kill: sidecar %d bytes sha256 %s index %d job %s verified %v; file %d bytes sha256 %s index %d",
				e.Name, e.Size, e.SHA256, e.Index, e.Job, e.Verified, report.ArchiveBytes, report.ArchiveSHA256, report.Meta.Index)
		}
	}
	for _, f := range foreign {
		switch {
		case strings.HasSuffix(f.Name, ".part"):
			// (sidecar temp files are not reported by List; globbed below)
		case strings.HasPrefix(f.Problem, "archive without sidecar"):
			st.orphans = append(st.orphans, f.Name)
		default:
			t.Fatalf("after a kill the store holds an unexpected file %s (%s)", f.Name, f.Problem)
		}
	}
	for _, p := range partFiles(t, dir) {
		st.parts = append(st.parts, filepath.Base(p))
	}
	return st
}

// newer reports whether a sorts before b in the store's newest-first order.
func newer(a, b store.Entry) bool {
	s := []store.Entry{b, a}
	store.SortNewestFirst(s)
	return s[0].Name == a.Name
}

// TestCrashKillLoop kills the daemon with SIGKILL at a random moment
// (0-300 ms) after waking a snapshot, prune or restore run, over and over,
// against a real dev cluster. After every kill, before the restart, every
// listed snapshot verifies and matches its sidecar, and no good snapshot is
// missing that pruning had to keep; after every restart the temp files the
// kill left are gone and logged, archives left without a sidecar are
// adopted and logged, and a run of the killed job succeeds.
func TestCrashKillLoop(t *testing.T) {
	// The longest test of the package (~100 s of 200 start-kill cycles),
	// and robust to a busy machine (it asserts invariants, not timings):
	// the other parallel tests run beside it instead of after it.
	t.Parallel()
	kills := crashKills(t, crashKillsCI)
	source, target := startCluster(t, ""), startCluster(t, "")
	ctx := context.Background()
	// 2 MiB of incompressible state through proxies at 8 MiB/s: a run
	// lasts ~250 ms, so most kills land inside one.
	for i := range 64 {
		if err := source.Put(ctx, fmt.Sprintf("key-%02d", i), randomText(t, 32<<10)); err != nil {
			t.Fatal(err)
		}
	}
	dir := shortTempDir(t)
	storeDir := filepath.Join(dir, "store")
	configPath := writeConfig(t, dir, `{logging: {level: info}, control: {sockpath: %[1]s/control/sock}, shutdown_timeout: 5s}`, crashJobs,
		newRateProxy(t, leader(t, source).HTTPAddr, crashRate), newRateProxy(t, leader(t, target).HTTPAddr, crashRate), crashKeepFloor)

	var (
		prev                          crashState
		floor                         = keptFloor{floor: crashKeepFloor}
		withPart, withOrphan, adopted int
	)
	loop := killLoop{
		config:   configPath,
		kills:    kills,
		actions:  []string{"snap", "snap", "prune", "restore"}, // writes weigh double
		maxDelay: 300 * time.Millisecond,
		started: func(i int, d *daemonProc) {
			logs := d.Stderr.String()
			// The kill's leftovers were settled by start-up, and it said so.
			for _, p := range prev.parts {
				if _, err := os.Stat(filepath.Join(storeDir, p)); err == nil {
					t.Fatalf("kill %d: temp file %s survived the restart", i, p)
				}
				if !strings.Contains(logs, p) || !strings.Contains(logs, "removed temp file left by an interrupted write") {
					t.Fatalf("kill %d: start-up did not log removing %s:\n%s", i, p, logs)
				}
			}
			for _, o := range prev.orphans {
				if !regexp.MustCompile(`adopted archive left without a sidecar.* file=` + regexp.QuoteMeta(o)).MatchString(logs) {
					t.Fatalf("kill %d: the archive without sidecar %s was not adopted at start-up (it was complete: SIGKILL loses no written data):\n%s", i, o, logs)
				}
				adopted++
			}
		},
		killed: func(i int, job string) {
			st := inspectStore(t, storeDir)
			if len(st.parts) > 0 {
				withPart++
			}
			if len(st.orphans) > 0 {
				withOrphan++
			}
			floor.check(t, i, job, st.entries)
			prev = st
		},
	}
	start := time.Now()
	byAction := loop.run(t)
	t.Logf("%d kills in %s (%v): %d left a temp file, %d an archive without sidecar (%d adopted at restart)",
		kills, time.Since(start).Round(time.Second), byAction, withPart, withOrphan, adopted)
	// The loop proves something only if kills land mid-write.
	if kills >= 50 && withPart == 0 {
		t.Fatalf("none of %d kills interrupted a snapshot write: the test no longer exercises what it claims", kills)
	}
}

// crashKills is how many kills a crash loop deals: ci, or
// RAFTSNAP_SOAK_KILLS (make soak).
func crashKills(t *testing.T, ci int) int {
	t.Helper()
	v := os.Getenv("RAFTSNAP_SOAK_KILLS")
	if v == "" {
		return ci
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("RAFTSNAP_SOAK_KILLS=%q: want a positive number of kills", v)
	}
	return n
}

// killLoop drives a crash loop, whatever the store. kills times it starts
// the daemon on config, lets started check what start-up did with the
// previous kill's leftovers, runs the previously killed job once (which
// must succeed), wakes a job drawn from actions and SIGKILLs the daemon a
// random 0 to maxDelay later, and lets killed check the store as the kill
// left it, before the next start. The random draws are seeded; the seed is
// logged, and RAFTSNAP_CRASH_SEED replays one.
type killLoop struct {
	config   string
	kills    int
	actions  []string
	maxDelay time.Duration
	started  func(i int, d *daemonProc)
	killed   func(i int, job string)
}

// run runs the loop and returns how many kills each action took.
func (l killLoop) run(t *testing.T) map[string]int {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("RAFTSNAP_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RAFTSNAP_CRASH_SEED=%q: want a number", v)
		}
		seed = n
	}
	t.Logf("kill points seeded with %d (RAFTSNAP_CRASH_SEED=%d replays them)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	killedJob := l.actions[0]
	byAction := map[string]int{}
	for i := range l.kills {
		d := startDaemon(t, l.config)
		l.started(i, d)
		// The killed job's next run succeeds, and the daemon answers.
		if r := rs(t, "signal", "wakeup", killedJob, "--wait", "--socket", d.Sock); r.Code != 0 {
			t.Fatalf("kill %d: the first %s run after the restart failed: %s\ndaemon log:\n%s", i, killedJob, r, d.Stderr)
		}

		killedJob = l.actions[rng.IntN(len(l.actions))]
		byAction[killedJob]++
		postSignal(t, d.Sock, killedJob)
		time.Sleep(time.Duration(rng.Int64N(int64(l.maxDelay) + 1))) // the random kill point, not a wait
		if err := d.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-d.Exited()
		l.killed(i, killedJob)
	}
	return byAction
}

// keptFloor checks, kill after kill, that no good snapshot was lost: the
// prune job keeps the newest floor, so each of the previous newest ones is
// either still listed or has that many newer ones above it, and once the
// store has held floor snapshots it never lists fewer.
type keptFloor struct {
	floor     int
	prev      []store.Entry // newest first
	maxListed int
}

func (k *keptFloor) check(t *testing.T, i int, job string, entries []store.Entry) {
	t.Helper()
	entries = slices.Clone(entries)
	store.SortNewestFirst(entries)
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.Name] = true
	}
	for _, p := range k.prev[:min(k.floor, len(k.prev))] {
		if listed[p.Name] {
			continue
		}
		n := 0
		for _, e := range entries {
			if newer(e, p) {
				n++
			}
		}
		if n < k.floor {
			t.Fatalf("kill %d (during %s): %s, one of the %d newest snapshots, is gone with only %d newer listed: %v",
				i, job, p.Name, k.floor, n, entries)
		}
	}
	k.maxListed = max(k.maxListed, len(entries))
	if want := min(k.floor, k.maxListed); len(entries) < want {
		t.Fatalf("kill %d (during %s): the store lists %d snapshots, pruning keeps at least %d", i, job, len(entries), want)
	}
	k.prev = entries
}

// TestCrashCommitSyscallOrder runs the daemon under strace and checks the
// order of the system calls that make a snapshot durable, for the archive
// and for its sidecar: create the temp file, fsync it, rename it to its
// final name, fsync the directory. This is what survives a power cut: a
// rename that reaches the disk before the data it names would leave a
// listed file of zeros.
func TestCrashCommitSyscallOrder(t *testing.T) {
	stracePath := testkit.RequireTool(t, "strace", "apt-get install strace (.ci/run does)")
	source := startCluster(t, "")
	if err := source.Put(context.Background(), "k", randomText(t, 64<<10)); err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	storeDir := filepath.Join(dir, "store")
	configPath := writeConfig(t, dir, controlIn, []string{snapJob(5)}, leader(t, source).HTTPAddr)
	tracePath := filepath.Join(dir, "trace")

	// -y prints the path behind each descriptor, so fsync(7</dir/x.part>)
	// says what was synced. strace kills its tracee when it dies.
	d := daemonproc.Spawn(t, exec.Command(stracePath, "-f", "-y", "-qq", "-o", tracePath,
		"-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
		testkit.Raftsnap(t), "daemon", "--config", configPath))
	d.WaitStarted(t, 60*time.Second) // slower under strace
	r := mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
	name := snapName.FindString(r.Stdout)
	if name == "" {
		t.Fatalf("wakeup names no snapshot: %s", r)
	}
	// Stop the traced daemon cleanly; strace exits with it.
	daemonPID := fetchStatus(t, d.Sock).PID
	if err := interruptProcess(daemonPID); err != nil {
		t.Fatal(err)
	}
	d.ExitCode(t, 30*time.Second)

	trace, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	calls := parseTrace(trace)
	archive := filepath.Join(storeDir, name)
	sidecar := archive + ".json"
	// The archive's temp file has a random name: find the one renamed to
	// the snapshot.
	archiveTemp := ""
	for _, c := range calls {
		if c.isRename() && c.renameTo == archive {
			archiveTemp = c.renameFrom
		}
	}
	if archiveTemp == "" {
		t.Fatalf("no rename to %s in the trace:\n%s", archive, trace)
	}
	archiveDirSync := -1
	for _, f := range []struct{ temp, final string }{{archiveTemp, archive}, {sidecar + ".part", sidecar}} {
		steps := []struct {
			what  string
			match func(traceCall) bool
		}{
			{"create " + filepath.Base(f.temp), func(c traceCall) bool {
				return c.name == "openat" && strings.Contains(c.args, `"`+f.temp+`"`) && strings.Contains(c.args, "O_CREAT")
			}},
			{"fsync " + filepath.Base(f.temp), func(c traceCall) bool { return c.isSync() && c.fdPath == f.temp }},
			{"rename to " + filepath.Base(f.final), func(c traceCall) bool {
				return c.isRename() && c.renameFrom == f.temp && c.renameTo == f.final
			}},
			{"fsync the directory", func(c traceCall) bool { return c.isSync() && c.fdPath == storeDir }},
		}
		at := 0
		var stepAt []int
		for _, s := range steps {
			found := false
			for ; at < len(calls); at++ {
				if s.match(calls[at]) {
					if calls[at].result != "0" && !(calls[at].name == "openat" && isFD(calls[at].result)) {
						t.Fatalf("%s failed: %s", s.what, calls[at].line)
					}
					found = true
					stepAt = append(stepAt, at)
					at++
					break
				}
			}
			if !found {
				t.Fatalf("%s: no %q after the previous step in the trace (want create temp, fsync it, rename, fsync the directory, in that order); calls on the store:\n%s",
					filepath.Base(f.final), s.what, storeCalls(calls, storeDir))
			}
		}
		if f.final == archive {
			archiveDirSync = stepAt[3]
		} else if archiveDirSync > stepAt[0] {
			// The sidecar is the commit point: the archive's rename must be
			// durable before it, or a power cut could keep a sidecar that
			// names no archive while losing the archive.
			t.Fatalf("the directory was not fsynced after renaming %s and before creating its sidecar; calls on the store:\n%s",
				name, storeCalls(calls, storeDir))
		}
	}
}

func interruptProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(os.Interrupt)
}

// traceCall is one system call from `strace -f -y`.
type traceCall struct {
	line, name, args, result string
	fdPath                   string // for fsync: the path behind the descriptor
	renameFrom, renameTo     string
}

func (c traceCall) isRename() bool { return strings.HasPrefix(c.name, "rename") }
func (c traceCall) isSync() bool   { return c.name == "fsync" || c.name == "fdatasync" }

func isFD(s string) bool {
	_, err := strconv.Atoi(strings.SplitN(s, "<", 2)[0])
	return err == nil
}

var (
	traceLine    = regexp.MustCompile(`^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)\)\s+=\s+(\S+)`)
	traceResumed = regexp.MustCompile(`^(?:\[pid\s+\d+\]\s+|\d+\s+)?<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(\S+)`)
	traceStarted = regexp.MustCompile(`^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*) <unfinished \.\.\.>$`)
	traceFD      = regexp.MustCompile(`^\d+<(.*)>$`)
	traceString  = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// parseTrace turns strace output into calls in the order they started
// (one goroutine's calls are sequential, whichever thread runs them); a
// call interrupted by another thread's is joined with its result.
func parseTrace(trace []byte) []traceCall {
	var calls []traceCall
	pending := map[string]int{} // pid+name -> index of an unfinished call
	sc := bufio.NewScanner(bytes.NewReader(trace))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pidOf := func(line string) string {
		if m := regexp.MustCompile(`^(?:\[pid\s+(\d+)\]|(\d+))`).FindStringSubmatch(line); m != nil {
			return m[1] + m[2]
		}
		return ""
	}
	for sc.Scan() {
		line := sc.Text()
		if m := traceStarted.FindStringSubmatch(line); m != nil {
			pending[pidOf(line)+m[1]] = len(calls)
			calls = append(calls, traceCall{line: line, name: m[1], args: m[2]})
			continue
		}
		if m := traceResumed.FindStringSubmatch(line); m != nil {
			if i, ok := pending[pidOf(line)+m[1]]; ok {
				calls[i].args += m[2]
				calls[i].result = m[3]
				calls[i].line += " ... " + line
				delete(pending, pidOf(line)+m[1])
			}
			continue
		}
		if m := traceLine.FindStringSubmatch(line); m != nil {
			calls = append(calls, traceCall{line: line, name: m[1], args: m[2], result: m[3]})
		}
	}
	for i := range calls {
		c := &calls[i]
		if c.isSync() {
			if m := traceFD.FindStringSubmatch(strings.TrimSpace(c.args)); m != nil {
				c.fdPath = m[1]
			}
		}
		if c.isRename() {
			if s := traceString.FindAllStringSubmatch(c.args, -1); len(s) >= 2 {
				c.renameFrom, c.renameTo = s[0][1], s[1][1]
			}
		}
	}
	return calls
}

// storeCalls lists the calls that name the store, for a failure message.
func storeCalls(calls []traceCall, storeDir string) string {
	var b strings.Builder
	for _, c := range calls {
		if strings.Contains(c.line, storeDir) {
			b.WriteString(c.line + "\n")
		}
	}
	return b.String()
}

// crashRate paces the kill loop's snapshots and restores (bytes/s).
const crashRate = 8 << 20

// newRateProxy forwards HTTP to a real dev-cluster node at bytesPerSec in
// both directions (snapshot downloads and restore uploads), so that runs
// last long enough to be killed in the middle. It only slows; it never
// changes a byte. Returns the proxy's URL.
func newRateProxy(t *testing.T, upstream string, bytesPerSec int) string {
	t.Helper()
	p := testkit.NewProxy(t, upstream)
	p.Set(testkit.Fault{Rate: bytesPerSec})
	return p.URL
}

// --- Faults at the store, seen through the daemon ---------------------------

// snapJob is a snapshot job named snap of the raft source %[2]s into
// dir/store, keeping keep.
func snapJob(keep int) string {
	return `{name: snap, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, store: {path: %[1]s/store}, pruning: {keep: [{last_n: {count: ` +
		strconv.Itoa(keep) + `}}]}}`
}

// writeStoreFaultConfig writes path: one snapshot job of the raft source
// at addr into storeDir (no retry budget hidden: max 3, so a retried
// permanent error would show as attempts > 1), and its metrics.
func writeStoreFaultConfig(t *testing.T, path string, mode os.FileMode, addr, storeDir string) {
	t.Helper()
	writeConfigFile(t, path, mode, controlAndMetrics, []string{
		`{name: snap, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, retries: {max: 3}, store: {path: %[3]s}, pruning: {keep: [{last_n: {count: 2}}]}}`,
	}, addr, storeDir)
}

// failedWakeup runs `signal wakeup snap --wait`, which must fail with want
// in its output after exactly one attempt (a permanent store error is not
// retried), and returns the job's status.
func failedWakeup(t *testing.T, d *daemonProc, want string) controlapi.JobStatus {
	t.Helper()
	r := rs(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, want) {
		t.Fatalf("wakeup on a faulty store: want a failure saying %q, got %s", want, r)
	}
	j := jobStatus(t, fetchStatus(t, d.Sock), "snap")
	if j.LastRun == nil || j.LastRun.Result != controlapi.ResultFailure || j.LastRun.Attempts != 1 || !strings.Contains(j.LastRun.Error, want) {
		t.Fatalf("last run after a store fault: %+v, want one failed attempt saying %q", j.LastRun, want)
	}
	return j
}

// checkStoreIntact checks that exactly the snapshots named are listed, each
// verifying against its sidecar, and that no temp file is left.
func checkStoreIntact(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _, err := listReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name] = true
		rep, err := snapshot.VerifyFile(t.Context(), e.Path, snapshot.VerifyOptions{})
		if err != nil || rep.ArchiveSHA256 != e.SHA256 || rep.ArchiveBytes != e.Size {
			t.Fatalf("listed %s does not match its sidecar: %v", e.Name, err)
		}
	}
	for _, n := range names {
		if !got[n] {
			t.Fatalf("%s was lost; the store lists %v", n, entries)
		}
	}
	if len(entries) != len(names) {
		t.Fatalf("the store lists %d snapshots, want %d (%v): %v", len(entries), len(names), names, entries)
	}
	if parts := partFiles(t, dir); len(parts) != 0 {
		t.Fatalf("temp files left: %v", parts)
	}
}

func failuresByReason(t *testing.T, d *daemonProc, reason string) float64 {
	t.Helper()
	v, _ := metricValue(d.MetricFamilies(t)["raftsnap_job_failures_total"], map[string]string{"job_name": "snap", "reason": reason})
	return v
}

// TestStoreFaultFullAndReadOnly: a 2 MiB tmpfs as the store. Full: the run
// fails once (no retry) with ENOSPC, reason store_full, no temp file, both
// snapshots kept (a failed run prunes nothing); once space returns the
// next run succeeds. Read-only (remount): the same with EROFS, store_io.
func TestStoreFaultFullAndReadOnly(t *testing.T) {
	source := startCluster(t, "")
	ctx := context.Background()
	for i := range 12 { // ~300 KiB archives: a few fit in 2 MiB
		if err := source.Put(ctx, fmt.Sprintf("key-%02d", i), randomText(t, 32<<10)); err != nil {
			t.Fatal(err)
		}
	}
	dir := shortTempDir(t)
	storeDir := filepath.Join(dir, "store")
	testkit.MountTmpfs(t, storeDir, "2m")
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeStoreFaultConfig(t, configPath, 0o600, leader(t, source).HTTPAddr, storeDir)
	d := startDaemon(t, configPath)
	awaitStatus(t, d.Sock, "snap", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	wake := func() string {
		t.Helper()
		r := mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
		return snapName.FindString(r.Stdout)
	}
	first, second := wake(), wake()
	checkStoreIntact(t, storeDir, first, second)

	t.Run("disk full", func(t *testing.T) {
		filler := testkit.FillFS(t, storeDir)
		failedWakeup(t, d, "no space left on device")
		if n := failuresByReason(t, d, "store_full"); n != 1 {
			t.Errorf("raftsnap_job_failures_total{reason=store_full} = %v, want 1", n)
		}
		checkStoreIntact(t, storeDir, first, second)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		third := wake()
		// Now pruning (last_n 2) may destroy the oldest: a rule says so.
		checkStoreIntact(t, storeDir, second, third)
		second = third
	})

	t.Run("read-only", func(t *testing.T) {
		entries, _, _ := listReadOnly(storeDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name)
		}
		testkit.Remount(t, storeDir, "ro")
		// Writable again for the unmount, if the test stops early.
		t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", storeDir).Run() })
		failedWakeup(t, d, "read-only file system")
		if n := failuresByReason(t, d, "store_io"); n != 1 {
			t.Errorf("raftsnap_job_failures_total{reason=store_io} = %v, want 1", n)
		}
		checkStoreIntact(t, storeDir, names...)
		testkit.Remount(t, storeDir, "rw")
		if wake() == "" {
			t.Fatal("the run after the store became writable again names no snapshot")
		}
	})
	if st := fetchStatus(t, d.Sock); st.PID != d.Pid() {
		t.Fatalf("control socket answered by pid %d, want %d", st.PID, d.Pid())
	}
}

// TestStoreFaultPathIsAFile: a store path naming a regular file stops the
// daemon at start-up with a message naming the path.
func TestStoreFaultPathIsAFile(t *testing.T) {
	dir := shortTempDir(t)
	storePath := filepath.Join(dir, "store")
	writeFile(t, storePath, "not a directory", 0o600)
	configPath := filepath.Join(dir, "raftsnap.yml")
	writeStoreFaultConfig(t, configPath, 0o600, "http://127.0.0.1:1", storePath)
	d := spawnDaemon(t, "--config", configPath)
	if code := d.ExitCode(t, 30*time.Second); code == 0 {
		t.Fatalf("daemon started with a store path that is a file:\n%s", d.Output())
	}
	if msg := d.Stderr.String(); !strings.Contains(msg, storePath) || !strings.Contains(msg, "is not a directory") {
		t.Fatalf("start-up error does not say the store %s is not a directory:\n%s", storePath, msg)
	}
	if data, err := os.ReadFile(storePath); err != nil || string(data) != "not a directory" {
		t.Fatalf("the file named as store was changed: %q %v", data, err)
	}
}

// TestStoreFaultPermissionDenied runs the daemon as an unprivileged user.
// A store directory it cannot read stops it at start-up, naming the store
// and the cause; a store that becomes read-only to it (chmod 0500) fails
// the run once (EACCES is not retried), keeps what is stored, and the next
// run succeeds once the mode is restored.
func TestStoreFaultPermissionDenied(t *testing.T) {
	// Permission errors cannot happen to root, so the daemon runs as this
	// user.
	_, u, g := testkit.TempUser(t)
	uid, gid := uint32(u), uint32(g)
	source := startCluster(t, "")
	if err := source.Put(context.Background(), "k", randomText(t, 16<<10)); err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	bin := binaryIn(t, dir) // dir 0755 too: the user must reach its files
	control := filepath.Join(dir, "control")
	if err := os.Mkdir(control, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(control, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	spawnAsUser := func(configPath string) *daemonProc {
		cmd := exec.Command(bin, "daemon", "--config", configPath)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		return daemonproc.Spawn(t, cmd)
	}
	addr := leader(t, source).HTTPAddr

	// A store another user owns is refused when the configuration loads
	// (issue 12: another user could plant snapshots in it), so the
	// daemon does not start, exits 2 and names the store and the owner.
	t.Run("store directory of another user at start", func(t *testing.T) {
		storeDir := filepath.Join(dir, "root-store")
		if err := os.Mkdir(storeDir, 0o700); err != nil { // root's
			t.Fatal(err)
		}
		configPath := filepath.Join(dir, "root-store.yml")
		writeStoreFaultConfig(t, configPath, 0o644, addr, storeDir)
		d := spawnAsUser(configPath)
		if code := d.ExitCode(t, 30*time.Second); code != 2 {
			t.Fatalf("daemon on a store root owns exited %d, want 2 (invalid configuration):\n%s", code, d.Output())
		}
		if msg := d.Stderr.String(); !strings.Contains(msg, storeDir) || !strings.Contains(msg, "is owned by uid 0 (root)") {
			t.Fatalf("start-up error does not name the store %s and the cause:\n%s", storeDir, msg)
		}
	})

	t.Run("store becomes unwritable", func(t *testing.T) {
		storeDir := filepath.Join(dir, "user-store")
		if err := os.Mkdir(storeDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(storeDir, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
		configPath := filepath.Join(dir, "user-store.yml")
		writeStoreFaultConfig(t, configPath, 0o644, addr, storeDir)
		d := spawnAsUser(configPath)
		d.WaitStarted(t, daemonproc.StartTimeout)
		j := awaitStatus(t, d.Sock, "snap", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
		if j.LastRun.Result != controlapi.ResultSuccess {
			t.Fatalf("start-up run as an unprivileged user failed: %+v", j.LastRun)
		}
		first := j.LastRun.Snapshot
		if err := os.Chmod(storeDir, 0o500); err != nil {
			t.Fatal(err)
		}
		failedWakeup(t, d, "permission denied")
		if n := failuresByReason(t, d, "store_io"); n != 1 {
			t.Errorf("raftsnap_job_failures_total{reason=store_io} = %v, want 1", n)
		}
		checkStoreIntact(t, storeDir, first)
		if err := os.Chmod(storeDir, 0o700); err != nil {
			t.Fatal(err)
		}
		mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
	})
}

// TestStoreFaultDamagedStoreAtStart: a store found at start-up with an
// archive whose sidecar is corrupt, a valid archive without sidecar, a
// truncated archive without sidecar and a foreign file. The valid orphan
// is re-verified and adopted, the truncated one moved aside, both logged;
// pruning (last_n 1) destroys only what its rule says, never the entry
// with the corrupt sidecar, and names it in its log; the foreign file and
// the damaged entry are left byte for byte.
func TestStoreFaultDamagedStoreAtStart(t *testing.T) {
	source := startCluster(t, "")
	ctx := context.Background()
	if err := source.Put(ctx, "initial", "1"); err != nil { // an empty state machine cannot be snapshotted
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	storeDir := filepath.Join(dir, "store")
	configPath := writeConfig(t, dir, controlAndMetrics, []string{snapJob(10),
		`{name: prune, type: prune, store: {path: %[1]s/store}, interval: 1h, owners: [snap], pruning: {keep: [{last_n: {count: 1}}]}}`,
	}, leader(t, source).HTTPAddr)

	d := startDaemon(t, configPath)
	awaitStatus(t, d.Sock, "snap", "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	for i := range 3 {
		if err := source.Put(ctx, fmt.Sprintf("k%d", i), randomText(t, 4<<10)); err != nil {
			t.Fatal(err)
		}
		mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", d.Sock)
	}
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.ExitCode(t, 30*time.Second)
	entries := storedSnapshots(t, storeDir) // newest first
	if len(entries) != 4 {
		t.Fatalf("want 4 snapshots to damage, have %d", len(entries))
	}
	corrupt, orphan, truncated := entries[0], entries[1], entries[2]
	writeFile(t, corrupt.Path+".json", `{"schema": 1, "name": "`+corrupt.Name+`", "job": "snap", "siz`, 0o600)
	os.Remove(orphan.Path + ".json")
	os.Remove(truncated.Path + ".json")
	if err := os.Truncate(truncated.Path, truncated.Size/2); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(storeDir, "notes.txt"), "the operator's", 0o644)
	snapshotFiles := func() map[string]string {
		m := map[string]string{}
		for _, p := range []string{corrupt.Path, corrupt.Path + ".json", filepath.Join(storeDir, "notes.txt")} {
			data, _ := os.ReadFile(p)
			m[p] = string(data)
		}
		return m
	}
	before := snapshotFiles()

	d = startDaemon(t, configPath)
	logs := d.Stderr.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`adopted archive left without a sidecar.* file=` + regexp.QuoteMeta(orphan.Name)),
		regexp.MustCompile(`archive without sidecar fails verification: moved aside.* file=` + regexp.QuoteMeta(truncated.Name)),
	} {
		if !want.MatchString(logs) {
			t.Errorf("start-up log lacks %q:\n%s", want, logs)
		}
	}
	mustRS(t, "signal", "wakeup", "prune", "--wait", "--socket", d.Sock)
	p := jobStatus(t, fetchStatus(t, d.Sock), "prune").LastRun.Pruning
	if p == nil || p.Foreign != 3 { // corrupt, .rejected, notes.txt
		t.Fatalf("pruning summary %+v, want 3 foreign files reported", p)
	}
	if n := scrapeMetric(t, d, "raftsnap_prune_foreign_files", map[string]string{"job_name": "prune"}); n != 3 {
		t.Errorf("raftsnap_prune_foreign_files{job_name=prune} = %v, want 3", n)
	}
	if !regexp.MustCompile(`store file that cannot be trusted.* file=` + regexp.QuoteMeta(corrupt.Name) + `.* problem=`).MatchString(d.Stderr.String()) {
		t.Errorf("pruning did not name the entry with a corrupt sidecar:\n%s", d.Stderr)
	}
	after := snapshotFiles()
	for path, data := range before {
		if after[path] != data {
			t.Errorf("%s was changed or deleted", filepath.Base(path))
		}
	}
	if _, err := os.Stat(truncated.Path + store.RejectedSuffix); err != nil {
		t.Errorf("the rejected archive is not kept for the operator: %v", err)
	}
	left := storedSnapshots(t, storeDir)
	if len(left) != 1 || left[0].Name != orphan.Name {
		t.Fatalf("after pruning with last_n 1 the store lists %v, want only the adopted %s (the newest verified)", left, orphan.Name)
	}
	if _, err := snapshot.VerifyFile(t.Context(), left[0].Path, snapshot.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
