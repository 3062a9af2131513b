package store_test

import (
	"testing"

	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// TestLocalConformance: the local store keeps the Store contract that the
// object stores are checked against too (snapshot/store/bucket).
func TestLocalConformance(t *testing.T) {
	storetest.Conformance(t, func(t *testing.T) store.Store {
		l, err := store.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}, 3<<20)
}
