package e2e

// The crash loop against an object store: the daemon SIGKILLed at random
// points of its uploads into a versitygw bucket (see crash_test.go for the
// loop and docs/reliability.md).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// crashBucketKillsCI is how many SIGKILLs TestCrashKillLoopBucket deals in
// a normal run (each cycle uploads megabytes); RAFTSNAP_SOAK_KILLS raises
// it.
const crashBucketKillsCI = 30

// crashBucketJobs write and prune through the bucket store %[3]s; %[2]s is
// the source's rate-limited proxy, %[4]d crashKeepFloor, %[5]s the jobs'
// interval.
var crashBucketJobs = []string{
	`{name: snap, type: snapshot, source: {type: raft, address: %[2]s}, interval: %[5]s, store: %[3]s, pruning: {keep: [{last_n: {count: 4}}]}}`,
	`{name: prune, type: prune, store: %[3]s, interval: %[5]s, owners: [snap], pruning: {keep: [{last_n: {count: %[4]d}}]}}`,
}

// crashBucketRate paces the source in the bucket's crash loop (bytes/s):
// the 11.5 MB archive takes ~350 ms to arrive; its multipart upload is
// created only once the first parts are buffered (measured: ~300 ms into
// the run) and completed ~450 ms in, so about a third of the snapshot kills land in it
// (measured: 2 to 10 of 30 kills leave an incomplete upload).
const crashBucketRate = 32 << 20

// bucketCrashState is what one kill left under the job's prefix, read
// without changing anything.
type bucketCrashState struct {
	entries []store.Entry
	orphans []string // archives without their manifest
	uploads []string // keys of incomplete multipart uploads
}

// inspectBucket checks the bucket as a kill left it, read-only: every
// listed snapshot is the snap job's, verifies when read back, and matches
// its manifest's size and SHA-256; what is not listed is an archive whose
// manifest was never written, or an incomplete upload.
func inspectBucket(t *testing.T, s3 *servers.S3, cfg bucket.Config) bucketCrashState {
	t.Helper()
	entries, foreign := listBucket(t, cfg)
	verifyListed(t, cfg, entries)
	st := bucketCrashState{entries: entries, uploads: incompleteUploads(t, s3, cfg.Bucket, cfg.Prefix)}
	for _, e := range entries {
		if e.Job != "snap" {
			t.Fatalf("listed %s is recorded for job %q, want snap", e.Name, e.Job)
		}
	}
	for _, f := range foreign {
		if !strings.HasPrefix(f.Problem, "archive without its manifest") {
			t.Fatalf("after a kill the bucket holds %s (%s): neither a snapshot nor the leftover of an interrupted commit", f.Name, f.Problem)
		}
		st.orphans = append(st.orphans, f.Name)
	}
	return st
}

// verifyListed reads back every listed snapshot of the bucket, without
// recording anything: each must verify and match its manifest's size and
// SHA-256.
func verifyListed(t *testing.T, cfg bucket.Config, entries []store.Entry) {
	t.Helper()
	st, err := bucket.Open(cfg, bucket.Options{ListTTL: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range entries {
		if !e.Verified {
			t.Fatalf("%s lists %s unverified (%s)", cfg.Location(), e.Name, e.VerifyError)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r, _, err := st.Open(ctx, e.Name)
		if err != nil {
			cancel()
			t.Fatalf("listed %s cannot be read: %v", e.Name, err)
		}
		h := sha256.New()
		rep, err := snapshot.Verify(ctx, io.TeeReader(r, h), snapshot.VerifyOptions{})
		r.Close()
		cancel()
		if err != nil {
			t.Fatalf("listed %s does not verify: %v", e.Name, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); rep.ArchiveBytes != e.Size || sum != e.SHA256 || rep.Meta.Index != e.Index {
			t.Fatalf("manifest of %s disagrees with its archive: manifest %d bytes sha256 %s index %d; archive %d bytes sha256 %s index %d",
				e.Name, e.Size, e.SHA256, e.Index, rep.ArchiveBytes, sum, rep.Meta.Index)
		}
	}
}

// TestCrashKillLoopBucket is TestCrashKillLoop with the snapshots in a
// versitygw bucket, uploaded in 5 MiB parts: the daemon is SIGKILLed at a
// random moment (0-600 ms) after waking a snapshot (¾) or prune (¼) run. After
// every kill, before the restart, a read-only listing shows only snapshots
// that verify against their manifests, and none that pruning had to keep
// is gone. What a kill leaves (an incomplete multipart upload, an archive
// whose manifest was never written) is fresh, so the next start leaves it
// alone: it cannot tell it from another agent's upload in progress. Once
// it is older than the grace period (6 h, reached by ageing the bucket),
// a clean start and a prune remove it from the job's prefix, while
// another writer's fresh upload there and everything under another prefix
// stay.
func TestCrashKillLoopBucket(t *testing.T) {
	// Not parallel: the daemons and the test's own listings take the
	// gateway's credentials from the environment (t.Setenv).
	kills := crashKills(t, crashBucketKillsCI)
	s3 := servers.StartVersity(t)
	s3.SetEnv(t)
	s3.CreateBucket(t, "snapshots")
	source := startCluster(t, "")
	// 11 MiB of base64 (of random bytes): an 11.5 MB archive, three parts.
	putRandom(t, source, "key-%02d", 44, 256<<10)
	cfg := bucketCfg(s3, "crash/")
	offsite := s3Block("offsite", "snapshots", "crash/", s3.Endpoint, bucketPartSize)
	dir := shortTempDir(t)
	rate := newRateProxy(t, leader(t, source).HTTPAddr, crashBucketRate)
	configPath := writeConfig(t, dir, `{logging: {level: info}, control: {sockpath: %[1]s/control/sock}, shutdown_timeout: 5s}`,
		crashBucketJobs, rate, offsite, crashKeepFloor, "1s")

	var (
		prev                   bucketCrashState
		floor                  = keptFloor{floor: crashKeepFloor}
		withUpload, withOrphan int
	)
	loop := killLoop{
		config:   configPath,
		kills:    kills,
		actions:  []string{"snap", "snap", "snap", "prune"}, // uploads weigh triple
		maxDelay: 600 * time.Millisecond,
		started: func(i int, _ *daemonProc) {
			// A fresh leftover may be another agent's upload in progress:
			// start-up leaves it.
			now := incompleteUploads(t, s3, cfg.Bucket, cfg.Prefix)
			for _, k := range prev.uploads {
				if !slices.Contains(now, k) {
					t.Fatalf("kill %d: start-up aborted the fresh upload %s (it could be another agent's)", i, k)
				}
			}
		},
		killed: func(i int, job string) {
			st := inspectBucket(t, s3, cfg)
			if len(st.uploads) > len(prev.uploads) {
				withUpload++
			}
			if len(st.orphans) > len(prev.orphans) {
				withOrphan++
			}
			floor.check(t, i, job, st.entries)
			prev = st
		},
	}
	start := time.Now()
	byAction := loop.run(t)
	t.Logf("%d kills in %s (%v): %d left an incomplete upload, %d an archive without its manifest; %d uploads and %d archives left in all",
		kills, time.Since(start).Round(time.Second), byAction, withUpload, withOrphan, len(prev.uploads), len(prev.orphans))
	if kills >= 20 && withUpload == 0 {
		t.Fatalf("none of %d kills interrupted a multipart upload: the test no longer exercises what it claims", kills)
	}

	// Another writer's leftovers under another prefix, as stale as the
	// kills' once aged; then a writer's fresh upload in the job's prefix.
	ctx := context.Background()
	otherName := store.NewName("snap", time.Now().Add(-time.Hour), 1, 1)
	startUpload(t, s3, "other/"+otherName)
	if _, err := s3.Client().PutObject(ctx, &s3api.PutObjectInput{Bucket: aws.String("snapshots"), Key: aws.String("other/" + otherName),
		Body: strings.NewReader("another writer's")}); err != nil {
		t.Fatal(err)
	}
	if err := s3.Age("snapshots", 7*time.Hour); err != nil {
		t.Fatal(err)
	}
	fresh := "crash/" + store.NewName("snap", time.Now(), 99999999, 1)
	startUpload(t, s3, fresh)

	// A clean start (no scheduled run: hourly jobs, a recent snapshot) and
	// a prune.
	final := filepath.Join(dir, "final.yml")
	writeConfigFile(t, final, 0o600, `{logging: {level: info}, control: {sockpath: %[1]s/control/sock}}`,
		crashBucketJobs, rate, offsite, crashKeepFloor, "1h")
	d := startDaemon(t, final)
	mustRS(t, "signal", "wakeup", "prune", "--wait", "--socket", d.Sock)
	logs := d.Stderr.String()
	after := inspectBucket(t, s3, cfg)
	floor.check(t, kills, "the final prune", after.entries)
	if len(after.orphans) != 0 || !slices.Equal(after.uploads, []string{fresh}) {
		t.Fatalf("after a clean start and a prune the job's prefix holds archives without manifest %v and uploads %v; want only the fresh upload %s",
			after.orphans, after.uploads, fresh)
	}
	for _, k := range prev.uploads {
		if !regexp.MustCompile(`aborted an incomplete upload left by an interrupted write.* object=` + regexp.QuoteMeta(k)).MatchString(logs) {
			t.Errorf("the abort of %s is not logged:\n%s", k, logs)
		}
	}
	for _, o := range prev.orphans {
		if !regexp.MustCompile(`removed a leftover of an interrupted write: archive without its manifest.* object=` + regexp.QuoteMeta(cfg.Prefix+o)).MatchString(logs) {
			t.Errorf("the removal of %s is not logged:\n%s", o, logs)
		}
	}
	if ups := incompleteUploads(t, s3, "snapshots", "other/"); len(ups) != 1 {
		t.Errorf("the other prefix holds uploads %v, want its 1 untouched", ups)
	}
	if _, err := s3.Client().HeadObject(ctx, &s3api.HeadObjectInput{Bucket: aws.String("snapshots"), Key: aws.String("other/" + otherName)}); err != nil {
		t.Errorf("the other prefix's archive without manifest: %v, want it untouched", err)
	}
}

// startUpload starts a multipart upload of key in the bucket "snapshots"
// and uploads its first part, as a writer does, and leaves it.
func startUpload(t *testing.T, s3 *servers.S3, key string) {
	t.Helper()
	ctx := context.Background()
	up, err := s3.Client().CreateMultipartUpload(ctx, &s3api.CreateMultipartUploadInput{Bucket: aws.String("snapshots"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Client().UploadPart(ctx, &s3api.UploadPartInput{Bucket: aws.String("snapshots"), Key: aws.String(key), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader(fmt.Sprintf("part 1 of %s", key))}); err != nil {
		t.Fatal(err)
	}
}
