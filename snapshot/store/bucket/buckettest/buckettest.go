// Package buckettest opens object stores for tests: over gocloud's
// in-memory bucket, and over the versitygw and Azurite servers of
// internal/testkit/servers.
package buckettest

import (
	"fmt"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// Prefix is the folder of the bucket the stores opened here use.
const Prefix = "consul-main/"

// Mem is a store over gocloud's in-memory bucket (the provider-independent
// logic, no server) and that bucket. The store is closed at the test's end.
func Mem(t testing.TB, opts bucket.Options) (*bucket.Store, *blob.Bucket) {
	b := memblob.OpenBucket(nil)
	st := bucket.New(b, bucket.Config{Provider: bucket.GCS, Bucket: "mem", Prefix: Prefix}, opts, nil)
	t.Cleanup(func() { st.Close() })
	return st, b
}

// OpenS3 opens a store on srv's bucket name, with the smallest parts (an
// archive of a few MiB is a multipart upload). It is closed at the test's
// end.
func OpenS3(t testing.TB, srv *servers.S3, name string, opts bucket.Options) *bucket.Store {
	t.Helper()
	return open(t, bucket.Config{Provider: bucket.S3, Bucket: name, Prefix: Prefix, Endpoint: srv.Endpoint,
		PathStyle: true, PartSize: bucket.MinPartSize, Concurrency: 2}, opts)
}

// OpenAzure opens a store on srv's container name, with the smallest
// parts. It is closed at the test's end.
func OpenAzure(t testing.TB, srv *servers.Azurite, name string, opts bucket.Options) *bucket.Store {
	t.Helper()
	return open(t, bucket.Config{Provider: bucket.Azure, Bucket: name, Prefix: Prefix, Endpoint: srv.Endpoint,
		PartSize: bucket.MinPartSize, Concurrency: 2}, opts)
}

func open(t testing.TB, cfg bucket.Config, opts bucket.Options) *bucket.Store {
	st, err := bucket.Open(cfg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// FreshS3 returns an opener of empty stores for storetest.Conformance:
// each call creates the bucket prefix-1, prefix-2... on srv and opens a
// store on it with OpenS3. At the test's end, that bucket must hold no
// multipart upload left behind.
func FreshS3(srv *servers.S3, prefix string) func(t *testing.T) store.Store {
	return fresh(prefix, srv.CreateBucket, func(t testing.TB, name string) *bucket.Store {
		t.Cleanup(func() {
			if keys, err := srv.IncompleteUploads(name); err != nil || len(keys) != 0 {
				t.Errorf("uploads left in %s: %v %v", name, keys, err)
			}
		})
		return OpenS3(t, srv, name, bucket.Options{})
	})
}

// FreshAzure is FreshS3 for Azurite's containers.
func FreshAzure(srv *servers.Azurite, prefix string) func(t *testing.T) store.Store {
	return fresh(prefix, srv.CreateContainer, func(t testing.TB, name string) *bucket.Store {
		return OpenAzure(t, srv, name, bucket.Options{})
	})
}

func fresh(prefix string, create func(testing.TB, string), open func(testing.TB, string) *bucket.Store) func(t *testing.T) store.Store {
	n := 0
	return func(t *testing.T) store.Store {
		n++
		name := fmt.Sprintf("%s-%d", prefix, n)
		create(t, name)
		return open(t, name)
	}
}
