package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hashicorp/raft"
	"github.com/klauspost/pgzip"
	"github.com/raftsnap/raftsnap/snapshot/iotrack"
)

// WriteOptions tune Write. The zero value writes what Consul writes.
type WriteOptions struct {
	// ModTime stamps the tar headers; zero means now, as Consul does.
	ModTime time.Time
	// Level is the gzip level (1 fastest ... 9 smallest); 0 means the
	// default level, as Consul uses.
	Level int
}

// pgzip compresses blocks of this size in parallel, one per CPU, into one
// standard gzip member that any gzip reader accepts. 256 KiB blocks keep
// the heap near 15 MiB (1 MiB blocks: ~45 MiB) at ~25% less speed
// (benchmarks in docs/performance.md).
const writeBlockSize = 256 << 10

// Write writes a snapshot archive of meta and state to w, in the format
// Consul's snapshot.Write produces and Consul, Nomad and raftsnap accept:
// gzip(tar(meta.json, state.bin, SHA256SUMS)). state must yield exactly
// meta.Size bytes, otherwise Write fails with ErrStateSize and what was
// written to w is not a valid archive. The Report describes what was
// written, including the SHA-256 of the compressed bytes.
func Write(w io.Writer, meta *raft.SnapshotMeta, state io.Reader) (*Report, error) {
	return WriteWithOptions(w, meta, state, WriteOptions{})
}

// WriteWithOptions is Write with explicit options.
func WriteWithOptions(w io.Writer, meta *raft.SnapshotMeta, state io.Reader, opts WriteOptions) (*Report, error) {
	if meta == nil {
		return nil, newError(ErrInvalidInput, MetaName, "snapshot write: meta is nil")
	}
	if state == nil {
		return nil, newError(ErrInvalidInput, StateName, "snapshot write: state is nil")
	}
	level := opts.Level
	if level == 0 {
		level = gzip.DefaultCompression
	}
	if level < gzip.HuffmanOnly || level > gzip.BestCompression {
		return nil, newError(ErrInvalidInput, "", "snapshot write: gzip level %d is not between 1 and 9", level)
	}
	modTime := opts.ModTime
	if modTime.IsZero() {
		modTime = time.Now()
	}

	// Encode as Consul does (json.Encoder, trailing newline) and check that
	// Verify will accept it before writing a byte.
	var metaJSON bytes.Buffer
	if err := json.NewEncoder(&metaJSON).Encode(meta); err != nil {
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot write: cannot encode meta.json: %v", err)
	}
	if _, err := decodeMeta(metaJSON.Bytes()); err != nil {
		return nil, err
	}

	out := iotrack.SHA256(w)
	zw, err := pgzip.NewWriterLevel(out, level)
	if err != nil {
		return nil, newError(ErrInvalidInput, "", "snapshot write: %v", err)
	}
	// pgzip writes the raw Unix time of a zero ModTime (a date in 2042);
	// the epoch encodes as 0, "no time", as compress/gzip writes it.
	zw.Header.ModTime = time.Unix(0, 0)
	if err := zw.SetConcurrency(writeBlockSize, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("snapshot write: %w", err)
	}
	tw := tar.NewWriter(zw)
	rep := &Report{Meta: *meta}

	fail := func(err error) (*Report, error) {
		zw.Close() // stops pgzip's goroutines; the archive is broken anyway
		var archiveErr *Error
		if errors.As(err, &archiveErr) {
			return nil, err
		}
		return nil, fmt.Errorf("writing snapshot archive: %w", err)
	}

	// Tar headers exactly as Consul writes them: name, mode 0600, size,
	// modtime; archive/tar fills in typeflag '0' and the USTAR format
	// (PAX only when state.bin reaches 8 GiB).
	header := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: modTime})
	}
	metaSum := sha256.Sum256(metaJSON.Bytes())
	if err := header(MetaName, int64(metaJSON.Len())); err != nil {
		return fail(err)
	}
	if _, err := tw.Write(metaJSON.Bytes()); err != nil {
		return fail(err)
	}
	rep.Members = append(rep.Members, Member{Name: MetaName, Size: int64(metaJSON.Len()), SHA256: hex.EncodeToString(metaSum[:])})

	if err := header(StateName, meta.Size); err != nil {
		return fail(err)
	}
	stateHash := sha256.New()
	buf := make([]byte, chunkSize)
	src := &iotrack.Reader{R: state}
	copied, err := io.CopyBuffer(io.MultiWriter(tw, stateHash), io.LimitReader(src, meta.Size), buf)
	if err != nil {
		if src.Err != nil {
			return fail(fmt.Errorf("reading state after %d of %d bytes: %w", copied, meta.Size, err))
		}
		return fail(err)
	}
	if copied != meta.Size {
		return fail(newError(ErrStateSize, StateName,
			"snapshot write: state ended after %d bytes, but meta.Size is %d", copied, meta.Size))
	}
	if n, _ := io.ReadFull(state, buf[:1]); n > 0 {
		return fail(newError(ErrStateSize, StateName,
			"snapshot write: state has more than meta.Size (%d) bytes", meta.Size))
	}
	stateSum := stateHash.Sum(nil)
	rep.Members = append(rep.Members, Member{Name: StateName, Size: meta.Size, SHA256: hex.EncodeToString(stateSum)})

	sums := fmt.Appendf(nil, "%x  %s\n%x  %s\n", metaSum[:], MetaName, stateSum, StateName)
	if err := header(SumsName, int64(len(sums))); err != nil {
		return fail(err)
	}
	if _, err := tw.Write(sums); err != nil {
		return fail(err)
	}
	sumsSum := sha256.Sum256(sums)
	rep.Members = append(rep.Members, Member{Name: SumsName, Size: int64(len(sums)), SHA256: hex.EncodeToString(sumsSum[:])})

	if err := tw.Close(); err != nil {
		return fail(err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("writing snapshot archive: %w", err)
	}
	rep.ArchiveBytes = out.N
	rep.ArchiveSHA256 = out.Sum()
	return rep, nil
}
