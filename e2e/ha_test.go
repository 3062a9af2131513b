package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/agetest"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// High availability (docs/ha.md) with real daemons as processes, a real
// Consul holding the locks, and real 3-server Consul and Nomad clusters
// whose own elections drive leader_local. The agents of each test share
// one store: a versitygw bucket (the usual set-up: nothing but the fence
// keeps a second writer out of it), or, where the test needs a store it
// can break, a local directory (a gated job opens it for writing, and
// takes its lock, only while active).

// Lock timings of the consul_lock tests: Consul's shortest session TTL
// and a short lock delay, so that a failover takes seconds.
const (
	haTTL       = 10 * time.Second
	haLockDelay = 2 * time.Second
	// haTakeover bounds a takeover after the holder died: Consul expires a
	// session between one and two TTLs after its last renewal, then the
	// lock delay runs, then api.Lock retries every 5 s (its
	// DefaultLockRetryTime) while the delay holds the key.
	haTakeover = 2*haTTL + haLockDelay + 5*time.Second + 5*time.Second
)

// haGlobal is a global section with the control socket in the agent's
// directory %[1]s and a consul_lock ha block on the Consul at %[2]s with
// max_failures %[3]d.
const haGlobal = `{control: {sockpath: %[1]s/sock}, monitoring: {listen: "127.0.0.1:0"}, ha: {mode: consul_lock, consul: {address: %[2]s}, lock_key: raftsnap-e2e/lock, session_ttl: 10s, lock_delay: 2s, max_failures: %[3]d, poll_interval: 500ms}}`

// haJob snapshots the Consul at %[2]s every 3 s into the store block
// %[4]s, keeping 3.
const haJob = `{name: snap, type: snapshot, source: {type: consul, address: %[2]s}, interval: 3s, retries: {max: 0}, store: %[4]s, pruning: {keep: [{last_n: {count: 3}}]}}`

// sharedStore is the store the agents of a test share: its block in the
// job's configuration, and a listing that changes nothing (the agents may
// be writing).
type sharedStore interface {
	Block() string
	List() ([]store.Entry, []store.Foreign, error)
}

// dirStore is a local directory.
type dirStore string

func (d dirStore) Block() string { return fmt.Sprintf("{path: %s}", string(d)) }

func (d dirStore) List() ([]store.Entry, []store.Foreign, error) { return listReadOnly(string(d)) }

// bucketStore is a prefix of a versitygw bucket; the agents find the
// credentials in their environment (AWS_ACCESS_KEY_ID, ...). extra is
// added to the store block (an encrypt block).
type bucketStore struct {
	s3    *servers.S3
	cfg   bucket.Config
	extra string
}

// startBucketStore starts versitygw with a bucket, and puts its
// credentials into the environment the agents inherit.
func startBucketStore(t *testing.T) *bucketStore {
	t.Helper()
	s3 := servers.StartVersity(t)
	s3.SetEnv(t)
	const name = "ha-shared"
	s3.CreateBucket(t, name)
	return &bucketStore{s3: s3, cfg: bucket.Config{Provider: bucket.S3, Bucket: name, Prefix: "snap/", Endpoint: s3.Endpoint, Region: "us-east-1", PathStyle: true}}
}

func (b *bucketStore) Block() string {
	return s3Block("shared", b.cfg.Bucket, b.cfg.Prefix, b.cfg.Endpoint, ", region: "+b.cfg.Region+b.extra)
}

func (b *bucketStore) List() ([]store.Entry, []store.Foreign, error) { return readBucket(b.cfg) }

// checkAtRest fails the test unless the bucket, with no agent running,
// holds only verified snapshots: no other object under the prefix (an
// archive without its manifest, a stray manifest) and no incomplete
// upload. killed, when set, is when an agent was SIGKILLed: what a commit
// it was in the middle of left (an archive without its manifest, which
// the next clean removes after the grace period) is logged instead.
func (b *bucketStore) checkAtRest(t *testing.T, killed time.Time) []store.Entry {
	t.Helper()
	entries, foreign := listBucket(t, b.cfg)
	allVerified(t, "the shared bucket", entries)
	for _, f := range foreign {
		if !killed.IsZero() && !f.ModTime.After(killed) && strings.Contains(f.Problem, "interrupted") {
			t.Logf("left by the agent SIGKILLed in the middle of a commit: %s (%s)", f.Name, f.Problem)
			continue
		}
		t.Errorf("the shared bucket holds %s, not a snapshot: %s", f.Name, f.Problem)
	}
	uploads, err := b.s3.IncompleteUploads(b.cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads) > 0 {
		t.Errorf("incomplete uploads left in the shared bucket: %v", uploads)
	}
	return entries
}

// startHAAgent starts one agent named name of a consul_lock group.
func startHAAgent(t *testing.T, dir, consulAddr, name string, maxFailures int, st sharedStore) *daemonProc {
	t.Helper()
	agentDir := filepath.Join(dir, name)
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(agentDir, "raftsnap.yml")
	writeConfigFile(t, path, 0o600, haGlobal, []string{haJob}, consulAddr, maxFailures, st.Block())
	return startDaemon(t, path)
}

// awaitRole polls d's status (the only way to observe a role) until the
// job's role is want, and returns the status.
func awaitRole(t *testing.T, d *daemonProc, job string, want controlapi.Role, timeout time.Duration) controlapi.HAStatus {
	t.Helper()
	var h controlapi.HAStatus
	err := testkit.Poll(timeout, func() bool {
		j := d.Job(t, job)
		if j.HA == nil {
			t.Fatalf("job %s has no ha status: %+v", job, j)
		}
		h = *j.HA
		return h.Role == want
	})
	if err != nil {
		t.Fatalf("job %s did not become %s within %s; last ha status %+v\nlog:\n%s", job, want, timeout, h, d.Output())
	}
	return h
}

// awaitStored waits until the store holds a snapshot created after since,
// and returns the store's snapshots.
func awaitStored(t *testing.T, st sharedStore, since time.Time, timeout time.Duration) []store.Entry {
	t.Helper()
	var entries []store.Entry
	var err error
	if perr := testkit.Poll(timeout, func() bool {
		entries, _, err = st.List()
		return len(entries) > 0 && entries[0].CreatedAt.After(since)
	}); perr != nil {
		t.Fatalf("no snapshot stored in %s after %s within %s; store holds %d (last listing error: %v)", st.Block(), since.Format(time.RFC3339Nano), timeout, len(entries), err)
	}
	return entries
}

// runSnapshots are the snapshots a daemon's job history says it committed.
func runSnapshots(t *testing.T, d *daemonProc, job string) map[string]bool {
	t.Helper()
	ctx := t.Context()
	j, err := d.Client.Job(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range j.History {
		if r.Result == controlapi.ResultSuccess && r.Snapshot != "" {
			names[r.Snapshot] = true
		}
	}
	return names
}

// TestHAConsulLockFailover: two agents share a bucket under one Consul
// lock. One is active, the other stands by naming it and refuses a wakeup
// with exit 5; SIGKILL the holder and the standby takes over within TTL
// plus lock delay, and continues the schedule from the bucket's newest
// snapshot (one catch-up snapshot, no burst). The killed holder's upload
// in flight, if any, is no snapshot: the bucket lists only verified ones.
func TestHAConsulLockFailover(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	shared := startBucketStore(t)
	dir := shortTempDir(t)

	a := startHAAgent(t, dir, consul.Addr, "a", 3, shared)
	awaitRole(t, a, "snap", controlapi.RoleActive, testkit.DefaultWait)
	b := startHAAgent(t, dir, consul.Addr, "b", 3, shared)
	h := awaitRole(t, b, "snap", controlapi.RoleStandby, testkit.DefaultWait)
	if err := testkit.Poll(testkit.DefaultWait, func() bool {
		h = *b.Job(t, "snap").HA
		return strings.Contains(h.Holder, fmt.Sprintf("pid %d", a.Pid()))
	}); err != nil {
		t.Fatalf("the standby does not name the holder (pid %d): %+v", a.Pid(), h)
	}

	// A wakeup on the standby is refused, naming the active agent.
	r := rs(t, "signal", "wakeup", "snap", "--socket", b.Sock)
	if r.Code != 5 || !strings.Contains(r.Stderr, "standby") || !strings.Contains(r.Stderr, fmt.Sprintf("pid %d", a.Pid())) {
		t.Fatalf("signal wakeup on the standby: %s", r)
	}
	st := mustRS(t, "status", "--mode", "dump", "--socket", b.Sock)
	if !strings.Contains(st.Stdout, "standby (consul_lock)") {
		t.Errorf("status dump of the standby does not show its role:\n%s", st.Stdout)
	}
	// Monitoring on the standby does not page: the active agent's check
	// judges the job.
	if c := rs(t, "check", "--socket", b.Sock); c.Code != 0 || !strings.Contains(c.Stdout, "1 standby (ha)") {
		t.Errorf("check on the standby: %s", c)
	}
	// The active agent works: --wait works as without ha.
	mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", a.Sock)
	before := awaitStored(t, shared, time.Time{}, testkit.DefaultWait)
	snap := map[string]string{"job_name": "snap", "mode": "consul_lock"}
	if got := scrapeMetric(t, a, "raftsnap_ha_active", snap); got != 1 {
		t.Errorf("raftsnap_ha_active on the holder = %v, want 1", got)
	}
	if got := scrapeMetric(t, b, "raftsnap_ha_active", snap); got != 0 {
		t.Errorf("raftsnap_ha_active on the standby = %v, want 0", got)
	}

	killed := time.Now()
	a.Kill(t)
	awaitRole(t, b, "snap", controlapi.RoleActive, haTakeover)
	takeover := time.Since(killed)
	t.Logf("consul_lock takeover after SIGKILL of the holder: %s (session_ttl %s, lock_delay %s)", takeover.Round(100*time.Millisecond), haTTL, haLockDelay)

	entries := awaitStored(t, shared, killed, testkit.DefaultWait)
	newest := entries[0]
	// Continued from the bucket's newest snapshot: the first snapshot of
	// the new holder is its one catch-up run; the next comes an interval
	// later, not in a burst.
	awaitStored(t, shared, newest.CreatedAt, testkit.DefaultWait)
	entries, _ = listBucket(t, shared.cfg)
	checkOnePerInterval(t, entries, 3*time.Second, killed)
	if len(before) == 0 {
		t.Fatal("no snapshot before the failover")
	}
	if got := scrapeMetric(t, b, "raftsnap_ha_role_changes_total", snap); got != 1 {
		t.Errorf("raftsnap_ha_role_changes_total on the new holder = %v, want 1", got)
	}

	// A stopping holder (SIGTERM) releases its lock: the standby takes
	// over at once, without waiting for a TTL.
	a = startHAAgent(t, dir, consul.Addr, "a", 3, shared)
	awaitRole(t, a, "snap", controlapi.RoleStandby, testkit.DefaultWait)
	stopped := time.Now()
	if code := b.Stop(t, testkit.DefaultWait); code != 0 {
		t.Fatalf("the holder exited %d on SIGTERM", code)
	}
	awaitRole(t, a, "snap", controlapi.RoleActive, testkit.DefaultWait)
	t.Logf("consul_lock takeover after SIGTERM of the holder: %s", time.Since(stopped).Round(100*time.Millisecond))
	awaitStored(t, shared, stopped, testkit.DefaultWait)
	if code := a.Stop(t, testkit.DefaultWait); code != 0 {
		t.Fatalf("the holder exited %d on SIGTERM", code)
	}
	checkOnePerInterval(t, shared.checkAtRest(t, killed), 3*time.Second, killed)
}

// checkOnePerInterval fails when two snapshots created after from are
// closer than half an interval (two writers for one interval).
func checkOnePerInterval(t *testing.T, entries []store.Entry, interval time.Duration, from time.Time) {
	t.Helper()
	var times []time.Time
	for _, e := range entries {
		if e.CreatedAt.After(from) {
			times = append(times, e.CreatedAt)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d < interval/2 {
			t.Errorf("two snapshots %s apart (%s and %s): more than one writer for one interval", d, times[i-1].Format(time.RFC3339Nano), times[i].Format(time.RFC3339Nano))
		}
	}
}

// TestHAConsulLockPausedHolder: SIGSTOP the holder in the middle of a run
// (its download trickles through a proxy) past its session's TTL; the
// other agent takes the lock. SIGCONT the old holder: it finishes its
// download, fails the fence, and commits nothing and prunes nothing; the
// new holder's snapshots go on. The two share a bucket, which, unlike a
// local directory, has no lock of its own: the fence alone keeps the old
// holder out.
func TestHAConsulLockPausedHolder(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	// Some incompressible data: the snapshot takes seconds to trickle.
	consul.PutKV(t, "pad", randomText(t, 40<<10))
	shared := startBucketStore(t)
	dir := shortTempDir(t)
	proxy := testkit.NewProxy(t, consul.Addr)

	a := startHAAgent(t, dir, proxy.URL, "a", 0, shared)
	awaitRole(t, a, "snap", controlapi.RoleActive, testkit.DefaultWait)
	mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", a.Sock)
	b := startHAAgent(t, dir, consul.Addr, "b", 0, shared)
	awaitRole(t, b, "snap", controlapi.RoleStandby, testkit.DefaultWait)

	// A's next download trickles: it is in flight when A is stopped.
	proxy.Set(trickle)
	a.AwaitJob(t, "snap", "a run transferring bytes", runningWithBytes)
	stopped := time.Now()
	a.Process.Signal(t, syscall.SIGSTOP)
	awaitRole(t, b, "snap", controlapi.RoleActive, haTakeover)
	t.Logf("consul_lock takeover after SIGSTOP of the holder: %s", time.Since(stopped).Round(100*time.Millisecond))

	proxy.Set(testkit.Fault{}) // A's download may finish at once
	a.Process.Signal(t, syscall.SIGCONT)
	woke := time.Now()
	awaitRole(t, a, "snap", controlapi.RoleStandby, testkit.DefaultWait)
	// The paused run ends without a commit.
	j := a.AwaitJob(t, "snap", "the paused run to end", func(j controlapi.JobStatus) bool {
		return j.State != controlapi.StateRunning && j.LastRun != nil && j.LastRun.StartedAt.Before(stopped)
	})
	if j.LastRun.Result == controlapi.ResultSuccess {
		t.Fatalf("the paused holder's run succeeded after it lost the lock: %+v", j.LastRun)
	}
	t.Logf("the paused holder's run ended: %s: %s", j.LastRun.Result, j.LastRun.Error)

	// B goes on; every snapshot stored since the pause is B's, and
	// nothing A's history names was added.
	after := awaitStored(t, shared, woke, testkit.DefaultWait)
	for _, e := range after {
		if !e.CreatedAt.After(stopped) {
			continue
		}
		// The store lists a snapshot a moment before its run's report
		// (pruning comes in between): wait for B's report to name it.
		if err := testkit.Poll(testkit.DefaultWait, func() bool { return runSnapshots(t, b, "snap")[e.Name] }); err != nil {
			t.Errorf("snapshot %s (created %s) stored after the pause is not the new holder's", e.Name, e.CreatedAt)
		}
	}
	for name := range runSnapshots(t, a, "snap") {
		for _, e := range after {
			if e.Name == name && e.CreatedAt.After(stopped) {
				t.Errorf("the paused holder committed %s", name)
			}
		}
	}
	// Nothing the paused holder could have pruned: the snapshots present
	// when it woke are gone only through B's pruning (B keeps 3).
	aStatus := a.Job(t, "snap")
	for _, r := range aStatus.History {
		if r.StartedAt.After(stopped) && r.Pruning != nil && r.Pruning.Destroyed > 0 {
			t.Errorf("the paused holder pruned after it woke: %+v", r)
		}
	}
	// With both stopped, the paused holder's abandoned upload left
	// nothing behind.
	for _, d := range []*daemonProc{a, b} {
		if code := d.Stop(t, testkit.DefaultWait); code != 0 {
			t.Errorf("an agent exited %d on SIGTERM", code)
		}
	}
	shared.checkAtRest(t, time.Time{})
}

// TestHAConsulLockMaxFailures: the holder's store breaks (its directory
// disappears); after max_failures failed runs it hands the lock over, and
// the other agent's snapshots go on in its own store.
func TestHAConsulLockMaxFailures(t *testing.T) {
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	dir := shortTempDir(t)
	storeA, storeB := dirStore(filepath.Join(dir, "store-a")), dirStore(filepath.Join(dir, "store-b"))

	a := startHAAgent(t, dir, consul.Addr, "a", 2, storeA)
	awaitRole(t, a, "snap", controlapi.RoleActive, testkit.DefaultWait)
	mustRS(t, "signal", "wakeup", "snap", "--wait", "--socket", a.Sock)
	b := startHAAgent(t, dir, consul.Addr, "b", 2, storeB)
	awaitRole(t, b, "snap", controlapi.RoleStandby, testkit.DefaultWait)

	broken := time.Now()
	if err := os.RemoveAll(string(storeA)); err != nil {
		t.Fatal(err)
	}
	awaitRole(t, b, "snap", controlapi.RoleActive, testkit.DefaultWait)
	t.Logf("hand-over after max_failures=2 at a 3 s interval: %s", time.Since(broken).Round(100*time.Millisecond))
	j := a.Job(t, "snap")
	if j.HA.Role != controlapi.RoleStandby {
		t.Errorf("the failing agent is %s", j.HA.Role)
	}
	failures := 0
	for _, r := range j.History {
		if r.StartedAt.After(broken) && r.Result == controlapi.ResultFailure {
			failures++
		}
	}
	if failures < 2 {
		t.Errorf("handed over after %d failed runs, want 2", failures)
	}
	awaitStored(t, storeB, broken, testkit.DefaultWait)
	if !strings.Contains(a.Output(), "handing the lock over") {
		t.Errorf("the failing agent did not log the hand-over:\n%s", a.Output())
	}
}

// leaderLocalJob snapshots the agent's own server (%[2]s, of kind
// %[3]s) every 4 s into the shared store block %[4]s.
const (
	leaderLocalGlobal = `{control: {sockpath: %[1]s/sock}, ha: {mode: leader_local, poll_interval: 500ms}}`
	leaderLocalJob    = `{name: snap, type: snapshot, source: {type: %[3]s, address: %[2]s}, interval: 4s, retries: {max: 3, initial_backoff: 500ms, max_backoff: 1s}, store: %[4]s, pruning: {keep: [{last_n: {count: 100}}]}}`
	leaderInterval    = 4 * time.Second
)

// TestHALeaderLocalConsulCluster: three agents, one beside each server of
// a real 3-server Consul cluster, share a versitygw bucket (encrypting
// what they store into it: the ciphertext goes through the fence as any
// write does). Only the agent
// beside the leader snapshots; kill the leading server and the agent
// beside the new leader takes over within the election time plus the poll
// interval; after a second, forced leader change (transfer-leader), the
// bucket holds one snapshot per interval, no duplicates, no gap longer
// than interval + failover, each committed by one agent, and nothing else.
func TestHALeaderLocalConsulCluster(t *testing.T) {
	leaderLocalFailover(t, servers.StartConsulCluster(t, 3), "consul", true)
}

// TestHALeaderLocalNomadCluster: the same with a real 3-server Nomad
// cluster (one leader change: the leading server killed).
func TestHALeaderLocalNomadCluster(t *testing.T) {
	leaderLocalFailover(t, servers.StartNomadCluster(t, 3), "nomad", false)
}

func leaderLocalFailover(t *testing.T, cluster *servers.Cluster, kind string, transfer bool) {
	shared := startBucketStore(t)
	id, _ := agetest.Key(t)
	shared.extra = ", encrypt: {recipients: [" + id.Recipient().String() + "]}"
	dir := shortTempDir(t)
	agents := make([]*daemonProc, 3)
	for i := range agents {
		agentDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(agentDir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(agentDir, "raftsnap.yml")
		writeConfigFile(t, path, 0o600, leaderLocalGlobal, []string{leaderLocalJob}, cluster.Servers[i].Addr, kind, shared.Block())
		agents[i] = startDaemon(t, path)
	}
	var leader int
	if err := testkit.Poll(testkit.DefaultWait, func() bool { leader = cluster.Leader(); return leader >= 0 }); err != nil {
		t.Fatal("the cluster names no leader")
	}
	awaitRole(t, agents[leader], "snap", controlapi.RoleActive, testkit.DefaultWait)
	for i, d := range agents {
		if i != leader {
			h := awaitRole(t, d, "snap", controlapi.RoleStandby, testkit.DefaultWait)
			if err := testkit.Poll(testkit.DefaultWait, func() bool {
				h = *d.Job(t, "snap").HA
				return strings.Contains(h.Holder, cluster.RPC[leader])
			}); err != nil {
				t.Errorf("agent %d names %q as active, want the agent next to %s", i, h.Holder, cluster.RPC[leader])
			}
		}
	}
	start := time.Now()
	awaitStored(t, shared, time.Time{}, testkit.DefaultWait)

	// 1: kill the leading server.
	killed := time.Now()
	if err := cluster.Servers[leader].Kill(); err != nil {
		t.Fatal(err)
	}
	old := leader
	if err := testkit.Poll(testkit.DefaultWait, func() bool { leader = cluster.Leader(); return leader >= 0 && leader != old }); err != nil {
		t.Fatal("no new leader after the leader was killed")
	}
	awaitRole(t, agents[leader], "snap", controlapi.RoleActive, testkit.DefaultWait)
	failover1 := time.Since(killed)
	awaitRole(t, agents[old], "snap", controlapi.RoleStandby, testkit.DefaultWait)
	t.Logf("%s leader_local failover after killing the leading server: %s (election + poll 500ms)", kind, failover1.Round(100*time.Millisecond))

	failover := failover1
	last := awaitStored(t, shared, killed, testkit.DefaultWait)[0]
	if transfer {
		// 2: move the leadership.
		failover = max(failover, leaderTransfer(t, cluster, agents, &leader))
		last = awaitStored(t, shared, time.Now(), testkit.DefaultWait)[0]
	}
	// Two more intervals under the last leader.
	last = awaitStored(t, shared, last.CreatedAt, testkit.DefaultWait)[0]
	awaitStored(t, shared, last.CreatedAt, testkit.DefaultWait)

	entries, _ := listBucket(t, shared.cfg)
	checkOnePerInterval(t, entries, leaderInterval, start)
	checkCommittedByOne(t, entries, agents)
	// No gap longer than interval + failover (+ a retry's backoff: a
	// freshly elected server may refuse its first snapshot).
	var times []time.Time
	for _, e := range entries {
		times = append(times, e.CreatedAt)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var longest time.Duration
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		longest = max(longest, gap)
		if gap > leaderInterval+failover+time.Second {
			t.Errorf("a gap of %s between snapshots (%s, %s): longer than interval + failover (%s)", gap.Round(time.Millisecond),
				times[i-1].Format(time.RFC3339Nano), times[i].Format(time.RFC3339Nano), leaderInterval+failover)
		}
	}
	t.Logf("%d %s snapshots in the shared bucket over %s with leader changes; longest gap %s (interval %s)",
		len(times), kind, time.Since(start).Round(time.Second), longest.Round(10*time.Millisecond), leaderInterval)

	// At rest, the bucket holds these snapshots, all verified, and nothing
	// else: no upload an agent that lost its leadership abandoned.
	for _, d := range agents {
		if code := d.Stop(t, testkit.DefaultWait); code != 0 {
			t.Errorf("an agent exited %d on SIGTERM", code)
		}
	}
	atRest := shared.checkAtRest(t, time.Time{})
	if len(atRest) < len(entries) {
		t.Errorf("the bucket holds %d snapshots with the agents stopped, %d before", len(atRest), len(entries))
	}
	for _, e := range atRest {
		if e.Object != e.Name+store.EncryptedSuffix || e.Encryption == nil {
			t.Errorf("snapshot %s is not stored encrypted (object %q)", e.Name, e.Object)
		}
	}
}

// checkCommittedByOne fails the test unless each snapshot listed is named
// by the history of exactly one agent (the one active then): no snapshot
// came from an agent whose server did not lead, and none is claimed twice.
func checkCommittedByOne(t *testing.T, entries []store.Entry, agents []*daemonProc) {
	t.Helper()
	for _, e := range entries {
		var by []int
		// The store lists a snapshot a moment before its run's report
		// (pruning comes in between): wait for a report to name it.
		_ = testkit.Poll(testkit.DefaultWait, func() bool {
			by = by[:0]
			for i, d := range agents {
				if runSnapshots(t, d, "snap")[e.Name] {
					by = append(by, i)
				}
			}
			return len(by) > 0
		})
		if len(by) != 1 {
			t.Errorf("snapshot %s (created %s) is in the run history of agents %v, want exactly one", e.Name, e.CreatedAt.Format(time.RFC3339Nano), by)
		}
	}
}

// leaderTransfer moves the leadership to another server and returns how
// long the agents took to follow.
func leaderTransfer(t *testing.T, cluster *servers.Cluster, agents []*daemonProc, leader *int) time.Duration {
	t.Helper()
	moved := time.Now()
	cluster.TransferLeader(t, *leader)
	old := *leader
	if err := testkit.Poll(testkit.DefaultWait, func() bool { *leader = cluster.Leader(); return *leader >= 0 && *leader != old }); err != nil {
		t.Fatal("no new leader after transfer-leader")
	}
	awaitRole(t, agents[*leader], "snap", controlapi.RoleActive, testkit.DefaultWait)
	failover2 := time.Since(moved)
	awaitRole(t, agents[old], "snap", controlapi.RoleStandby, testkit.DefaultWait)
	t.Logf("leader_local failover after transfer-leader: %s", failover2.Round(100*time.Millisecond))
	return failover2
}
