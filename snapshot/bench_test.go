package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// The 1 GiB benchmarks take minutes and 2 GiB of disk; they run only when
// asked: go test -run '^$' -bench 1GiB -snapshot.large ./snapshot/
var benchLarge = flag.Bool("snapshot.large", false, "run the 1 GiB archive benchmarks")

// BenchmarkVerify compares Verify with the vendors' approach in the same
// run, on an archive written the way Consul writes it.
func BenchmarkVerify64MiB(b *testing.B) { benchmarkVerify(b, 64<<20) }
func BenchmarkVerify1GiB(b *testing.B)  { benchmarkVerify(b, 1<<30) }

// BenchmarkVerifySmall verifies a small archive (64 KiB of state, about
// what each job of the e2e load test saves) from memory: what a daemon
// allocates per snapshot it takes, in B/op and allocs/op.
func BenchmarkVerifySmall(b *testing.B) {
	const size = 64 << 10
	var archive bytes.Buffer
	if _, err := Write(&archive, testMeta(size), bytes.NewReader(syntheticState(size, 1))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(b.Context(), bytes.NewReader(archive.Bytes()), VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite compares Write with Consul's writer (compress/gzip at the
// default level, hashing the output file).
func BenchmarkWrite64MiB(b *testing.B) { benchmarkWrite(b, 64<<20) }
func BenchmarkWrite1GiB(b *testing.B)  { benchmarkWrite(b, 1<<30) }

func skipUnlessLarge(b *testing.B, size int64) {
	if size > 64<<20 && !*benchLarge {
		b.Skip("1 GiB benchmarks run only with -snapshot.large")
	}
}

func benchmarkVerify(b *testing.B, size int64) {
	skipUnlessLarge(b, size)
	path := benchArchive(b, size)
	info, _ := os.Stat(path)
	b.Logf("inflater: %s", InflateEngine())
	b.Logf("archive: %d MiB state, %d MiB compressed (%.2f:1)", size>>20, info.Size()>>20, float64(size)/float64(info.Size()))

	// verifyWith measures VerifyFile with the inflater member makes (nil:
	// the build's own).
	verifyWith := func(name string, member func(*bufio.Reader) (gzipMember, error)) {
		b.Run(name, func(b *testing.B) {
			if member != nil {
				defer func(saved func(*bufio.Reader) (gzipMember, error)) { newGzipMember = saved }(newGzipMember)
				newGzipMember = member
			}
			runMeasured(b, size, func() error {
				_, err := VerifyFile(b.Context(), path, VerifyOptions{})
				return err
			})
		})
	}
	verifyWith("raftsnap", nil)
	// Built with -tags isal, "raftsnap" above is ISA-L; this row is the
	// pure-Go inflater in the same run, for the ratio.
	if InflateEngine() != inflateEnginePureGo {
		verifyWith("raftsnap-purego", newFastMember)
	}
	// The pipeline with klauspost's inflater, the pure-Go path before the
	// table-driven one (issue 19), for the ratio in the same run.
	verifyWith("raftsnap-klauspost", newKlauspostMember)
	b.Run("stdlib", func(b *testing.B) {
		runMeasured(b, size, func() error { return referenceVerifyFile(path) })
	})
}

func benchmarkWrite(b *testing.B, size int64) {
	skipUnlessLarge(b, size)
	dir := b.TempDir()
	statePath := filepath.Join(dir, "state.bin")
	if err := makeStateFile(statePath, size); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out.tar.gz")
	b.Run("raftsnap", func(b *testing.B) {
		runMeasured(b, size, func() error {
			return withFiles(statePath, out, func(state io.Reader, dst io.Writer) error {
				_, err := Write(dst, testMeta(size), state)
				return err
			})
		})
	})
	b.Run("stdlib", func(b *testing.B) {
		runMeasured(b, size, func() error { return referenceWriteFile(out, statePath, size) })
	})
}

// runMeasured runs op b.N times, reporting MB/s of state, allocations,
// the peak heap in use (sampled every 5 ms from runtime/metrics) and the
// process's CPU time per op (all cores; the sampler's share is small).
func runMeasured(b *testing.B, size int64, op func() error) {
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.GC()
	sampler := startHeapSampler()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	cpu = processCPU() - cpu
	b.StopTimer()
	b.ReportMetric(float64(sampler.stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	s := &heapSampler{done: make(chan struct{})}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if inUse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inUse > s.peak {
				s.peak = inUse
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *heapSampler) stop() uint64 {
	close(s.done)
	s.wg.Wait()
	return s.peak
}

// benchArchive writes an archive of size bytes of state (as
// makeStateFile makes it) in a temporary directory, with the stdlib path,
// and returns its path.
func benchArchive(b *testing.B, size int64) string {
	dir := b.TempDir()
	path := filepath.Join(dir, "archive.tar.gz")
	statePath := filepath.Join(dir, "state.bin")
	if err := makeStateFile(statePath, size); err != nil {
		b.Fatal(err)
	}
	if err := referenceWriteFile(path, statePath, size); err != nil {
		b.Fatal(err)
	}
	os.Remove(statePath)
	return path
}

func makeStateFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeSyntheticState(f, size, 1); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func withFiles(src, dst string, fn func(io.Reader, io.Writer) error) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := fn(in, out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// referenceWriteFile is Consul's snapshot writer (snapshot.New + write in
// consul/snapshot): compress/gzip at the default level over archive/tar,
// hashing the archive file as it is written.
func referenceWriteFile(out, statePath string, size int64) error {
	return withFiles(statePath, out, func(state io.Reader, dst io.Writer) error {
		fileHash := sha256.New()
		zw := gzip.NewWriter(io.MultiWriter(dst, fileHash))
		tw := tar.NewWriter(zw)
		now := time.Now()
		metaHash, stateHash := sha256.New(), sha256.New()
		var metaJSON bytes.Buffer
		if err := json.NewEncoder(&metaJSON).Encode(testMeta(size)); err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: MetaName, Mode: 0o600, Size: int64(metaJSON.Len()), ModTime: now})
		if _, err := io.Copy(tw, io.TeeReader(&metaJSON, metaHash)); err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: StateName, Mode: 0o600, Size: size, ModTime: now})
		if _, err := io.CopyN(tw, io.TeeReader(state, stateHash), size); err != nil {
			return err
		}
		sums := fmt.Sprintf("%x  %s\n%x  %s\n", metaHash.Sum(nil), MetaName, stateHash.Sum(nil), StateName)
		tw.WriteHeader(&tar.Header{Name: SumsName, Mode: 0o600, Size: int64(len(sums)), ModTime: now})
		if _, err := io.WriteString(tw, sums); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
}

// referenceVerifyFile is the vendors' verification plus a sequential
// SHA-256 of the file (testkit.VendorVerify).
func referenceVerifyFile(path string) error {
	_, err := testkit.VendorVerify(path)
	return err
}

// TestReferenceVerify: the reference the benchmarks measure against
// accepts what Write writes, with its file SHA-256, and refuses a damaged
// archive.
func TestReferenceVerify(t *testing.T) {
	archive, rep := writeTestArchive(t, syntheticState(1<<20, 1))
	path := filepath.Join(t.TempDir(), "a.snap")
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := testkit.VendorVerify(path)
	if err != nil || hex.EncodeToString(sum) != rep.ArchiveSHA256 {
		t.Fatalf("VendorVerify = %x, %v; want %s", sum, err, rep.ArchiveSHA256)
	}
	// A byte flipped inside the compressed stream (gzip's CRC or the
	// member's SHA-256 refuses it).
	testkit.FlipByte(t, path, int64(len(archive)/2))
	if _, err := testkit.VendorVerify(path); err == nil {
		t.Fatal("VendorVerify accepted a damaged archive")
	}
}
