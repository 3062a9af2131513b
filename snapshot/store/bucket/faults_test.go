package bucket_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket/buckettest"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestS3ErrorsAreClassified: wrong credentials and a missing bucket are
// permanent failures that name the store, bucket and key and no secret; a
// server that is down is a failure to retry.
func TestS3ErrorsAreClassified(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "snapshots")
	ctx := context.Background()

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-that-must-not-show")
	st := buckettest.OpenS3(t, srv, "snapshots", bucket.Options{})
	_, _, err := st.List(ctx)
	checkKind(t, "wrong secret", err, store.KindDenied, "s3 store s3://snapshots/consul-main/", "wrong-secret-that-must-not-show")
	srv.SetEnv(t)

	st = buckettest.OpenS3(t, srv, "no-such-bucket", bucket.Options{})
	_, _, err = st.List(ctx)
	checkKind(t, "missing bucket", err, store.KindNoBucket, "s3://no-such-bucket/consul-main/", srv.SecretKey)
	p, err := st.Create(ctx, "consul-main", store.NewName("consul-main", time.Now(), 1, 1))
	if err == nil {
		data, rep := storetest.Archive(t, "consul-main", 2, 1, 1000)
		p.Write(data)
		_, err = p.Commit(ctx, storetest.EntryFor(rep, time.Now()))
	}
	checkKind(t, "commit into a missing bucket", err, store.KindNoBucket, "no-such-bucket", srv.SecretKey)

	st = buckettest.OpenS3(t, srv, "snapshots", bucket.Options{})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _, err = st.List(ctx2)
	checkKind(t, "server down", err, store.KindUnavailable, "s3://snapshots/consul-main/", srv.SecretKey)
}

func checkKind(t *testing.T, what string, err error, kind store.ErrorKind, mention, secret string) {
	t.Helper()
	var se *store.Error
	switch {
	case !errors.As(err, &se):
		t.Errorf("%s: %v (%T), want a *store.Error", what, err, err)
	case se.Kind != kind:
		t.Errorf("%s: kind %s, want %s: %v", what, se.Kind, kind, err)
	case !strings.Contains(err.Error(), mention):
		t.Errorf("%s: %q does not name %q", what, err, mention)
	case secret != "" && strings.Contains(err.Error(), secret):
		t.Errorf("%s: %q quotes the secret", what, err)
	}
	if kind == store.KindDenied || kind == store.KindNoBucket {
		if !store.IsPermanent(err) {
			t.Errorf("%s: not permanent", what)
		}
	} else if store.IsPermanent(err) {
		t.Errorf("%s: permanent, want retried", what)
	}
}

// TestS3AbortLeavesNoUpload: an upload aborted after several parts leaves
// no incomplete multipart upload and nothing listed.
func TestS3AbortLeavesNoUpload(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "snapshots")
	st := buckettest.OpenS3(t, srv, "snapshots", bucket.Options{})
	ctx := context.Background()
	p, _, _ := startUpload(t, srv, st)
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	checkNoUploads(t, srv, "snapshots")
	if entries, foreign, err := st.List(ctx); err != nil || len(entries)+len(foreign) != 0 {
		t.Fatalf("after an abort: %v %v %v", entries, foreign, err)
	}
}

// startUpload starts writing a 16 MiB archive of consul-main into st (on
// srv's bucket "snapshots"), sends 12 MiB of it and waits until its
// multipart upload is under way. It returns the pending write, the whole
// archive and its report.
func startUpload(t *testing.T, srv *servers.S3, st *bucket.Store) (store.Pending, []byte, *snapshot.Report) {
	t.Helper()
	data, rep := storetest.Archive(t, "consul-main", 2, 5, 16<<20)
	p, err := st.Create(context.Background(), "consul-main", store.NewName("consul-main", time.Now(), 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(p, bytes.NewReader(data[:12<<20])); err != nil {
		t.Fatal(err)
	}
	waitForUpload(t, srv, "snapshots")
	return p, data, rep
}

// waitForUpload waits until a multipart upload is under way in bucket.
func waitForUpload(t *testing.T, srv *servers.S3, name string) {
	t.Helper()
	testkit.EventuallyWithin(t, 30*time.Second, "a multipart upload in bucket "+name, func() bool {
		out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(name)})
		return err == nil && len(out.Uploads) > 0
	})
}

// TestS3ServerKilledMidUpload: the server dies with an upload half done.
// The commit fails, nothing is listed once it is back, the older snapshot
// is untouched, and Clean aborts the upload left behind once it is older
// than the grace period (not before).
func TestS3ServerKilledMidUpload(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "snapshots")
	st := buckettest.OpenS3(t, srv, "snapshots", bucket.Options{StaleAfter: time.Hour, ListTTL: time.Nanosecond})
	ctx := context.Background()
	older := commit(t, st, "consul-main", 4)

	p, data, rep := startUpload(t, srv, st)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	_, werr := io.Copy(p, bytes.NewReader(data[12<<20:]))
	if werr == nil {
		_, werr = p.Commit(ctx, storetest.EntryFor(rep, time.Now()))
	}
	if store.KindOf(werr) != store.KindUnavailable {
		t.Fatalf("upload to a dead server: %v, want an unavailable store", werr)
	}
	p.Abort()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	entries, _, err := st.List(ctx)
	if err != nil || len(entries) != 1 || entries[0].Name != older.Name || entries[0].SHA256 != older.SHA256 {
		t.Fatalf("after the crash: %v %v", entries, err)
	}
	out, _ := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("snapshots")})
	if len(out.Uploads) != 1 {
		t.Fatalf("%d incomplete uploads after the crash, want the 1 the abort could not reach", len(out.Uploads))
	}
	if removed, err := st.Clean(ctx, []string{"consul-main"}); err != nil || len(removed) != 0 {
		t.Fatalf("Clean removed a fresh upload: %v %v", removed, err)
	}
	stale := buckettest.OpenS3(t, srv, "snapshots", bucket.Options{StaleAfter: time.Nanosecond})
	if removed, err := stale.Clean(ctx, []string{"nomad"}); err != nil || len(removed) != 0 {
		t.Fatalf("Clean for another job removed %v %v", removed, err)
	}
	removed, err := stale.Clean(ctx, []string{"consul-main"})
	if err != nil || len(removed) != 1 || !strings.Contains(removed[0], "incomplete upload") {
		t.Fatalf("Clean = %v %v, want the upload aborted", removed, err)
	}
	checkNoUploads(t, srv, "snapshots")
}

// TestAzureErrorsAreClassified: Azurite refusing a wrong key, a missing
// container, and a SAS token kept out of every error.
func TestAzureErrorsAreClassified(t *testing.T) {
	srv := servers.StartAzurite(t)
	srv.SetEnv(t)
	srv.CreateContainer(t, "snapshots")
	ctx := context.Background()
	open := func(container string) *bucket.Store {
		st, err := bucket.Open(bucket.Config{Provider: bucket.Azure, Bucket: container, Prefix: "consul-main/", Endpoint: srv.Endpoint}, bucket.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	t.Setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5LXRoYXQtbXVzdC1ub3Qtc2hvdw==")
	_, _, err := open("snapshots").List(ctx)
	checkKind(t, "wrong key", err, store.KindDenied, "azure store azblob://snapshots/consul-main/", "d3Jvbmcta2V5")
	srv.SetEnv(t)
	_, _, err = open("no-such-container").List(ctx)
	checkKind(t, "missing container", err, store.KindNoBucket, "azblob://no-such-container/", servers.AzuriteKey)

	t.Setenv("AZURE_STORAGE_KEY", "")
	os.Unsetenv("AZURE_STORAGE_KEY")
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2020-01-01T00:00:00Z&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D")
	_, _, err = open("snapshots").List(ctx)
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0LXNpZ25hdHVyZQ") {
		t.Fatalf("an expired SAS: %v (the signature must not show)", err)
	}
}

// TestCleanGoesOnAfterAFailedAbort: an abort refused (403: a policy that
// denies it for one key) does not stop the clean: the other stale upload is
// aborted in the same pass, and the refusal is reported.
func TestCleanGoesOnAfterAFailedAbort(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "snapshots")
	ctx := context.Background()
	var keys []string
	for i := range 2 {
		key := "consul-main/" + store.NewName("consul-main", time.Now(), uint64(i+1), 1)
		if _, err := srv.Client().CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("snapshots"), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	proxy := testkit.NewProxy(t, srv.Endpoint)
	st, err := bucket.Open(bucket.Config{Provider: bucket.S3, Bucket: "snapshots", Prefix: "consul-main/", Endpoint: proxy.URL, PathStyle: true},
		bucket.Options{StaleAfter: time.Nanosecond, ListTTL: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, _, err := st.List(ctx); err != nil { // the bucket opened
		t.Fatal(err)
	}
	// The clean lists the uploads, then aborts them in key order: the
	// first abort is refused.
	proxy.Queue(testkit.Fault{}, testkit.Fault{Status: http.StatusForbidden, Header: map[string]string{"Content-Type": "application/xml"},
		Body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`})
	removed, err := st.Clean(ctx, []string{"consul-main"})
	if err == nil || !strings.Contains(err.Error(), keys[0]) {
		t.Errorf("Clean with a refused abort: %v, want the refusal naming %s", err, keys[0])
	}
	if len(removed) != 1 || !strings.HasPrefix(removed[0], strings.TrimPrefix(keys[1], "consul-main/")) {
		t.Fatalf("Clean removed %v, want the second upload aborted after the first was refused", removed)
	}
	left, err := srv.IncompleteUploads("snapshots")
	if err != nil || len(left) != 1 || left[0] != keys[0] {
		t.Fatalf("uploads left: %v (%v), want only the refused %s", left, err, keys[0])
	}
}

// TestCleanSparesItsOwnEncryptedUpload: an upload this process has under
// way is never aborted by a clean, whatever its age, also when its object
// is the encrypted form (NAME.snap.age): a prune job's pass may clean while
// the snapshot job of the same store uploads.
func TestCleanSparesItsOwnEncryptedUpload(t *testing.T) {
	srv := servers.StartVersity(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "snapshots")
	st := buckettest.OpenS3(t, srv, "snapshots", bucket.Options{StaleAfter: time.Nanosecond})
	ctx := context.Background()
	name := store.NewName("consul-main", time.Now(), 5, 1)
	p, err := st.CreateObject(ctx, "consul-main", name, name+store.EncryptedSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.Write(bytes.Repeat([]byte("x"), bucket.MinPartSize+1)); err != nil {
		t.Fatal(err)
	}
	waitForUpload(t, srv, "snapshots")
	if removed, err := st.Clean(ctx, []string{"consul-main"}); err != nil || len(removed) != 0 {
		t.Fatalf("Clean during this process's own encrypted upload removed %v (%v), want nothing", removed, err)
	}
	if left, err := srv.IncompleteUploads("snapshots"); err != nil || len(left) != 1 {
		t.Fatalf("uploads after the clean: %v (%v), want the one under way", left, err)
	}
}
