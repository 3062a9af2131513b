package ha

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Store is a gated job's store. Every write passes the fence: a Pending's
// Commit, Update, Delete and Clean first ask the gate's authority whether
// this agent still holds the role (Gate.Check), so that pruning after a
// lost lock deletes nothing, and the job's own explicit check before a
// commit is not the only line of defence.
//
// A store that takes a lock of its own (a local directory: one process at
// a time) is opened for writing only while this agent is active, and
// closed when it stops being so; a standby reads through a view that takes
// no lock. Two agents on one host can so share a directory, and a store
// still held by a paused holder stays out of the next one's reach until
// the old holder wakes up and lets go.
type Store struct {
	gate job.Gate
	// open opens the store for writing; view opens a read-only view.
	// closeOnRelease: the writable store is closed when the role ends.
	open, view     func() (store.Store, error)
	closeOnRelease bool
	name, location string

	mu       sync.Mutex
	writable store.Store
	viewSt   store.Store
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ObjectCreator = (*Store)(nil)
	_ store.Cleaner       = (*Store)(nil)
)

// StoreOptions configure NewStore.
type StoreOptions struct {
	Gate job.Gate
	// Open opens the store for writing.
	Open func() (store.Store, error)
	// View, when set, opens a read-only view for standbys, and the
	// writable store is opened only while active and closed after
	// (CloseOnRelease). Without it the writable store serves both.
	View func() (store.Store, error)
	// Name and Location describe the store before it is opened.
	Name, Location string
}

// NewStore wraps a gated job's store (see Store).
func NewStore(opts StoreOptions) *Store {
	s := &Store{gate: opts.Gate, open: opts.Open, view: opts.View, closeOnRelease: opts.View != nil, name: opts.Name, location: opts.Location}
	if r, ok := opts.Gate.(interface{ OnRelease(func()) }); ok && s.closeOnRelease {
		r.OnRelease(s.release)
	}
	return s
}

// release closes the writable store of a lock-taking kind.
func (s *Store) release() {
	s.mu.Lock()
	w := s.writable
	s.writable = nil
	s.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
}

func (s *Store) writer() (store.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return openOnce(&s.writable, s.open)
}

// reader is the writable store when open (it sees this process's own
// writes in progress as such), else the view.
func (s *Store) reader() (store.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writable != nil || s.view == nil {
		return openOnce(&s.writable, s.open)
	}
	return openOnce(&s.viewSt, s.view)
}

// openOnce is *opened, opened with open first if it is not yet.
func openOnce(opened *store.Store, open func() (store.Store, error)) (store.Store, error) {
	if *opened == nil {
		st, err := open()
		if err != nil {
			return nil, err
		}
		*opened = st
	}
	return *opened, nil
}

func (s *Store) String() string   { return s.name }
func (s *Store) Location() string { return s.location }

func (s *Store) List(ctx context.Context) ([]store.Entry, []store.Foreign, error) {
	r, err := s.reader()
	if err != nil {
		return nil, nil, err
	}
	return r.List(ctx)
}

func (s *Store) Get(ctx context.Context, name string) (store.Entry, error) {
	r, err := s.reader()
	if err != nil {
		return store.Entry{}, err
	}
	return r.Get(ctx, name)
}

func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, store.Entry, error) {
	r, err := s.reader()
	if err != nil {
		return nil, store.Entry{}, err
	}
	return r.Open(ctx, name)
}

func (s *Store) Create(ctx context.Context, job, name string) (store.Pending, error) {
	return s.CreateObject(ctx, job, name, "")
}

// CreateObject implements store.ObjectCreator, fenced as Create: an
// encrypted store (snapshot/agecrypt) wraps the gated one and writes its
// ciphertext through it, and a job with several stores copies an
// encrypted snapshot into it as it is stored.
func (s *Store) CreateObject(ctx context.Context, job, name, object string) (store.Pending, error) {
	w, err := s.writer()
	if err != nil {
		return nil, err
	}
	var p store.Pending
	if object == "" {
		p, err = w.Create(ctx, job, name)
	} else if oc, ok := w.(store.ObjectCreator); ok {
		p, err = oc.CreateObject(ctx, job, name, object)
	} else {
		err = fmt.Errorf("%s cannot keep %s stored as %s (encrypted snapshots)", s.name, name, object)
	}
	if err != nil {
		return nil, err
	}
	return &fencedPending{Pending: p, gate: s.gate}, nil
}

// fencedWriter is the writable store once the gate says this agent still
// writes: what every change to existing entries goes through.
func (s *Store) fencedWriter(ctx context.Context) (store.Store, error) {
	if err := s.gate.Check(ctx); err != nil {
		return nil, err
	}
	return s.writer()
}

func (s *Store) Update(ctx context.Context, entry store.Entry) error {
	w, err := s.fencedWriter(ctx)
	if err != nil {
		return err
	}
	return w.Update(ctx, entry)
}

func (s *Store) Delete(ctx context.Context, name string) error {
	w, err := s.fencedWriter(ctx)
	if err != nil {
		return err
	}
	return w.Delete(ctx, name)
}

// Clean implements store.Cleaner for stores that clean (object stores):
// a standby must never remove the active agent's uploads in progress.
func (s *Store) Clean(ctx context.Context, jobs []string) ([]string, error) {
	w, err := s.fencedWriter(ctx)
	if err != nil {
		return nil, err
	}
	if c, ok := w.(store.Cleaner); ok {
		return c.Clean(ctx, jobs)
	}
	return nil, nil
}

func (s *Store) Close() error {
	s.mu.Lock()
	w, v := s.writable, s.viewSt
	s.writable, s.viewSt = nil, nil
	s.mu.Unlock()
	var err error
	if w != nil {
		err = w.Close()
	}
	if v != nil {
		if e := v.Close(); err == nil {
			err = e
		}
	}
	return err
}

// fencedPending checks the role at its Commit's commit point: the store
// runs the check once the bytes are stored, right before the record that
// lists the snapshot (store.WithCommitCheck), so that an upload's last
// bytes do not go out between the check and the commit point.
type fencedPending struct {
	store.Pending
	gate job.Gate
}

func (p *fencedPending) Commit(ctx context.Context, entry store.Entry) (store.Entry, error) {
	return p.Pending.Commit(store.WithCommitCheck(ctx, p.gate.Check), entry)
}
