package bucket_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket/buckettest"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

func TestMemConformance(t *testing.T) {
	storetest.Conformance(t, func(t *testing.T) store.Store {
		st, _ := buckettest.Mem(t, bucket.Options{})
		return st
	}, 1<<20)
}

// TestVersityConformance runs the Store contract against a real S3 server,
// with small parts so that the large archive is a multipart upload.
func TestVersityConformance(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	storetest.Conformance(t, buckettest.FreshS3(srv, "conformance"), 12<<20)
}

// TestAzuriteConformance runs the Store contract against Azurite.
func TestAzuriteConformance(t *testing.T) {
	srv := servers.StartAzurite(t)
	srv.SetEnv(t)
	storetest.Conformance(t, buckettest.FreshAzure(srv, "conformance"), 12<<20)
}

// checkNoUploads fails the test if a multipart upload was left in bucket.
func checkNoUploads(t *testing.T, srv *servers.S3, name string) {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(name)})
	if err != nil {
		t.Errorf("listing uploads of %s: %v", name, err)
		return
	}
	for _, up := range out.Uploads {
		t.Errorf("an incomplete upload was left behind: %s", aws.ToString(up.Key))
	}
}

// TestListReadsEachManifestOnce: the second listing of a large store makes
// a handful of list requests and reads no manifest.
func TestListReadsEachManifestOnce(t *testing.T) {
	st, b := buckettest.Mem(t, bucket.Options{ListTTL: time.Nanosecond})
	ctx := context.Background()
	const count = 2500
	plant(t, b, "consul-main/", "consul-main", count)
	entries, foreign, err := st.List(ctx)
	if err != nil || len(entries) != count || len(foreign) != 0 {
		t.Fatalf("listed %d entries, %d foreign, %v", len(entries), len(foreign), err)
	}
	if got := st.Requests.Read.Load(); got != count {
		t.Fatalf("first listing read %d manifests, want %d", got, count)
	}
	before := st.Requests.Read.Load()
	lists := st.Requests.List.Load()
	entries, _, err = st.List(ctx)
	if err != nil || len(entries) != count {
		t.Fatal(err)
	}
	if got := st.Requests.Read.Load() - before; got != 0 {
		t.Fatalf("second listing read %d manifests, want 0", got)
	}
	if got := st.Requests.List.Load() - lists; got != 5 { // 5000 objects, 1000 a page
		t.Fatalf("second listing made %d list requests, want 5", got)
	}
	// A rewritten manifest is read again, and only it.
	e := entries[17]
	e.Verified = false
	if err := st.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	before = st.Requests.Read.Load()
	entries, _, _ = st.List(ctx)
	if got := st.Requests.Read.Load() - before; got != 1 {
		t.Fatalf("listing after one update read %d manifests, want 1", got)
	}
	for _, x := range entries {
		if x.Name == e.Name && x.Verified {
			t.Fatalf("%s still verified after the update", x.Name)
		}
	}
}

// plant writes count manifests and archives straight into b, as another
// writer would have.
func plant(t testing.TB, b *blob.Bucket, prefix, job string, count int) {
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	archive := []byte("stand-in archive: listing reads no archive")
	for i := range count {
		created := start.Add(time.Duration(i) * 5 * time.Minute)
		e := store.Entry{Schema: store.SidecarSchema, Name: store.NewName(job, created, uint64(1000+i), 1), Job: job, Source: "planted",
			CreatedAt: created, Size: int64(len(archive)), SHA256: strings.Repeat("ab", 32), Index: uint64(1000 + i), Term: 2, Verified: true}
		data, err := store.EncodeRecord(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WriteAll(ctx, prefix+e.Name+bucket.ManifestSuffix, data, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteAll(ctx, prefix+e.Name, archive, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeftoversListedNotTrusted: what interrupted writes and hand edits
// leave is reported as foreign with the reason, never listed; Clean
// removes the leftovers of the jobs asked once they are older than the
// grace period, and nothing else.
func TestLeftoversListedNotTrusted(t *testing.T) {
	ctx := context.Background()
	st, b := buckettest.Mem(t, bucket.Options{ListTTL: time.Nanosecond, StaleAfter: time.Hour})
	good := commit(t, st, "consul-main", 5)
	put := func(name, data string) {
		if err := b.WriteAll(ctx, "consul-main/"+name, []byte(data), nil); err != nil {
			t.Fatal(err)
		}
	}
	orphan := store.NewName("consul-main", time.Now(), 6, 1)
	put(orphan, "archive whose manifest was never written")
	lonely := store.NewName("consul-main", time.Now(), 7, 1)
	put(lonely+".json", `{"schema":1}`)
	damaged := store.NewName("consul-main", time.Now(), 8, 1)
	put(damaged, "x")
	put(damaged+".json", "not json")
	otherJob := store.NewName("nomad", time.Now(), 9, 1)
	put(otherJob, "another job's orphan")
	put("notes.txt", "an operator's file")
	put("sub/dir/file", "a folder")

	entries, foreign, err := st.List(ctx)
	if err != nil || len(entries) != 1 || entries[0].Name != good.Name {
		t.Fatalf("listed %v, %v", entries, err)
	}
	problems := map[string]string{}
	for _, f := range foreign {
		problems[f.Name] = f.Problem
	}
	for name, want := range map[string]string{
		orphan:            "archive without its manifest",
		lonely + ".json":  "manifest",
		damaged + ".json": "not valid JSON",
		otherJob:          "archive without its manifest",
		"notes.txt":       "",
		"sub/":            "",
	} {
		got, ok := problems[name]
		if !ok || !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("%s: problem %q (listed as foreign: %v), want %q", name, got, ok, want)
		}
	}
	if _, err := st.Get(ctx, orphan); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("Get(orphan) = %v: its name must not be reused", err)
	}
	// Fresh: nothing removed (another writer may be between its two
	// writes).
	if removed, err := st.Clean(ctx, []string{"consul-main"}); err != nil || len(removed) != 0 {
		t.Fatalf("Clean of fresh leftovers removed %v, %v", removed, err)
	}
	old := bucket.New(b, bucket.Config{Provider: bucket.GCS, Bucket: "mem", Prefix: "consul-main/"}, bucket.Options{StaleAfter: time.Nanosecond}, nil)
	time.Sleep(time.Millisecond)
	removed, err := old.Clean(ctx, []string{"consul-main"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{orphan, lonely + ".json"}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("Clean removed %v, want the consul-main orphan archive and manifest only", removed)
	}
	for _, keep := range []string{good.Name, good.Name + ".json", damaged, damaged + ".json", otherJob, "notes.txt", "sub/dir/file"} {
		if ok, _ := b.Exists(ctx, "consul-main/"+keep); !ok {
			t.Errorf("Clean removed %s", keep)
		}
	}
}

// TestCleanSparesLiveUploads: a write in progress in this process is never
// a leftover, however old.
func TestCleanSparesLiveUploads(t *testing.T) {
	ctx := context.Background()
	st, b := buckettest.Mem(t, bucket.Options{StaleAfter: time.Nanosecond, ListTTL: time.Nanosecond})
	data, rep := storetest.Archive(t, "consul-main", 2, 11, 1000)
	name := store.NewName("consul-main", time.Now(), 11, 1)
	p, err := st.Create(ctx, "consul-main", name)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(data)
	time.Sleep(time.Millisecond)
	if removed, err := st.Clean(ctx, nil); err != nil || len(removed) != 0 {
		t.Fatalf("Clean during a write removed %v, %v", removed, err)
	}
	if _, err := p.Commit(ctx, storetest.EntryFor(rep, time.Now())); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, "consul-main/"+name+".json"); !ok {
		t.Fatal("no manifest")
	}
}

func commit(t testing.TB, st store.Store, job string, index uint64) store.Entry {
	t.Helper()
	data, rep := storetest.Archive(t, job, 2, index, 1000)
	return storetest.CommitData(t, st, job, data, storetest.EntryFor(rep, time.Now()))
}

// TestCleanListsAfresh: two agents share a bucket. The standby's listing
// is reused for the listing TTL, so it does not see what the active agent
// just stored; its Clean, which a snapshot job runs first when it becomes
// active (daemon/job: catchUp), lists afresh, so that the new active
// agent schedules from the newest snapshot stored, not from a listing
// cached while it stood by (which would make it snapshot again at once).
func TestCleanListsAfresh(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	cfg := bucket.Config{Provider: bucket.GCS, Bucket: "mem", Prefix: "consul-main/"}
	active := bucket.New(b, cfg, bucket.Options{}, nil)
	defer active.Close()
	standby := bucket.New(b, cfg, bucket.Options{ListTTL: time.Hour}, nil)
	defer standby.Close()
	if entries, _, err := standby.List(ctx); err != nil || len(entries) != 0 {
		t.Fatalf("standby's first listing: %v, %v", entries, err)
	}
	e := commit(t, active, "consul-main", 12)
	if entries, _, _ := standby.List(ctx); len(entries) != 0 {
		t.Fatalf("the standby's listing within its TTL shows %v: the premise of this test (a cached listing) does not hold", entries)
	}
	if _, err := standby.Clean(ctx, []string{"consul-main"}); err != nil {
		t.Fatal(err)
	}
	if entries, _, err := standby.List(ctx); err != nil || len(entries) != 1 || entries[0].Name != e.Name {
		t.Fatalf("after Clean the listing shows %v, %v; want the other agent's %s", entries, err, e.Name)
	}
}
