package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// DefaultStall is how long an Upload waits for a store that accepts no
// byte before it drops that store and goes on with the others.
const DefaultStall = 2 * time.Minute

// maxHead bounds the bytes an Upload holds back before it knows the
// snapshot's name: meta.json is the archive's first member, a few KiB.
const maxHead = 2 << 20

// uploadChunk is the most bytes an Upload hands each store at a time, and
// uploadQueue how many chunks a store may have waiting: memory stays
// bounded (a few MiB) whatever the snapshot's size and the stores' speed.
const (
	uploadChunk = 256 << 10
	uploadQueue = 4
)

// UploadOptions tune an Upload.
type UploadOptions struct {
	// Stall drops a store that accepts no byte for this long (0:
	// DefaultStall).
	Stall time.Duration
	// MaxMetaSize caps meta.json as snapshot.VerifyOptions does (0: the
	// default).
	MaxMetaSize int64
	// Logger hears of stores dropped (nil: discard).
	Logger *slog.Logger
}

// UploadResult is what became of the snapshot in one store.
type UploadResult struct {
	Store Store
	// Entry is the committed entry when Err is nil.
	Entry Entry
	Err   error
}

// Upload writes one snapshot into several stores at once, as it streams:
// the snapshot job tees its download into an Upload and a Verifier, and
// commits only what verified. The first bytes are held back (at most 2 MiB)
// until the archive's meta.json gives the raft index, then the snapshot is
// named (NewName, the first name free in every store, so that its copies
// share one name) and each store's Pending created. A store that fails, or
// accepts no byte for UploadOptions.Stall, is dropped (its write aborted,
// its error kept for UploadResults) while the others go on; Write fails
// only when every store has. Each store is fed by its own goroutine from a
// short queue, so a slow store slows the stream but a hung one cannot
// stop it past the stall time.
type Upload struct {
	ctx     context.Context
	job     string
	created time.Time
	opts    UploadOptions
	logger  *slog.Logger

	targets []*target
	head    []byte // bytes held back until named
	tryAt   int    // head length at which to look for meta.json again
	name    string
	meta    *raft.SnapshotMeta
	chunk   *chunk // being filled
	// nextClass is the size class of the next chunk (they grow).
	nextClass int
	written   int64
	// bad is why the bytes cannot be an archive: later writes are
	// discarded, so that the caller's Verifier, fed the same bytes, gives
	// its own (fuller) verdict, and Commit fails with it.
	bad  error
	done bool // committed or aborted
}

type target struct {
	st     Store
	p      Pending
	ch     chan *chunk
	exited chan struct{}

	mu  sync.Mutex
	err error // why the store dropped out
}

func (t *target) fail(err error) {
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
}

func (t *target) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// chunk is a piece of the stream shared by every store's goroutine; the
// last one done with it returns it to the pool.
type chunk struct {
	data  []byte
	refs  atomic.Int32
	class int // index in chunkPools
}

// chunkPools hold chunks by size, shared by every Upload: a daemon running
// many jobs reuses the same buffers instead of allocating fresh ones for
// each run. An Upload's chunks start small and double up to uploadChunk,
// so that the many small snapshots of a busy daemon (100 jobs at once)
// hold KiBs each, not a quarter MiB.
var chunkPools [chunkClasses]sync.Pool

const (
	firstChunk   = 16 << 10
	chunkClasses = 5 // 16, 32, 64, 128, 256 KiB
)

// getChunk returns an empty chunk of class k (firstChunk << k bytes).
func getChunk(k int) *chunk {
	if c, ok := chunkPools[k].Get().(*chunk); ok {
		return c
	}
	return &chunk{data: make([]byte, 0, firstChunk<<k), class: k}
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		putChunk(c)
	}
}

// putChunk empties c and returns it to its pool: the pools are shared by
// every Upload, so a chunk must never go back holding bytes (the next
// upload would append to them).
func putChunk(c *chunk) {
	c.data = c.data[:0]
	chunkPools[c.class].Put(c)
}

// NewUpload starts an upload of a snapshot of job, created at created, into
// stores. Nothing is created in any store before the first Write.
func NewUpload(ctx context.Context, job string, created time.Time, stores []Store, opts UploadOptions) *Upload {
	if opts.Stall <= 0 {
		opts.Stall = DefaultStall
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u := &Upload{ctx: ctx, job: job, created: created, opts: opts, logger: logger, tryAt: 512}
	for _, st := range stores {
		u.targets = append(u.targets, &target{st: st})
	}
	return u
}

// Name is the snapshot's name, "" until the first bytes named it.
func (u *Upload) Name() string { return u.name }

// Written is the number of bytes written so far.
func (u *Upload) Written() int64 { return u.written }

// Write streams p to every store still in the upload. It fails with an
// error listing every store's when all of them have failed. Bytes that
// cannot be an archive's first (meta.json must come first) are taken and
// discarded, creating nothing: the Verifier the caller feeds the same
// bytes says why, and Commit fails.
func (u *Upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, ErrWriteAfterEnd
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	n := len(p)
	u.written += int64(n)
	if u.bad != nil {
		return n, nil
	}
	if u.name == "" {
		u.head = append(u.head, p...)
		if len(u.head) < u.tryAt && len(u.head) < maxHead {
			return n, nil
		}
		var archiveErr *snapshot.Error
		if err := u.nameFromHead(false); errors.As(err, &archiveErr) {
			u.bad, u.head = err, nil
			return n, nil
		} else if err != nil {
			return 0, err
		} else if u.name == "" {
			// meta.json does not end within the bytes held so far: all of
			// p is taken (held back), which a 0 here would turn into the
			// writer's io.ErrShortWrite.
			return n, nil
		}
		p, u.head = u.head, nil
	}
	if err := u.feed(p); err != nil {
		return 0, err
	}
	return n, nil
}

// nameFromHead looks for meta.json in the bytes held back and, once found,
// names the snapshot and creates it in every store. final says no more
// bytes will come.
func (u *Upload) nameFromHead(final bool) error {
	meta, err := snapshot.MetaFromPrefix(u.head, u.opts.MaxMetaSize)
	switch {
	case errors.Is(err, snapshot.ErrNeedMore) && !final && len(u.head) < maxHead:
		u.tryAt = min(len(u.head)*4, maxHead)
		return nil
	case errors.Is(err, snapshot.ErrNeedMore) && final:
		return &snapshot.Error{Kind: snapshot.ErrTruncated, Member: snapshot.MetaName, Msg: "snapshot archive ends before its meta.json does"}
	case errors.Is(err, snapshot.ErrNeedMore):
		return &snapshot.Error{Kind: snapshot.ErrMetaTooLarge, Member: snapshot.MetaName,
			Msg: fmt.Sprintf("snapshot meta.json does not end within the archive's first %d bytes", maxHead)}
	case err != nil:
		return err
	}
	u.meta = meta
	name, err := u.freeName(meta.Index)
	if err != nil {
		return err
	}
	u.name = name
	for _, t := range u.live() {
		p, err := t.st.Create(u.ctx, u.job, name)
		if err != nil {
			u.drop(t, err)
			continue
		}
		t.p = p
		t.ch = make(chan *chunk, uploadQueue)
		t.exited = make(chan struct{})
		go t.run(t.ch)
	}
	return u.allFailed()
}

// freeName is the first name for the snapshot that no store has, asking
// each live store; a store that cannot answer is dropped.
func (u *Upload) freeName(index uint64) (string, error) {
	for n := 1; n <= 100; n++ {
		name := NewName(u.job, u.created, index, n)
		taken := false
		for _, t := range u.live() {
			if err := nameState(u.ctx, t.st, name); errors.Is(err, ErrExists) {
				taken = true
			} else if err != nil {
				u.drop(t, err)
			}
		}
		if err := u.allFailed(); err != nil {
			return "", err
		}
		if !taken {
			return name, nil
		}
	}
	return "", fmt.Errorf("store: no free name for a snapshot of %s at %s index %d after 100 tries", u.job, u.created.UTC().Format(timeLayout), index)
}

// nameState is nil when name is free in st, an error wrapping ErrExists
// when it is taken, or the store's error.
func nameState(ctx context.Context, st Store, name string) error {
	_, err := st.Get(ctx, name)
	switch {
	case err == nil, errors.Is(err, ErrDamaged):
		return fmt.Errorf("%s: %s: %w", st, name, ErrExists)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// FreeName is the first name NewName gives for a snapshot of job that no
// store of stores has.
func FreeName(ctx context.Context, stores []Store, job string, created time.Time, index uint64) (string, error) {
	for n := 1; n <= 100; n++ {
		name := NewName(job, created, index, n)
		taken := false
		for _, st := range stores {
			if err := nameState(ctx, st, name); errors.Is(err, ErrExists) {
				taken = true
			} else if err != nil {
				return "", err
			}
		}
		if !taken {
			return name, nil
		}
	}
	return "", fmt.Errorf("store: no free name for a snapshot of %s at %s index %d", job, created.UTC().Format(timeLayout), index)
}

// feed appends p to the current chunk, handing full chunks to the stores.
func (u *Upload) feed(p []byte) error {
	for len(p) > 0 {
		if u.chunk == nil {
			u.chunk = getChunk(u.nextClass)
			u.nextClass = min(u.nextClass+1, chunkClasses-1)
		}
		c := u.chunk
		n := copy(c.data[len(c.data):cap(c.data)], p)
		c.data = c.data[:len(c.data)+n]
		p = p[n:]
		if len(c.data) == cap(c.data) {
			if err := u.send(); err != nil {
				return err
			}
		}
	}
	return nil
}

// send hands the current chunk to every live store.
func (u *Upload) send() error {
	c := u.chunk
	u.chunk = nil
	if c == nil || len(c.data) == 0 {
		if c != nil {
			putChunk(c)
		}
		return nil
	}
	// The upload holds one reference while it hands c out, each store one
	// until its goroutine has written it.
	c.refs.Store(1)
	defer c.release()
	for _, t := range u.live() {
		c.refs.Add(1)
		select {
		case t.ch <- c:
			continue
		default:
		}
		timer := time.NewTimer(u.opts.Stall)
		select {
		case t.ch <- c:
		case <-timer.C:
			c.release()
			u.drop(t, &Error{Store: t.st.String(), Op: "write", Key: u.name, Kind: KindStalled,
				Err: fmt.Errorf("the store accepted no byte for %s; dropped from this upload", u.opts.Stall)})
		case <-u.ctx.Done():
			c.release()
			timer.Stop()
			return u.ctx.Err()
		}
		timer.Stop()
	}
	return u.allFailed()
}

// run writes the chunks handed to t into its Pending.
func (t *target) run(ch <-chan *chunk) {
	defer close(t.exited)
	for c := range ch {
		if t.failure() == nil {
			if _, err := t.p.Write(c.data); err != nil {
				t.fail(err)
			}
		}
		c.release()
	}
}

// live lists the stores still in the upload; a store whose goroutine
// failed to write is dropped here.
func (u *Upload) live() []*target {
	var live []*target
	for _, t := range u.targets {
		if err := t.failure(); err == nil {
			live = append(live, t)
		} else if t.ch != nil && !u.done {
			u.logger.Warn("store dropped from the upload; the other stores go on", "store", t.st.String(), "snapshot", u.name, "err", err)
			u.stop(t, false)
		}
	}
	return live
}

// drop takes t out of the upload: its write is aborted (in the background:
// a store that hangs must not hold up the others) and err kept.
func (u *Upload) drop(t *target, err error) {
	t.fail(err)
	u.logger.Warn("store dropped from the upload; the other stores go on", "store", t.st.String(), "snapshot", u.name, "err", err)
	u.stop(t, false)
}

// stop closes t's queue and aborts its write, waiting for its goroutine
// when wait is set.
func (u *Upload) stop(t *target, wait bool) {
	if t.ch != nil {
		close(t.ch)
		t.ch = nil
		p, exited := t.p, t.exited
		abort := func() {
			p.Abort()
			<-exited
		}
		if wait {
			abort()
		} else {
			go abort()
		}
	}
}

// allFailed is an error when no store is left.
func (u *Upload) allFailed() error {
	if len(u.live()) > 0 {
		return nil
	}
	var errs []string
	var first error
	for _, t := range u.targets {
		err := t.failure()
		if first == nil {
			first = err
		}
		errs = append(errs, err.Error())
	}
	if len(u.targets) == 1 {
		return first
	}
	return &allFailedError{msg: "every store failed: " + strings.Join(errs, "; "), first: first}
}

// allFailedError unwraps to the first store's error, so that a job can
// classify the failure (permanent or not).
type allFailedError struct {
	msg   string
	first error
}

func (e *allFailedError) Error() string { return e.msg }
func (e *allFailedError) Unwrap() error { return e.first }

// Commit makes the snapshot durable and listed in every store still in the
// upload, in parallel (see Pending.Commit), and returns what became of it
// in each store, in the order given to NewUpload. err is nil when at least
// one store committed it.
func (u *Upload) Commit(ctx context.Context, entry Entry) ([]UploadResult, error) {
	if u.done {
		return nil, ErrCommitAfterEnd
	}
	if u.bad != nil {
		u.Abort()
		return u.Results(), u.bad
	}
	if u.name == "" {
		if err := u.nameFromHead(true); err != nil {
			u.Abort()
			return u.Results(), err
		}
		head := u.head
		u.head = nil
		if err := u.feed(head); err != nil {
			u.Abort()
			return u.Results(), err
		}
	}
	if u.meta != nil && (entry.Index != u.meta.Index || entry.Term != u.meta.Term) {
		u.Abort()
		return u.Results(), fmt.Errorf("store: the entry says index %d term %d, the archive's meta.json index %d term %d", entry.Index, entry.Term, u.meta.Index, u.meta.Term)
	}
	if err := u.send(); err != nil {
		u.Abort()
		return u.Results(), err
	}
	u.done = true
	var open []*target // still writing: committed, or aborted here
	for _, t := range u.targets {
		if t.ch != nil {
			close(t.ch)
			t.ch = nil
			open = append(open, t)
		}
	}
	var wg sync.WaitGroup
	results := make([]UploadResult, len(u.targets))
	for i, t := range u.targets {
		results[i].Store = t.st
		if !slices.Contains(open, t) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-t.exited
			if err := t.failure(); err != nil {
				u.logger.Warn("store dropped from the upload; the other stores go on", "store", t.st.String(), "snapshot", u.name, "err", err)
				t.p.Abort()
				return
			}
			e, err := t.p.Commit(ctx, entry)
			if err != nil {
				t.fail(err)
				return
			}
			results[i].Entry = e
		}()
	}
	wg.Wait()
	committed := 0
	for i, t := range u.targets {
		results[i].Err = t.failure()
		if results[i].Err == nil {
			committed++
		}
	}
	if committed == 0 {
		return results, u.allFailed()
	}
	return results, nil
}

// Results says, after Commit or Abort, what became of the snapshot in each
// store (Err set for the stores that failed).
func (u *Upload) Results() []UploadResult {
	results := make([]UploadResult, len(u.targets))
	for i, t := range u.targets {
		results[i] = UploadResult{Store: t.st, Err: t.failure()}
	}
	return results
}

// Abort discards the snapshot in every store; safe after Commit (which it
// leaves alone).
func (u *Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	for _, t := range u.targets {
		u.stop(t, true)
	}
	if u.chunk != nil {
		putChunk(u.chunk)
		u.chunk = nil
	}
}
