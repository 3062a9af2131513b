package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
)

// commitState stores state (its first bytes say its flavour) as a
// snapshot of job and returns its entry and archive.
func commitState(t *testing.T, l *Local, job string, state []byte) (Entry, []byte) {
	t.Helper()
	var buf bytes.Buffer
	meta := &raft.SnapshotMeta{Version: 1, ID: "2-9-1", Index: 9, Term: 2, Size: int64(len(state))}
	rep, err := snapshot.Write(&buf, meta, bytes.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Create(context.Background(), job, NewName(job, time.Now(), 9, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(context.Background(), Entry{Source: "test", CreatedAt: time.Now(), Size: rep.ArchiveBytes, SHA256: rep.ArchiveSHA256,
		Index: 9, Term: 2, RaftID: meta.ID, Verified: true, VerifiedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return e, buf.Bytes()
}

var nomadHeader = []byte{0x80}

func TestSendSendsTheVerifiedArchiveAndRecordsIt(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	e, data := commitState(t, l, "job", testkit.Noise(nomadHeader, 3*snapshot.DefaultHoldBack, 1))
	sent, err := sendAll(l, e.Name)
	if err != nil || !bytes.Equal(sent, data) {
		t.Fatalf("Send: %v; sent %d of %d bytes", err, len(sent), len(data))
	}
	got, _ := l.Get(context.Background(), e.Name)
	if !got.Verified || !got.VerifiedAt.After(e.VerifiedAt) {
		t.Fatalf("record after a good send: verified %v at %v (was %v)", got.Verified, got.VerifiedAt, e.VerifiedAt)
	}
}

// A stored file changed in place (bit rot, or someone writing it while it
// is sent): what was read is sent as it goes, the end is not, and the
// record says unverified. The archive is larger than the verifier's
// pipeline buffers, which could otherwise take it whole before its head
// verified (then nothing is sent, and there is no cut to see).
func TestSendCutsAChangedFileAndRecordsIt(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	e, data := commitState(t, l, "job", testkit.Noise(nomadHeader, 8*snapshot.DefaultHoldBack, 2))
	damaged := bytes.Clone(data)
	damaged[len(damaged)-snapshot.DefaultHoldBack/2] ^= 0x10
	if err := os.WriteFile(e.Path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	sent, err := sendAll(l, e.Name)
	var verr *VerificationError
	var cut *snapshot.CutError
	if !errors.As(err, &verr) || !errors.As(err, &cut) || cut.Sent != int64(len(sent)) {
		t.Fatalf("Send of a changed file: %v", err)
	}
	if len(sent) == 0 || int64(len(sent)) > e.Size-snapshot.DefaultHoldBack {
		t.Fatalf("sent %d of %d bytes: want a streamed prefix without the held-back end", len(sent), e.Size)
	}
	if !strings.Contains(err.Error(), "stored snapshot "+e.Name+" fails verification") || !strings.Contains(err.Error(), "the upload was cut after") {
		t.Fatalf("error: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); got.Verified {
		t.Fatal("a file that failed while it was sent is still recorded verified")
	}
}

// A refusal of the caller's (a flavour the target cannot read) is no
// verdict on the file: the record keeps verified. When the head is refused
// but the file no longer matches its record, the rest is read to say so.
func TestSendRefusalsRecordOnlyTheFilesVerdict(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	e, data := commitState(t, l, "job", testkit.Noise(nomadHeader, 2*snapshot.DefaultHoldBack, 3))
	refusal := errors.New("a Nomad snapshot, not a Consul one")
	refuse := snapshot.SendOptions{Head: func(*snapshot.Head) error { return refusal }}
	send := func(archive io.Reader, _ int64) error { _, err := io.Copy(io.Discard, archive); return err }
	_, _, err := Send(context.Background(), l, e.Name, refuse, nil, send)
	var cut *snapshot.CutError
	if !errors.Is(err, refusal) || !errors.As(err, &cut) || cut.Sent != 0 {
		t.Fatalf("head refused: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); !got.Verified {
		t.Fatal("a refused but intact file was recorded unverified")
	}
	_, _, err = Send(context.Background(), l, e.Name, snapshot.SendOptions{Check: func(*snapshot.Report, snapshot.Flavor) error { return refusal }}, nil, send)
	if !errors.Is(err, refusal) {
		t.Fatalf("end refused: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); !got.Verified {
		t.Fatal("a refused but intact file was recorded unverified")
	}
	sealed := snapshot.SendOptions{Verify: snapshot.VerifyOptions{RequireSealed: true}}
	if _, _, err := Send(context.Background(), l, e.Name, sealed, nil, send); err == nil || !strings.Contains(err.Error(), "not a Vault snapshot") {
		t.Fatalf("sealed required: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); !got.Verified {
		t.Fatal("a Vault target's demand changed the verdict on a Nomad snapshot")
	}

	// The file changes (same size) and the head is refused: the record
	// must not keep verified.
	other := bytes.Clone(data)
	other[len(other)-100] ^= 1
	os.WriteFile(e.Path, other, 0o600)
	_, _, err = Send(context.Background(), l, e.Name, refuse, nil, send)
	var verr *VerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("head refused, file changed: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); got.Verified {
		t.Fatal("a changed file kept verified after a refused send")
	}
}

// failingStore's archives fail to read after n bytes.
type failingStore struct {
	*Local
	n int64
}

func (f failingStore) Open(ctx context.Context, name string) (io.ReadCloser, Entry, error) {
	r, e, err := f.Local.Open(ctx, name)
	if err != nil {
		return nil, e, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(r, f.n), iotestErr{}), r}, e, nil
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("input/output error") }

func TestSendStoreReadErrorIsNoVerdict(t *testing.T) {
	l := mustOpen(t, t.TempDir())
	e, _ := commitState(t, l, "job", testkit.Noise(nomadHeader, 2*snapshot.DefaultHoldBack, 4))
	_, _, err := Send(context.Background(), failingStore{l, e.Size / 2}, e.Name, snapshot.SendOptions{}, nil, func(archive io.Reader, _ int64) error {
		_, err := io.Copy(io.Discard, archive)
		return err
	})
	var readErr *ReadError
	if !errors.As(err, &readErr) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Send from a failing store: %v", err)
	}
	if got, _ := l.Get(context.Background(), e.Name); !got.Verified {
		t.Fatal("a read error of the store was recorded as the file's verdict")
	}
}
