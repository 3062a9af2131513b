package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/daemonproc"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// s3Block is a flow-style s3 store block for versitygw at endpoint.
func s3Block(name, bucketName, prefix, endpoint, extra string) string {
	return fmt.Sprintf(`{name: %s, type: s3, bucket: %s, prefix: %s, endpoint: "%s", path_style: true%s}`, name, bucketName, prefix, endpoint, extra)
}

// listBucket lists a store as the daemon sees it, with the test's
// credentials: the committed snapshots, and what is not one.
func listBucket(t *testing.T, cfg bucket.Config) ([]store.Entry, []store.Foreign) {
	t.Helper()
	entries, foreign, err := readBucket(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return entries, foreign
}

// readBucket is listBucket for a poll: the snapshots newest first, or the
// error.
func readBucket(cfg bucket.Config) ([]store.Entry, []store.Foreign, error) {
	st, err := bucket.Open(cfg, bucket.Options{ListTTL: time.Nanosecond}, nil)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, foreign, err := st.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	store.SortNewestFirst(entries)
	return entries, foreign, nil
}

// allVerified fails the test when a listed snapshot is not verified.
func allVerified(t *testing.T, where string, entries []store.Entry) {
	t.Helper()
	for _, e := range entries {
		if !e.Verified {
			t.Errorf("%s lists %s unverified (%s)", where, e.Name, e.VerifyError)
		}
	}
}

// storeSeries counts the series of family whose store label is name.
func storeSeries(t *testing.T, d *daemonProc, family, name string) (n int, value float64) {
	t.Helper()
	for _, m := range d.MetricFamilies(t)[family].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "store" && l.GetValue() == name {
				n++
				value = m.GetGauge().GetValue()
			}
		}
	}
	return n, value
}

// TestDaemonIntoBucketAndDirectory (issue 14): a snapshot job of a real
// Consul keeps its snapshots in a directory and in a versitygw bucket, each
// with its own retention; a prune job and a scrub job share the bucket; a
// restore job restores the bucket's newest snapshot into another Consul; a
// drill job proves it restorable. A scrub finds an object that rotted.
// Status and metrics give each store once; `test pruning` reads the bucket.
func TestDaemonIntoBucketAndDirectory(t *testing.T) {
	s3 := servers.StartVersity(t)
	s3.SetEnv(t)
	s3.CreateBucket(t, "snapshots")
	consul := servers.StartConsul(t, servers.ConsulOptions{})
	other := servers.StartConsul(t, servers.ConsulOptions{})
	consul.PutKV(t, "app/config", "v0")

	dir := shortTempDir(t)
	offsite := s3Block("offsite", "snapshots", "consul-main/", s3.Endpoint, "")
	config := writeConfig(t, dir, `{control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}}`, []string{
		`{name: consul-main, type: snapshot, source: {type: consul, address: %[2]s}, interval: 1h, pruning: {keep: [{last_n: {count: 2}}]},
      stores: [{name: disk, path: %[1]s/store}, ` + strings.TrimSuffix(offsite, "}") + `, pruning: {keep: [{last_n: {count: 3}}]}}]}`,
		`{name: offsite-prune, type: prune, interval: 1h, store: ` + offsite + `, owners: [consul-main], pruning: {keep: [{last_n: {count: 3}}]}}`,
		`{name: offsite-scrub, type: scrub, interval: 24h, from_job: consul-main}`,
		`{name: restore-other, type: restore, store: ` + offsite + `, target: {type: consul, address: %[3]s}}`,
		`{name: offsite-drill, type: drill, store: ` + offsite + `, binary: %[4]s, timeout: 3m}`,
	}, consul.Addr, other.Addr, servers.Binary(t, "consul"))
	d := startDaemon(t, config)
	d.AwaitJob(t, "consul-main", "the start-up snapshot", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	for i := 1; i <= 3; i++ {
		consul.PutKV(t, "app/config", fmt.Sprintf("v%d", i))
		if rep := d.Signal(t, "consul-main", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess {
			t.Fatalf("snapshot %d: %+v", i, rep)
		}
	}

	cfg := bucket.Config{Provider: bucket.S3, Bucket: "snapshots", Prefix: "consul-main/", Endpoint: s3.Endpoint, PathStyle: true}
	remote, foreign := listBucket(t, cfg)
	local := storedSnapshots(t, filepath.Join(dir, "store"))
	if len(remote) != 3 || len(foreign) != 0 || len(local) != 2 {
		t.Fatalf("bucket holds %d snapshots and %d other objects %v, the directory %d; want 3 (its own last_n 3), 0 and 2",
			len(remote), len(foreign), foreign, len(local))
	}
	allVerified(t, "the bucket", remote)
	store.SortNewestFirst(local)
	if remote[0].Name != local[0].Name || remote[0].SHA256 != local[0].SHA256 {
		t.Fatalf("newest in the bucket %s (%s), in the directory %s (%s): want the same snapshot", remote[0].Name, remote[0].SHA256, local[0].Name, local[0].SHA256)
	}

	// Status: each store of the job, with its type; metrics: each store once.
	st := d.Job(t, "consul-main")
	if len(st.Stores) != 2 || st.Stores[0].Snapshots != 2 || st.Stores[1].Snapshots != 3 || st.Stores[1].Type != "s3" || st.Stores[1].Path != "offsite" {
		t.Fatalf("status stores %+v, want disk with 2 and offsite (s3) with 3", st.Stores)
	}
	for _, family := range []string{"raftsnap_stored_snapshots", "raftsnap_store_up"} {
		if n, _ := storeSeries(t, d, family, "offsite"); n != 1 {
			t.Errorf("%s has %d series for the bucket that three jobs use, want 1", family, n)
		}
	}
	if _, v := storeSeries(t, d, "raftsnap_stored_snapshots", "offsite"); v != 3 {
		t.Errorf("raftsnap_stored_snapshots{store=offsite} = %v, want 3", v)
	}
	if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 1 {
		t.Errorf("raftsnap_store_up{store=offsite} = %v, want 1", v)
	}

	// test pruning reads the bucket, with its own retention.
	r := mustRS(t, "test", "pruning", "--config", config, "--job", "consul-main", "--store", "offsite", "--format", "json")
	var report struct {
		Store     string            `json:"store"`
		Policy    string            `json:"policy"`
		Decisions []json.RawMessage `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil {
		t.Fatalf("test pruning --format json: %v\n%s", err, r)
	}
	if report.Store != "s3://snapshots/consul-main/" || len(report.Decisions) != 3 || !strings.Contains(report.Policy, "3") {
		t.Fatalf("test pruning of the bucket: %+v", report)
	}
	if r := rs(t, "test", "pruning", "--config", config, "--job", "consul-main"); r.Code == 0 || !strings.Contains(r.Stderr, "--store") {
		t.Fatalf("test pruning of a job with two stores and no --store: %s", r)
	}

	// The prune job over the bucket keeps its 3; the scrub reads all 5 copies.
	if rep := d.Signal(t, "offsite-prune", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Pruning == nil || rep.Pruning.Kept != 3 {
		t.Fatalf("prune of the bucket: %+v", rep)
	}
	if rep := d.Signal(t, "offsite-scrub", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Scrub == nil || rep.Scrub.Checked != 5 || rep.Scrub.Failed != 0 {
		t.Fatalf("scrub: %+v (scrub %+v)", rep, rep.Scrub)
	}

	// One archive rots in the bucket (a byte changed, same size): the next
	// scrub finds it, marks it unverified, and says so in status and metrics.
	rotten := remote[len(remote)-1]
	obj, err := s3.Client().GetObject(context.Background(), &s3api.GetObjectInput{Bucket: aws.String("snapshots"), Key: aws.String("consul-main/" + rotten.Name)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if _, err := s3.Client().PutObject(context.Background(), &s3api.PutObjectInput{Bucket: aws.String("snapshots"),
		Key: aws.String("consul-main/" + rotten.Name), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	rep := d.Signal(t, "offsite-scrub", controlapi.OpWakeup, true).Run
	if rep.Result != controlapi.ResultFailure || rep.Scrub == nil || rep.Scrub.Failed != 1 || !strings.Contains(rep.Scrub.Failures[0], rotten.Name) {
		t.Fatalf("scrub of a rotted archive: %+v (scrub %+v)", rep, rep.Scrub)
	}
	if v := scrapeMetric(t, d, "raftsnap_scrub_snapshots_total", map[string]string{"job_name": "offsite-scrub", "result": "rotted"}); v != 1 {
		t.Errorf("scrub rotted counter = %v, want 1", v)
	}
	if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "offsite-scrub", "reason": "verification"}); v != 1 {
		t.Errorf("scrub failures{reason=verification} = %v, want 1", v)
	}
	if after, _ := listBucket(t, cfg); len(after) != 3 || after[2].Name != rotten.Name || after[2].Verified || after[2].VerifyError == "" {
		t.Fatalf("bucket after the scrub: %+v; want %s listed unverified with its reason", after, rotten.Name)
	}
	dump := mustRS(t, "status", "--mode", "dump", "--socket", d.Sock)
	if !strings.Contains(dump.Stdout, "offsite (s3): 3 snapshots") || !strings.Contains(dump.Stdout, "1 unverified") {
		t.Errorf("status dump does not show the bucket with its unverified snapshot:\n%s", dump.Stdout)
	}
	if _, v := storeSeries(t, d, "raftsnap_stored_unverified_snapshots", "offsite"); v != 1 {
		t.Errorf("raftsnap_stored_unverified_snapshots{store=offsite} = %v, want 1", v)
	}

	// The restore job sends the bucket's newest snapshot to the other Consul.
	if rep := d.Signal(t, "restore-other", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Snapshot != remote[0].Name {
		t.Fatalf("restore from the bucket: %+v, want %s", rep, remote[0].Name)
	}
	if v, ok := other.GetKV(t, "app/config"); !ok || v != "v3" {
		t.Fatalf("after the restore from the bucket the other Consul has app/config = %q (%v), want v3", v, ok)
	}

	// A drill proves the bucket's newest snapshot restorable, and records
	// it in its manifest.
	if rep := d.Signal(t, "offsite-drill", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Drill == nil ||
		rep.Drill.Outcome != controlapi.DrillOK || rep.Snapshot != remote[0].Name {
		t.Fatalf("drill from the bucket: %+v (drill %+v), want ok for %s", rep, rep.Drill, remote[0].Name)
	}
	if drilled, _ := listBucket(t, cfg); drilled[0].Drill == nil || drilled[0].Drill.Result != store.DrillOK {
		t.Fatalf("the bucket's manifest of %s has no ok drill record: %+v", drilled[0].Name, drilled[0].Drill)
	}
	if out := d.Output(); strings.Contains(out, s3.SecretKey) {
		t.Fatal("the S3 secret key is in the daemon's output")
	}
}

// TestAzuriteRoundTrip: a snapshot job writes into an Azurite container, and
// a restore job restores from it into the cluster.
func TestAzuriteRoundTrip(t *testing.T) {
	az := servers.StartAzurite(t)
	az.SetEnv(t)
	az.CreateContainer(t, "snapshots")
	c := startCluster(t, "")
	putRandom(t, c, "k%d", 1, 64)

	dir := shortTempDir(t)
	azStore := fmt.Sprintf(`{type: azure, container: snapshots, prefix: dev/, endpoint: "%s"}`, az.Endpoint)
	config := writeConfig(t, dir, controlIn, []string{
		`{name: dev, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, store: ` + azStore + `, pruning: {keep: [{last_n: {count: 3}}]}}`,
		`{name: back, type: restore, from_job: dev, allow_overwrite: true, target: {type: raft, address: %[2]s}}`,
	}, leader(t, c).HTTPAddr)
	d := startDaemon(t, config)
	first := d.AwaitJob(t, "dev", "the start-up snapshot", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	if first.LastRun.Result != controlapi.ResultSuccess || first.Store == nil || first.Store.Snapshots != 1 || first.Store.Type != "azure" {
		t.Fatalf("snapshot into Azurite: %+v, store %+v", first.LastRun, first.Store)
	}
	putRandom(t, c, "later%d", 1, 8)
	if rep := d.Signal(t, "back", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess || rep.Snapshot != first.LastRun.Snapshot {
		t.Fatalf("restore from Azurite: %+v, want %s", rep, first.LastRun.Snapshot)
	}
	if v, ok, err := c.Get(context.Background(), "later0"); err != nil || ok {
		t.Fatalf("after the restore from Azurite, a key written after the snapshot: %q (present %v, %v)", v, ok, err)
	}
}

// TestBucketFaults: a store that dies in the middle of an upload, refuses
// the credentials (403, permanent: not retried) or does not exist. In each
// case nothing invalid is listed, older snapshots stay, and the reason shows
// in status and metrics.
func TestBucketFaults(t *testing.T) {
	s3 := servers.StartVersity(t)
	s3.CreateBucket(t, "snapshots")
	c := startCluster(t, "")
	putRandom(t, c, "k%d", 1, 2048)
	addr := leader(t, c).HTTPAddr
	cfg := bucket.Config{Provider: bucket.S3, Bucket: "snapshots", Prefix: "faults/", Endpoint: s3.Endpoint, PathStyle: true}

	t.Run("killed mid-upload", func(t *testing.T) {
		s3.SetEnv(t)
		proxy := testkit.NewProxy(t, s3.Endpoint)
		dir := shortTempDir(t)
		config := writeConfig(t, dir, `{control: {sockpath: %[1]s/control/sock}, monitoring: {listen: "127.0.0.1:0"}}`, []string{
			`{name: faults, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h, pruning: {keep: [{last_n: {count: 5}}]},
      stores: [{name: disk, path: %[1]s/store}, ` + s3Block("offsite", "snapshots", "faults/", "%[3]s", "") + `]}`,
		}, addr, proxy.URL)
		d := startDaemon(t, config)
		first := d.AwaitJob(t, "faults", "the start-up snapshot", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
		if first.LastRun.Result != controlapi.ResultSuccess {
			t.Fatalf("first snapshot: %+v", first.LastRun)
		}
		before, _ := listBucket(t, cfg)
		if len(before) != 1 {
			t.Fatalf("bucket holds %d snapshots after the first run, want 1", len(before))
		}

		// The next upload is held after its first bytes; the gateway dies then.
		release := make(chan struct{})
		proxy.Set(testkit.Fault{HoldUploadAfter: 1024, ReleaseUpload: release})
		putRandom(t, c, "more%d", 1, 64)
		d.Signal(t, "faults", controlapi.OpWakeup, false)
		<-proxy.UploadHeld()
		if err := s3.Kill(); err != nil {
			t.Fatal(err)
		}
		close(release)
		st := d.AwaitJob(t, "faults", "the run with the gateway killed", func(j controlapi.JobStatus) bool {
			return j.LastRun != nil && j.LastRun.ID != first.LastRun.ID
		})
		// The snapshot is kept in the directory; the bucket's failure is a
		// warning of the run, its store's error, and its metric.
		if st.LastRun.Result != controlapi.ResultSuccess || len(st.LastRun.Warnings) == 0 {
			t.Fatalf("run with the bucket killed mid-upload: %+v", st.LastRun)
		}
		if len(st.Stores) != 2 || st.Stores[1].LastError == "" || st.Stores[0].Snapshots != 2 {
			t.Fatalf("stores after the failed upload: %+v", st.Stores)
		}
		if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 0 {
			t.Errorf("raftsnap_store_up{store=offsite} = %v after the failed upload, want 0", v)
		}

		// Back up: nothing invalid is listed, the older snapshot is intact,
		// and the next run copies the missing one.
		proxy.Set(testkit.Fault{})
		if err := s3.Restart(); err != nil {
			t.Fatal(err)
		}
		after, _ := listBucket(t, cfg)
		if len(after) != 1 || after[0].Name != before[0].Name || after[0].SHA256 != before[0].SHA256 {
			t.Fatalf("bucket after the killed upload lists %+v, want only the older %s untouched", after, before[0].Name)
		}
		if rep := d.Signal(t, "faults", controlapi.OpWakeup, true).Run; rep.Result != controlapi.ResultSuccess {
			t.Fatalf("run after the gateway came back: %+v", rep)
		}
		caught, _ := listBucket(t, cfg)
		allVerified(t, "the bucket", caught)
		if len(caught) != 3 {
			t.Fatalf("bucket after the gateway came back holds %d snapshots, want 3 (the missed one copied)", len(caught))
		}
		if st := d.Job(t, "faults"); st.Stores[1].LastError != "" || st.Stores[1].Behind != 0 {
			t.Fatalf("bucket store after catching up: %+v", st.Stores[1])
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		s3.SetEnv(t)
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
		d, st := failingStoreRun(t, "denied", "snapshots", addr, s3.Endpoint)
		if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "denied", "reason": "store_denied"}); v != 1 {
			t.Errorf("failures{reason=store_denied} = %v, want 1", v)
		}
		if n, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); n != 1 || v != 0 {
			t.Errorf("raftsnap_store_up{store=offsite}: %d series, value %v; want one, 0", n, v)
		}
		if out := d.Output() + st.LastRun.Error; strings.Contains(out, "not-the-secret") || strings.Contains(out, s3.SecretKey) {
			t.Fatal("a secret key is in the daemon's output or the run's error")
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		s3.SetEnv(t)
		d, _ := failingStoreRun(t, "nobucket", "no-such-bucket", addr, s3.Endpoint)
		if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "nobucket", "reason": "store_not_found"}); v != 1 {
			t.Errorf("failures{reason=store_not_found} = %v, want 1", v)
		}
		if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 0 {
			t.Errorf("raftsnap_store_up{store=offsite} = %v, want 0", v)
		}
		// The bucket the others use is untouched.
		if entries, _ := listBucket(t, cfg); len(entries) != 3 {
			t.Errorf("the shared bucket now lists %d snapshots, want the 3 from before", len(entries))
		}
	})

	// The faults below need an archive of several 5 MiB parts: 20 MiB of
	// base64 (of random bytes), a 20.9 MB archive, four parts.
	putRandom(t, c, "big%d", 32, 640<<10)

	t.Run("slow store", func(t *testing.T) {
		s3.SetEnv(t)
		proxy := testkit.NewProxy(t, s3.Endpoint)
		d := startDaemon(t, bucketJob{name: "slow", bucket: "snapshots", prefix: "slow/", source: addr, endpoint: proxy.URL, storeKeys: bucketPartSize}.config(t))
		first := d.AwaitJob(t, "slow", "the start-up snapshot", daemonproc.HasRun)
		if first.LastRun.Result != controlapi.ResultSuccess {
			t.Fatalf("first snapshot: %+v", first.LastRun)
		}
		// Latency on every request and each request's body paced at
		// 4 MiB/s (two parts in flight: 8 MiB/s): the run takes seconds,
		// and completes.
		const rate, parallel = 4 << 20, bucket.DefaultConcurrency
		proxy.Set(testkit.Fault{Delay: 50 * time.Millisecond, Rate: rate})
		requests := proxy.Requests()
		rep := d.Signal(t, "slow", controlapi.OpWakeup, true).Run
		if rep.Result != controlapi.ResultSuccess {
			t.Fatalf("snapshot into a slow store: %+v", rep)
		}
		if took, least := rep.FinishedAt.Sub(rep.StartedAt), time.Duration(rep.Bytes)*time.Second/(rate*parallel); took < least {
			t.Fatalf("the run took %s, under the %s its %d bytes need at %d B/s: the proxy did not slow it", took, least, rep.Bytes, rate*parallel)
		}
		if n := proxy.Requests() - requests; n < 4 { // create, 2+ parts, complete, manifest
			t.Fatalf("the slow upload made %d requests: not a multipart upload", n)
		}
		entries := checkBucket(t, s3, bucketCfg(s3, "slow/"), first.LastRun.Snapshot, rep.Snapshot)
		if entries[0].Name != rep.Snapshot || entries[0].Size != rep.Bytes {
			t.Fatalf("the newest stored snapshot is %s of %d bytes, the run stored %s of %d", entries[0].Name, entries[0].Size, rep.Snapshot, rep.Bytes)
		}
		if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 1 {
			t.Errorf("raftsnap_store_up{store=offsite} = %v after a slow upload, want 1", v)
		}
	})

	t.Run("slow store past the timeout", func(t *testing.T) {
		s3.SetEnv(t)
		proxy := testkit.NewProxy(t, s3.Endpoint)
		d := startDaemon(t, bucketJob{name: "late", bucket: "snapshots", prefix: "late/", source: addr, endpoint: proxy.URL,
			jobKeys: ", timeout: 6s, retries: {max: 0}", storeKeys: bucketPartSize}.config(t))
		first := d.AwaitJob(t, "late", "the start-up snapshot", daemonproc.HasRun)
		if first.LastRun.Result != controlapi.ResultSuccess {
			t.Fatalf("first snapshot: %+v", first.LastRun)
		}
		// At 512 KiB/s a part (two in flight) the 20 MB archive needs
		// ~20 s: the 6 s timeout (ample for the first, unpaced run) ends
		// the attempt with its upload under way.
		proxy.Set(testkit.Fault{Delay: 50 * time.Millisecond, Rate: 512 << 10})
		d.Signal(t, "late", controlapi.OpWakeup, false)
		if err := testkit.Poll(testkit.DefaultWait, func() bool { return len(incompleteUploads(t, s3, "snapshots", "late/")) > 0 }); err != nil {
			t.Fatal("no multipart upload under way while the slow run lasts")
		}
		rep := *d.AwaitJob(t, "late", "the run past its timeout", func(j controlapi.JobStatus) bool {
			return j.LastRun != nil && j.LastRun.ID != first.LastRun.ID
		}).LastRun
		if rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || !strings.Contains(rep.Error, "timed out after 6s") {
			t.Fatalf("snapshot into a store slower than the timeout: %+v; want one attempt failing with a timeout", rep)
		}
		t.Logf("the run past its timeout: %s", rep.Error)
		if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "late", "reason": "timeout"}); v != 1 {
			t.Errorf("failures{reason=timeout} = %v, want 1", v)
		}
		// The store is the one that was late: its status and metric say so.
		if st := d.Job(t, "late"); st.Store == nil || st.Store.Snapshots != 1 || !strings.Contains(st.Store.LastError, "context deadline exceeded") {
			t.Errorf("status after the timeout: store %+v; want the 1 older snapshot and the deadline as its last error", st.Store)
		}
		if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 0 {
			t.Errorf("raftsnap_store_up{store=offsite} = %v after the upload timed out, want 0", v)
		}
		proxy.Set(testkit.Fault{})
		checkBucket(t, s3, bucketCfg(s3, "late/"), first.LastRun.Snapshot)
	})

	t.Run("source cut mid-upload", func(t *testing.T) {
		s3.SetEnv(t)
		src := testkit.NewProxy(t, addr)
		d := startDaemon(t, bucketJob{name: "cut", bucket: "snapshots", prefix: "cut/", source: src.URL, endpoint: s3.Endpoint,
			jobKeys: ", retries: {max: 0}", storeKeys: bucketPartSize}.config(t))
		first := d.AwaitJob(t, "cut", "the start-up snapshot", daemonproc.HasRun)
		if first.LastRun.Result != controlapi.ResultSuccess || first.LastRun.Bytes < 3*5<<20 {
			t.Fatalf("first snapshot: %+v; want one of three parts or more", first.LastRun)
		}
		// The source's answer ends (FIN, the full Content-Length announced)
		// after 11 MiB: the proxy hangs up once two parts of the upload
		// are in the bucket.
		parts := 0
		src.Queue(testkit.Fault{Cut: testkit.CutClose, CutAt: 11 << 20, OnCut: func() {
			if err := testkit.Poll(testkit.DefaultWait, func() bool {
				parts = uploadedParts(t, s3, "snapshots", "cut/")
				return parts >= 2
			}); err != nil {
				t.Errorf("the source was cut with %d parts uploaded, want 2", parts)
			}
		}})
		rep := d.Signal(t, "cut", controlapi.OpWakeup, true).Run
		if rep.Result != controlapi.ResultFailure || rep.Attempts != 1 || !strings.Contains(rep.Error, "response body cut short after 11534336 of") {
			t.Fatalf("snapshot from a source cut mid-upload: %+v; want one failed attempt saying the answer ended early", rep)
		}
		if v := scrapeMetric(t, d, "raftsnap_job_failures_total", map[string]string{"job_name": "cut", "reason": "connection"}); v != 1 {
			t.Errorf("failures{reason=connection} = %v, want 1", v)
		}
		if st := d.Job(t, "cut"); st.LastRun.Error != rep.Error || st.Store == nil || st.Store.Snapshots != 1 || st.Store.LastError != "" {
			t.Errorf("status after the cut: last run %+v, store %+v; want the cut, the 1 older snapshot and no store error", st.LastRun, st.Store)
		}
		if _, v := storeSeries(t, d, "raftsnap_store_up", "offsite"); v != 1 {
			t.Errorf("raftsnap_store_up{store=offsite} = %v after a source fault, want 1 (the store is not at fault)", v)
		}
		checkBucket(t, s3, bucketCfg(s3, "cut/"), first.LastRun.Snapshot)
	})
}

// bucketPartSize is the store option of the faults that need an upload of
// several parts: S3's smallest part.
const bucketPartSize = ", part_size: 5MiB"

// bucketCfg is the bucket "snapshots" of s3 under prefix, as the tests
// list it.
func bucketCfg(s3 *servers.S3, prefix string) bucket.Config {
	return bucket.Config{Provider: bucket.S3, Bucket: "snapshots", Prefix: prefix, Endpoint: s3.Endpoint, PathStyle: true}
}

// uploadedParts is how many parts the multipart uploads under prefix in
// bucketName hold.
func uploadedParts(t *testing.T, s3 *servers.S3, bucketName, prefix string) int {
	t.Helper()
	ctx := context.Background()
	ups, err := s3.Client().ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: aws.String(bucketName), Prefix: aws.String(prefix)})
	if err != nil {
		t.Errorf("listing the uploads: %v", err)
		return 0
	}
	n := 0
	for _, up := range ups.Uploads {
		parts, err := s3.Client().ListParts(ctx, &s3api.ListPartsInput{Bucket: aws.String(bucketName), Key: up.Key, UploadId: up.UploadId})
		if err == nil {
			n += len(parts.Parts)
		}
	}
	return n
}

// checkBucket checks the prefix of cfg after a fault: exactly the
// snapshots named are listed (newest first in the result), each verifies
// when read back and matches its manifest, nothing else is stored under
// the prefix, and no multipart upload is left there.
func checkBucket(t *testing.T, s3 *servers.S3, cfg bucket.Config, names ...string) []store.Entry {
	t.Helper()
	entries, foreign := listBucket(t, cfg)
	verifyListed(t, cfg, entries)
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name] = true
	}
	for _, n := range names {
		if !got[n] {
			t.Fatalf("%s was lost; %s lists %v", n, cfg.Location(), entries)
		}
	}
	if len(entries) != len(names) || len(foreign) != 0 {
		t.Fatalf("%s lists %d snapshots %v and %d other objects %v; want %v and nothing else", cfg.Location(), len(entries), entries, len(foreign), foreign, names)
	}
	if keys := incompleteUploads(t, s3, cfg.Bucket, cfg.Prefix); len(keys) != 0 {
		t.Fatalf("incomplete multipart uploads left under %s: %v", cfg.Location(), keys)
	}
	return entries
}

// incompleteUploads lists the keys of the multipart uploads under prefix.
func incompleteUploads(t *testing.T, s3 *servers.S3, bucketName, prefix string) []string {
	t.Helper()
	all, err := s3.IncompleteUploads(bucketName)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range all {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// failingStoreRun starts a daemon with a snapshot job (retries allowed)
// into bucketName at endpoint, whose start-up run must fail at once: one
// attempt, the error naming the store's bucket and prefix.
func failingStoreRun(t *testing.T, job, bucketName, source, endpoint string) (*daemonProc, controlapi.JobStatus) {
	t.Helper()
	d := startDaemon(t, bucketJob{name: job, bucket: bucketName, prefix: "faults/", source: source, endpoint: endpoint,
		jobKeys: ", retries: {max: 3, initial_backoff: 10ms}"}.config(t))
	st := d.AwaitJob(t, job, "the start-up run", func(j controlapi.JobStatus) bool { return j.LastRun != nil })
	if st.LastRun.Result != controlapi.ResultFailure || st.LastRun.Attempts != 1 || !strings.Contains(st.LastRun.Error, "s3://"+bucketName+"/faults/") {
		t.Fatalf("run of %s: %+v; want one attempt (a permanent failure) naming the store's bucket", job, st.LastRun)
	}
	return d, st
}

// bucketJob is a snapshot job of a raft source into the s3 store
// "offsite", keeping 5.
type bucketJob struct {
	name, bucket, prefix string
	source, endpoint     string // the raft source's and the gateway's URLs
	// jobKeys and storeKeys add keys to the job and to its store block
	// (", timeout: 3s").
	jobKeys, storeKeys string
}

// config writes a configuration with metrics and the job, and returns its
// path.
func (j bucketJob) config(t *testing.T) string {
	t.Helper()
	return writeConfig(t, shortTempDir(t), controlAndMetrics, []string{
		`{name: ` + j.name + `, type: snapshot, source: {type: raft, address: %[2]s}, interval: 1h` + j.jobKeys + `,
      store: ` + s3Block("offsite", j.bucket, j.prefix, "%[3]s", j.storeKeys) + `, pruning: {keep: [{last_n: {count: 5}}]}}`,
	}, j.source, j.endpoint)
}
