package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftsnapshot "github.com/hashicorp/raft-snapshot"
)

// Compatibility is checked against github.com/hashicorp/raft-snapshot,
// the snapshot package Vault ships (a copy of Consul's snapshot/archive.go
// with SHA256SUMS.sealed support): what we write it must read, and what it
// writes from a real raft node we must verify.

func TestVaultReaderAcceptsWrite(t *testing.T) {
	state := syntheticState(3<<20, 11)
	archive, _ := writeTestArchive(t, state)
	meta, err := raftsnapshot.Verify(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("raft-snapshot Verify rejected our archive: %v", err)
	}
	if meta.Index != 1234 || meta.Size != int64(len(state)) {
		t.Fatalf("raft-snapshot read meta %+v", meta)
	}
	var got bytes.Buffer
	if _, err := raftsnapshot.Parse(bytes.NewReader(archive), &got); err != nil {
		t.Fatalf("raft-snapshot Parse: %v", err)
	}
	if !bytes.Equal(got.Bytes(), state) {
		t.Fatalf("raft-snapshot read %d state bytes, want %d", got.Len(), len(state))
	}
}

// testSealer stands in for Vault's seal: we can require and hash the
// sealed sums but never open them.
type testSealer struct{}

func (testSealer) Seal(_ context.Context, sums []byte) ([]byte, error) {
	return append([]byte("sealed:"), sums...), nil
}

func (testSealer) Open(_ context.Context, sealed []byte) ([]byte, error) {
	return bytes.TrimPrefix(sealed, []byte("sealed:")), nil
}

func TestVerifyAcceptsVaultArchiveFromRealRaft(t *testing.T) {
	r := startSingleRaft(t)
	for i := 0; i < 50; i++ {
		if err := r.Apply(syntheticState(2000, uint64(i)), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	var archive bytes.Buffer
	if err := raftsnapshot.Write(hclog.NewNullLogger(), r, testSealer{}, &archive); err != nil {
		t.Fatalf("raft-snapshot Write: %v", err)
	}
	var state bytes.Buffer
	rep, err := Verify(t.Context(), bytes.NewReader(archive.Bytes()), VerifyOptions{RequireSealed: true, State: &state})
	if err != nil {
		t.Fatalf("Verify rejected a Vault-format archive: %v", err)
	}
	checkReportConsistent(t, archive.Bytes(), rep)
	if !rep.Sealed || rep.Meta.Index < 50 || state.Len() != 50*2000 {
		t.Fatalf("report sealed=%v index=%d, state %d bytes", rep.Sealed, rep.Meta.Index, state.Len())
	}
}

func TestVerifyRequireSealedOnUnsealedVaultArchive(t *testing.T) {
	r := startSingleRaft(t)
	if err := r.Apply([]byte("x"), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := raftsnapshot.Write(hclog.NewNullLogger(), r, nil, &archive); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(t.Context(), bytes.NewReader(archive.Bytes()), VerifyOptions{}); err != nil {
		t.Fatalf("unsealed archive without RequireSealed: %v", err)
	}
	_, err := Verify(t.Context(), bytes.NewReader(archive.Bytes()), VerifyOptions{RequireSealed: true})
	if !errors.Is(err, ErrMissingSealed) {
		t.Fatalf("got %v, want ErrMissingSealed", err)
	}
}

// bytesFSM keeps every applied command; its snapshot is their concatenation.
type bytesFSM struct {
	mu   sync.Mutex
	data []byte
}

func (f *bytesFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, l.Data...)
	return nil
}

func (f *bytesFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &bytesSnapshot{data: append([]byte(nil), f.data...)}, nil
}

func (f *bytesFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return err
}

type bytesSnapshot struct{ data []byte }

func (s *bytesSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *bytesSnapshot) Release() {}

// startSingleRaft runs a one-voter hashicorp/raft node on 127.0.0.1 TCP
// with a file snapshot store, and waits until it leads.
func startSingleRaft(t *testing.T) *raft.Raft {
	t.Helper()
	dir := t.TempDir()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr})
	transport, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 5*time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, logger)
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = "node-1"
	conf.Logger = logger
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, &bytesFSM{}, store, store, snaps, transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Shutdown().Error()
		transport.Close()
	})
	boot := raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: transport.LocalAddr()}}}
	if err := r.BootstrapCluster(boot).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case isLeader := <-r.LeaderCh():
		if !isLeader {
			t.Fatal("node lost leadership at start")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("single raft node did not become leader within 10s")
	}
	return r
}
