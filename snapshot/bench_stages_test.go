package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"hash/crc32"
	"io"
	"os"
	"testing"
)

// BenchmarkVerifyStages64MiB times each stage of verification alone, on one
// core, on the same archive as BenchmarkVerify64MiB (read into memory
// first, so no stage waits for the disk), next to the whole pipeline and
// the stdlib path. MB/s counts state (uncompressed) bytes throughout, so the
// rows add up as times: the stdlib path costs about
// inflate/compress-gzip + sha256/state + sha256/file, and a pipeline can be
// no faster than its slowest stage.
//
//	go test ./snapshot/ -run '^$' -bench VerifyStages -benchtime 3x -count 5
func BenchmarkVerifyStages64MiB(b *testing.B) {
	const size = 64 << 20
	path := benchArchive(b, size)
	archive, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	plain, err := io.ReadAll(mustGunzip(b, archive))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("inflater: %s", InflateEngine())

	run := func(name string, op func() error) {
		b.Run(name, func(b *testing.B) {
			runMeasured(b, size, op)
		})
	}
	// Inflate alone, to nowhere, as each verifier's inflate stage reads it.
	run("inflate/compress-gzip", func() error {
		zr, err := gzip.NewReader(bufio.NewReader(bytes.NewReader(archive)))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, zr)
		return err
	})
	inflateWith := func(newMember func(*bufio.Reader) (gzipMember, error)) func() error {
		buf := make([]byte, chunkSize)
		return func() error {
			zr, err := newMember(bufio.NewReaderSize(bytes.NewReader(archive), chunkSize))
			if err != nil {
				return err
			}
			defer zr.Close()
			for {
				_, err := fillFrom(zr, buf)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}
	}
	run("inflate/klauspost", inflateWith(newKlauspostMember))
	run("inflate/purego", inflateWith(newFastMember))
	if InflateEngine() != inflateEnginePureGo {
		run("inflate/build", inflateWith(newGzipMember))
	}
	// The hashes, over bytes already in memory.
	run("sha256/state", func() error {
		h := sha256.New()
		for p := plain; len(p) > 0; p = p[min(len(p), chunkSize):] {
			h.Write(p[:min(len(p), chunkSize)])
		}
		h.Sum(nil)
		return nil
	})
	run("sha256/file", func() error {
		sha256.Sum256(archive)
		return nil
	})
	run("crc32/state", func() error {
		crc32.ChecksumIEEE(plain)
		return nil
	})
	// The whole thing, from memory.
	run("verify/raftsnap", func() error {
		_, err := Verify(b.Context(), bytes.NewReader(archive), VerifyOptions{})
		return err
	})
	run("verify/stdlib", func() error { return referenceVerifyFile(path) })
}

func mustGunzip(b *testing.B, data []byte) io.Reader {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return zr
}

// BenchmarkInflate8MiB is the inflate stage alone on a smaller archive (8
// MiB of state, compress/gzip's default level), small enough to run under
// valgrind --tool=callgrind, whose instruction counts see through the
// noise of a shared machine:
//
//	go test -c -o snapshot.test ./snapshot/
//	valgrind --tool=callgrind ./snapshot.test -test.run '^$' -test.bench 'Inflate8MiB/purego' -test.benchtime 1x
func BenchmarkInflate8MiB(b *testing.B) {
	const size = 8 << 20
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(syntheticState(size, 1))
	zw.Close()
	archive := out.Bytes()
	buf := make([]byte, chunkSize)
	for _, c := range []struct {
		name      string
		newMember func(*bufio.Reader) (gzipMember, error)
	}{{"purego", newFastMember}, {"klauspost", newKlauspostMember}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			for range b.N {
				zr, err := c.newMember(bufio.NewReaderSize(bytes.NewReader(archive), chunkSize))
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := fillFrom(zr, buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				zr.Close()
			}
		})
	}
}
