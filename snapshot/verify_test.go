package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"go.uber.org/goleak"
)

var testModTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func testMeta(size int64) *raft.SnapshotMeta {
	return &raft.SnapshotMeta{
		Version: raft.SnapshotVersionMax,
		ID:      "2-1234-1714979289000",
		Index:   1234,
		Term:    2,
		Configuration: raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "server-1", Address: "127.0.0.1:8300"},
		}},
		ConfigurationIndex: 1,
		Size:               size,
	}
}

// writeTestArchive writes state with our Write and a fixed ModTime.
func writeTestArchive(t testing.TB, state []byte) ([]byte, *Report) {
	t.Helper()
	var out bytes.Buffer
	rep, err := WriteWithOptions(&out, testMeta(int64(len(state))), bytes.NewReader(state), WriteOptions{ModTime: testModTime})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return out.Bytes(), rep
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestWriteVerifyRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 4096, chunkSize - 1, 3*chunkSize + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			state := syntheticState(size, uint64(size))
			archive, written := writeTestArchive(t, state)
			if written.ArchiveBytes != int64(len(archive)) || written.ArchiveSHA256 != sha256Hex(archive) {
				t.Fatalf("Write report describes %d bytes %s, wrote %d bytes %s",
					written.ArchiveBytes, written.ArchiveSHA256, len(archive), sha256Hex(archive))
			}
			var got bytes.Buffer
			rep, err := Verify(t.Context(), bytes.NewReader(archive), VerifyOptions{State: &got})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(got.Bytes(), state) {
				t.Fatalf("State received %d bytes, want the %d written", got.Len(), len(state))
			}
			if fmt.Sprint(rep.Members) != fmt.Sprint(written.Members) {
				t.Fatalf("Verify members %v, Write members %v", rep.Members, written.Members)
			}
			if rep.Members[1].SHA256 != sha256Hex(state) {
				t.Fatalf("state.bin sha %s, want %s", rep.Members[1].SHA256, sha256Hex(state))
			}
			if rep.ArchiveSHA256 != written.ArchiveSHA256 || rep.ArchiveBytes != written.ArchiveBytes {
				t.Fatalf("Verify archive %d %s, Write archive %d %s", rep.ArchiveBytes, rep.ArchiveSHA256, written.ArchiveBytes, written.ArchiveSHA256)
			}
			if rep.Meta.Index != 1234 || rep.Meta.Size != int64(size) || rep.Meta.Configuration.Servers[0].ID != "server-1" || rep.Sealed {
				t.Fatalf("unexpected report meta %+v sealed=%v", rep.Meta, rep.Sealed)
			}
		})
	}
}

// TestVerifierAsWriter feeds the verifier the way a download does: through
// io.MultiWriter next to the file, in uneven pieces.
func TestVerifierAsWriter(t *testing.T) {
	archive, _ := writeTestArchive(t, syntheticState(2<<20, 7))
	path := filepath.Join(t.TempDir(), "snap.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := NewVerifier(t.Context(), VerifyOptions{})
	w := io.MultiWriter(f, v)
	for rest, step := archive, 1; len(rest) > 0; step = step*3 + 1 {
		n := min(step, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		rest = rest[n:]
	}
	rep, err := v.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	fromFile, err := VerifyFile(t.Context(), path, VerifyOptions{})
	if err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	if rep.ArchiveSHA256 != sha256Hex(archive) || fromFile.ArchiveSHA256 != rep.ArchiveSHA256 {
		t.Fatalf("archive sha: streamed %s, file %s, want %s", rep.ArchiveSHA256, fromFile.ArchiveSHA256, sha256Hex(archive))
	}
}

func TestVerifyFileMissing(t *testing.T) {
	_, err := VerifyFile(t.Context(), filepath.Join(t.TempDir(), "nope.tar.gz"), VerifyOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

// TestVerifierWriteFailsEarly: a download of an error page must stop at
// once, not after the whole body.
func TestVerifierWriteFailsEarly(t *testing.T) {
	v := NewVerifier(t.Context(), VerifyOptions{})
	page := bytes.Repeat([]byte("<html>Service Unavailable</html>\n"), 1000)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = v.Write(page)
	}
	if !errors.Is(err, ErrNotGzip) {
		t.Fatalf("Write kept accepting an HTML page: %v", err)
	}
	if _, closeErr := v.Close(); closeErr != err {
		t.Fatalf("Close returned %v, Write returned %v", closeErr, err)
	}
}

func TestVerifierAbortReleasesGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive, _ := writeTestArchive(t, syntheticState(4<<20, 3))
	v := NewVerifier(t.Context(), VerifyOptions{})
	if _, err := v.Write(archive[:len(archive)/2]); err != nil {
		t.Fatal(err)
	}
	v.Abort()
	if _, err := v.Write(archive[len(archive)/2:]); !errors.Is(err, ErrAborted) {
		t.Fatalf("Write after Abort: %v", err)
	}
	if _, err := v.Close(); !errors.Is(err, ErrAborted) {
		t.Fatalf("Close after Abort: %v", err)
	}
}

// blockingState blocks in Write until released, like a stalled disk.
type blockingState struct{ release chan struct{} }

func (b *blockingState) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}

func TestVerifierAbortWhileBackpressured(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive, _ := writeTestArchive(t, syntheticState(8<<20, 4))
	sink := &blockingState{release: make(chan struct{})}
	v := NewVerifier(t.Context(), VerifyOptions{State: sink})
	writeDone := make(chan error, 1)
	go func() {
		_, err := v.Write(archive)
		writeDone <- err
	}()
	// The pipeline fills and Write blocks on back-pressure; Abort must
	// unblock it. The state sink is released only afterwards, as a real
	// consumer finishing its current write would be.
	go func() {
		v.Abort()
		close(sink.release)
	}()
	if err := <-writeDone; err != nil && !errors.Is(err, ErrAborted) {
		t.Fatalf("Write: %v", err)
	}
	if _, err := v.Close(); !errors.Is(err, ErrAborted) {
		t.Fatalf("Close after Abort: %v", err)
	}
}

type failingState struct {
	after int
	n     int
}

var errDiskFull = errors.New("no space left on device")

func (f *failingState) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, errDiskFull
	}
	f.n += len(p)
	return len(p), nil
}

func TestVerifyStateWriterError(t *testing.T) {
	archive, _ := writeTestArchive(t, syntheticState(1<<20, 5))
	sink := &failingState{after: chunkSize}
	_, err := Verify(t.Context(), bytes.NewReader(archive), VerifyOptions{State: sink})
	if !errors.Is(err, ErrStateWriter) || !errors.Is(err, errDiskFull) {
		t.Fatalf("got %v, want ErrStateWriter wrapping the disk error", err)
	}
	want := fmt.Sprintf("snapshot verification stopped: the consumer of state.bin failed after %d bytes: no space left on device", sink.n)
	if err.Error() != want {
		t.Fatalf("message\n got %q\nwant %q", err.Error(), want)
	}
}

// TestVerifyHugeDeclaredStateStaysSmall streams an archive whose state.bin
// claims 8 GiB (PAX size header) from a generator, and cuts it after 48
// MiB: verification must fail as truncated without ever holding more than
// a few MiB.
func TestVerifyHugeDeclaredStateStaysSmall(t *testing.T) {
	const declared = 8 << 30
	const sent = 48 << 20
	pr := declaredStateStream(declared, sent)
	// Measure growth over what earlier tests left live.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	_, err := Verify(t.Context(), pr, VerifyOptions{})
	close(stop)
	<-sampled
	want := fmt.Sprintf("snapshot archive is truncated: input ended after %%d bytes, %d of %d bytes into state.bin", sent, declared)
	var got int64
	if !errors.Is(err, ErrTruncated) || err == nil {
		t.Fatalf("got %v, want truncated", err)
	}
	if _, scanErr := fmt.Sscanf(err.Error(), want, &got); scanErr != nil {
		t.Fatalf("message %q does not match %q", err.Error(), want)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	if grew > 16<<20 {
		t.Fatalf("heap in use grew by %d MiB while streaming", grew>>20)
	}
	t.Logf("heap in use grew by at most %.1f MiB", float64(grew)/(1<<20))
}

// declaredStateStream streams gzip(tar) whose state.bin declares declared
// bytes (a PAX size record from 8 GiB on) and carries sent of them, 1 MiB
// at a time, then ends without a gzip trailer. With sent < 0 state.bin
// goes on until the reader is closed.
func declaredStateStream(declared, sent int64) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		meta := []byte(fmt.Sprintf(`{"Version":1,"ID":"2-9-1","Index":9,"Term":2,"Size":%d}`, declared))
		tw.WriteHeader(&tar.Header{Name: MetaName, Mode: 0o600, Size: int64(len(meta)), ModTime: testModTime})
		tw.Write(meta)
		tw.WriteHeader(&tar.Header{Name: StateName, Mode: 0o600, Size: declared, ModTime: testModTime})
		chunk := syntheticState(1<<20, 9)
		for i := int64(0); sent < 0 || i < sent/int64(len(chunk)); i++ {
			if _, err := tw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		zw.Flush()
		pw.Close() // no gzip trailer: the stream is cut
	}()
	return pr
}

// stateStarted closes started on the first Write: the walker is inside
// state.bin.
type stateStarted struct {
	once    sync.Once
	started chan struct{}
}

func (s *stateStarted) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	return len(p), nil
}

// generousDeadline bounds waits for events that should come at once, so a
// regression fails the test instead of hanging it; it measures nothing.
const generousDeadline = 2 * time.Minute

// TestVerifyStopsWhenContextEndsMidMember: state.bin never ends, so only
// the context can stop the verification; it must, from inside the member,
// with the context's error and not an archive verdict.
func TestVerifyStopsWhenContextEndsMidMember(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive := declaredStateStream(1<<62, -1)
	defer archive.Close() // ends the generator, before goleak looks
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	state := &stateStarted{started: make(chan struct{})}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Verify(ctx, archive, VerifyOptions{State: state})
		done <- result{rep, err}
	}()
	select {
	case <-state.started:
	case r := <-done:
		t.Fatalf("Verify returned before reaching state.bin: %v", r.err)
	case <-time.After(generousDeadline):
		t.Fatal("state.bin never reached")
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(generousDeadline):
		t.Fatal("Verify still running after its context was cancelled")
	}
	var archiveErr *Error
	if !errors.Is(r.err, context.Canceled) || errors.As(r.err, &archiveErr) || r.rep != nil {
		t.Fatalf("got report %v, error %#v; want context.Canceled and no archive verdict", r.rep, r.err)
	}
	if want := "snapshot verification stopped: context canceled"; r.err.Error() != want {
		t.Fatalf("message %q, want %q", r.err.Error(), want)
	}
}

// TestVerifierContextEnded: once the context ends, Write and Close return
// its error, not a verdict on the part of the archive that arrived (which
// Close alone would call truncated).
func TestVerifierContextEnded(t *testing.T) {
	archive, _ := writeTestArchive(t, syntheticState(1<<20, 11))
	check := func(t *testing.T, writeErr, closeErr, want error) {
		t.Helper()
		var archiveErr *Error
		if !errors.Is(writeErr, want) || closeErr != writeErr || errors.As(closeErr, &archiveErr) {
			t.Fatalf("Write: %v; Close: %v; want both %v, no archive verdict", writeErr, closeErr, want)
		}
	}
	t.Run("cancelled mid-stream", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		ctx, cancel := context.WithCancel(t.Context())
		v := NewVerifier(ctx, VerifyOptions{})
		if _, err := v.Write(archive[:len(archive)/2]); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, writeErr := v.Write(archive[len(archive)/2:])
		_, closeErr := v.Close()
		check(t, writeErr, closeErr, context.Canceled)
	})
	t.Run("past its deadline", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		ctx, cancel := context.WithDeadline(t.Context(), time.Now())
		defer cancel()
		v := NewVerifier(ctx, VerifyOptions{})
		_, writeErr := v.Write(archive)
		_, closeErr := v.Close()
		check(t, writeErr, closeErr, context.DeadlineExceeded)
	})
}

func TestWriteStateSizeMismatch(t *testing.T) {
	state := syntheticState(1000, 1)
	for _, tc := range []struct {
		name  string
		meta  int64
		state []byte
		want  string
	}{
		{"short", 1001, state, "snapshot write: state ended after 1000 bytes, but meta.Size is 1001"},
		{"long", 999, state, "snapshot write: state has more than meta.Size (999) bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Write(io.Discard, testMeta(tc.meta), bytes.NewReader(tc.state))
			if !errors.Is(err, ErrStateSize) || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	bad := testMeta(0)
	bad.Index = 0
	for _, tc := range []struct {
		name  string
		meta  *raft.SnapshotMeta
		state io.Reader
		opts  WriteOptions
		want  string
	}{
		{"nil meta", nil, strings.NewReader(""), WriteOptions{}, "snapshot write: meta is nil"},
		{"nil state", testMeta(0), nil, WriteOptions{}, "snapshot write: state is nil"},
		{"zero index", bad, strings.NewReader(""), WriteOptions{}, "snapshot meta.json has Index 0; a raft snapshot always covers at least one log entry"},
		{"bad level", testMeta(0), strings.NewReader(""), WriteOptions{Level: 12}, "snapshot write: gzip level 12 is not between 1 and 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WriteWithOptions(io.Discard, tc.meta, tc.state, tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return 0, errDiskFull
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriteDestinationError(t *testing.T) {
	_, err := Write(&failingWriter{after: 100}, testMeta(4<<20), bytes.NewReader(syntheticState(4<<20, 2)))
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("got %v, want the destination's error", err)
	}
}

// TestWriteMatchesConsulLayout checks the gzip and tar headers field by
// field against what Consul's snapshot.Write produces.
func TestWriteMatchesConsulLayout(t *testing.T) {
	archive, _ := writeTestArchive(t, syntheticState(10000, 1))
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() || zr.OS != 255 || zr.Extra != nil {
		t.Fatalf("gzip header differs from Go's default writer: %+v", zr.Header)
	}
	var names []string
	for _, m := range testkit.GzipTarMembers(t, archive) {
		hdr := m.Header
		names = append(names, hdr.Name)
		if hdr.Mode != 0o600 || hdr.Typeflag != tar.TypeReg || hdr.Format != tar.FormatUSTAR ||
			!hdr.ModTime.Equal(testModTime) || hdr.Uid != 0 || hdr.Uname != "" || hdr.Linkname != "" {
			t.Fatalf("tar header of %s differs from Consul's: %+v", hdr.Name, hdr)
		}
	}
	if got := strings.Join(names, ","); got != "meta.json,state.bin,SHA256SUMS" {
		t.Fatalf("members %s", got)
	}
}
