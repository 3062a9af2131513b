// Package memsource is an in-memory snapshot source for tests of the job
// runner: it serves a real archive (written by package snapshot, so it
// verifies like a server's) from memory, and the test scripts each call:
// fail with a given error, hold until released, or succeed. Runs then take
// microseconds instead of a round trip through a dev cluster and a proxy.
package memsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// Answer is what one Save or SaveStale call does.
type Answer struct {
	// Partial is how many archive bytes are written before Err or Hold.
	Partial int
	// Err, when set, fails the call (after Partial bytes).
	Err error
	// Hold, when set, keeps the call waiting (after Partial bytes) until it
	// is closed, then the call goes on as Err says, or until the run's
	// context ends.
	Hold <-chan struct{}
}

// Call is one Save or SaveStale the source received.
type Call struct {
	N     int  // 1-based, over all calls
	Stale bool // SaveStale
}

// Source is an in-memory source.Source with stale fallback.
type Source struct {
	archive       []byte
	staleFallback bool

	mu       sync.Mutex
	script   []Answer
	calls    []Call
	restored [][]byte
	started  chan Call
}

var _ source.StaleFallbackSource = (*Source)(nil)

// Options tune New.
type Options struct {
	// StaleFallback is what StaleFallback reports.
	StaleFallback bool
	// Servers are the raft server IDs in the archive's configuration
	// ("" : one server, "mem-0").
	Servers []string
}

// New returns a source serving a small valid archive.
func New(t testing.TB, opts Options) *Source {
	t.Helper()
	ids := opts.Servers
	if len(ids) == 0 {
		ids = []string{"mem-0"}
	}
	var cfg raft.Configuration
	for _, id := range ids {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	state := []byte(`{"memsource":"state"}`)
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, ID: "2-100-1700000000000", Index: 100, Term: 2,
		Configuration: cfg, ConfigurationIndex: 1, Size: int64(len(state))}
	var archive bytes.Buffer
	if _, err := snapshot.WriteWithOptions(&archive, meta, bytes.NewReader(state), snapshot.WriteOptions{ModTime: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
	return &Source{archive: archive.Bytes(), staleFallback: opts.StaleFallback, started: make(chan Call, 1024)}
}

// Next queues answers for the next calls, one each; calls beyond the
// script succeed.
func (s *Source) Next(answers ...Answer) {
	s.mu.Lock()
	s.script = append(s.script, answers...)
	s.mu.Unlock()
}

// Calls lists the calls so far.
func (s *Source) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Started waits for the next call to begin (an event, not a poll) and
// returns it.
func (s *Source) Started(t testing.TB) Call {
	t.Helper()
	select {
	case c := <-s.started:
		return c
	case <-time.After(testkit.DefaultWait):
		t.Fatalf("no call of the memory source within %s", testkit.DefaultWait)
		return Call{}
	}
}

// ArchiveSize is the size of the archive a successful call writes.
func (s *Source) ArchiveSize() int64 { return int64(len(s.archive)) }

// Restored returns the archives sent to Restore.
func (s *Source) Restored() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.restored...)
}

func (s *Source) Kind() source.Kind                     { return source.Raft }
func (s *Source) String() string                        { return "memory source" }
func (s *Source) VerifyOptions() snapshot.VerifyOptions { return snapshot.VerifyOptions{} }
func (s *Source) StaleFallback() bool                   { return s.staleFallback }

// Save writes the archive, as the next answer says.
func (s *Source) Save(ctx context.Context, w io.Writer) (*source.SaveResult, error) {
	return s.save(ctx, w, false)
}

// SaveStale is Save as a follower would answer it.
func (s *Source) SaveStale(ctx context.Context, w io.Writer) (*source.SaveResult, error) {
	return s.save(ctx, w, true)
}

func (s *Source) save(ctx context.Context, w io.Writer, stale bool) (*source.SaveResult, error) {
	s.mu.Lock()
	var a Answer
	if len(s.script) > 0 {
		a, s.script = s.script[0], s.script[1:]
	}
	call := Call{N: len(s.calls) + 1, Stale: stale}
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.started <- call

	partial := min(a.Partial, len(s.archive))
	if partial > 0 {
		if _, err := w.Write(s.archive[:partial]); err != nil {
			return nil, err
		}
	}
	if a.Hold != nil {
		select {
		case <-a.Hold:
		case <-ctx.Done():
			return nil, fmt.Errorf("memory source: %w", ctx.Err())
		}
	}
	if a.Err != nil {
		return nil, a.Err
	}
	if _, err := w.Write(s.archive[partial:]); err != nil {
		return nil, err
	}
	return &source.SaveResult{Bytes: int64(len(s.archive)), Stale: stale,
		Headers: map[string]string{"X-Raft-Index": "100"}}, nil
}

// Restore reads the archive it is sent and keeps it.
func (s *Source) Restore(ctx context.Context, archive io.Reader, size int64) error {
	data, err := io.ReadAll(archive)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.restored = append(s.restored, data)
	s.mu.Unlock()
	return nil
}
