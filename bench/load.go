package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// valueSize stays under Consul's default kv_max_value_size (512 KiB).
const valueSize = 512*1024 - 4096

// kvValue is deterministic service-catalog-like JSON lines with random IDs
// and numbers: it compresses about as much as real Consul state does (the
// archive comes out roughly a third of the state), unlike random bytes
// (incompressible) or repeated text (which gzip squeezes to nothing).
func kvValue(key int) []byte {
	rng := rand.New(rand.NewPCG(uint64(key), 0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.Grow(valueSize + 512)
	zones := []string{"eu-west-1a", "eu-west-1b", "us-east-1c", "ap-south-1a"}
	for b.Len() < valueSize {
		fmt.Fprintf(&b, `{"id":"%016x-%08x","service":"svc-%d","node":"node-%04d.%s","addr":"10.%d.%d.%d","port":%d,"tags":["v%d","%s"],"modify_index":%d,"check":"%s"}`+"\n",
			rng.Uint64(), rng.Uint32(), rng.IntN(500), rng.IntN(3000), zones[rng.IntN(len(zones))],
			rng.IntN(256), rng.IntN(256), rng.IntN(256), 1024+rng.IntN(60000), rng.IntN(20),
			zones[rng.IntN(len(zones))], rng.Uint32(), []string{"passing", "warning", "critical"}[rng.IntN(3)])
	}
	return b.Bytes()[:valueSize]
}

// loadKV writes total bytes of values into Consul's KV with 4 writers.
func loadKV(addr string, total int64) (keys int, err error) {
	keys = int((total + valueSize - 1) / valueSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= keys {
					return
				}
				url := fmt.Sprintf("%s/v1/kv/bench/catalog/%05d", addr, i)
				code, err := httpDo(http.MethodPut, url, bytes.NewReader(kvValue(i)))
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("PUT %s: HTTP %d", url, code)
				}
				if err != nil {
					errs <- err
					next.Store(int64(keys)) // stop the other writers
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return keys, <-errs
}

// stdlibVerify is `bench stdlib-verify FILE`: the plain standard-library
// verification the vendors' tools do, with the SHA-256 of the whole file
// that raftsnap records (testkit.VendorVerify), run as a process so that
// it is timed like every other tool.
func stdlibVerify(path string) error {
	sum, err := testkit.VendorVerify(path)
	if err != nil {
		return err
	}
	fmt.Printf("ok sha256 %x\n", sum)
	return nil
}
