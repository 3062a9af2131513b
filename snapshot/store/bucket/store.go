package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// ManifestSuffix is appended to an archive's name to name its manifest.
const ManifestSuffix = ".json"

// Store is a store in an object store bucket (see the package comment).
// One Store may be shared by several jobs of a process; it is safe for
// concurrent use.
type Store struct {
	cfg    Config
	opts   Options
	b      *blob.Bucket
	logger *slog.Logger
	label  string

	// Requests counts the requests made, by kind: what the benchmarks
	// report and the tests check.
	Requests Counters

	mu sync.Mutex
	// manifests caches each manifest read, keyed by snapshot name and
	// checked against the manifest object's identity.
	manifests map[string]cachedManifest
	// live names the snapshots this process is writing: Clean leaves them
	// alone whatever their age.
	live map[string]int
	// listing is the last listing and when it was made.
	listing    *listing
	listedAt   time.Time
	listTook   time.Duration
	listFlight *listCall
	closed     bool
	// opener opens b at first use (Open); nil when b was given (New).
	opener *opener
}

// Counters counts requests by kind.
type Counters struct {
	List, Read, Head, Write, Delete, Abort atomic.Int64
}

// Total is the sum of every counter.
func (c *Counters) Total() int64 {
	return c.List.Load() + c.Read.Load() + c.Head.Load() + c.Write.Load() + c.Delete.Load() + c.Abort.Load()
}

func (c *Counters) String() string {
	return fmt.Sprintf("%d requests (list %d, read %d, head %d, write %d, delete %d, abort %d)", c.Total(),
		c.List.Load(), c.Read.Load(), c.Head.Load(), c.Write.Load(), c.Delete.Load(), c.Abort.Load())
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Cleaner = (*Store)(nil)
)

// New makes a store over an opened bucket (Open opens one from a Config;
// tests pass memblob's and fileblob's). cfg is normalized; its Provider and
// Bucket only name the store.
func New(b *blob.Bucket, cfg Config, opts Options, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Normalize()
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	s := &Store{cfg: cfg, opts: opts, b: b, manifests: map[string]cachedManifest{}, live: map[string]int{}}
	s.label = opts.Name
	if s.label == "" {
		s.label = cfg.Location()
	}
	s.logger = logger.With("store", s.label)
	return s
}

// Config is the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// Bucket is the underlying gocloud bucket, opened now if needed.
func (s *Store) Bucket(ctx context.Context) (*blob.Bucket, error) { return s.bucket(ctx) }

// String implements store.Store: "s3 store s3://bucket/prefix/", with the
// endpoint when it is not the cloud's own.
func (s *Store) String() string {
	str := s.cfg.Provider + " store " + s.cfg.Location()
	if s.cfg.Endpoint != "" {
		str += " at " + s.cfg.Endpoint
	}
	return str
}

// Location implements store.Store: the store's name (Options.Name), or its
// URL without parameters.
func (s *Store) Location() string { return s.label }

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	b := s.b
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

func (s *Store) key(name string) string { return s.cfg.Prefix + name }

// errorf wraps a provider error as a *store.Error naming this store, the
// operation and the object.
func (s *Store) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	key := ""
	if name != "" {
		key = s.key(name)
	}
	return &store.Error{Store: s.String(), Op: op, Key: key, Kind: classify(err), Err: scrub(err)}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, name string) (store.Entry, error) {
	if err := checkName(name); err != nil {
		return store.Entry{}, err
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return store.Entry{}, err
	}
	s.Requests.Head.Add(1)
	mattrs, err := b.Attributes(ctx, s.key(name+ManifestSuffix))
	if gcerrors.Code(err) == gcerrors.NotFound && !isNoBucket(err) {
		// An archive without its manifest takes the name all the same.
		s.Requests.Head.Add(1)
		if _, aerr := b.Attributes(ctx, s.key(name)); aerr == nil {
			return store.Entry{}, fmt.Errorf("%s: %s %w: an archive without its manifest", s, s.key(name), store.ErrDamaged)
		}
		return store.Entry{}, fmt.Errorf("%s: no snapshot named %q: %w", s, name, store.ErrNotFound)
	}
	if err != nil {
		return store.Entry{}, s.wrap("read", name+ManifestSuffix, err)
	}
	entry, problem, err := s.manifest(ctx, name, version{size: mattrs.Size, mod: mattrs.ModTime, etag: mattrs.ETag})
	if err != nil {
		return store.Entry{}, err
	}
	if problem != "" {
		return store.Entry{}, fmt.Errorf("%s: snapshot %s %w: %s", s, name, store.ErrDamaged, problem)
	}
	s.Requests.Head.Add(1)
	aattrs, err := b.Attributes(ctx, s.key(entry.ObjectName()))
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound:
		return store.Entry{}, fmt.Errorf("%s: snapshot %s %w: its manifest is there, its archive %s is not", s, name, store.ErrDamaged, s.key(entry.ObjectName()))
	case err != nil:
		return store.Entry{}, s.wrap("read", entry.ObjectName(), err)
	case aattrs.Size != entry.ObjectSize():
		return store.Entry{}, fmt.Errorf("%s: snapshot %s %w: its archive is %d bytes, its manifest says %d", s, name, store.ErrDamaged, aattrs.Size, entry.ObjectSize())
	}
	return entry, nil
}

// Open implements store.Store: the archive, streamed as it is read.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, store.Entry, error) {
	entry, err := s.Get(ctx, name)
	if err != nil {
		return nil, store.Entry{}, err
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return nil, store.Entry{}, err
	}
	s.Requests.Read.Add(1)
	r, err := b.NewReader(ctx, s.key(entry.ObjectName()), nil)
	if err != nil {
		return nil, entry, s.wrap("read", entry.ObjectName(), err)
	}
	return &objectReader{r: r, s: s, name: entry.ObjectName(), want: entry.ObjectSize()}, entry, nil
}

// objectReader wraps a provider's read errors, and fails a read that ends
// short of the object's size.
type objectReader struct {
	r    *blob.Reader
	s    *Store
	name string
	want int64
	read int64
}

func (o *objectReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read += int64(n)
	switch {
	case err == io.EOF && o.read != o.want:
		return n, o.s.wrap("read", o.name, fmt.Errorf("the object ended after %d of its %d bytes", o.read, o.want))
	case err != nil && err != io.EOF:
		return n, o.s.wrap("read", o.name, err)
	}
	return n, err
}

func (o *objectReader) Close() error { return o.r.Close() }

// Update implements store.Store: it rewrites the manifest of a listed
// snapshot.
func (s *Store) Update(ctx context.Context, entry store.Entry) error {
	if _, err := s.Get(ctx, entry.Name); err != nil {
		return fmt.Errorf("not updating %s: %w", entry.Name, err)
	}
	entry.Schema = store.SidecarSchema
	return s.writeManifest(ctx, entry, false)
}

// writeManifest writes entry's manifest; ifNew makes it fail with an error
// wrapping store.ErrExists when one is there already.
func (s *Store) writeManifest(ctx context.Context, entry store.Entry, ifNew bool) error {
	data, err := store.EncodeRecord(entry)
	if err != nil {
		return s.wrap("write", entry.Name+ManifestSuffix, err)
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	s.Requests.Write.Add(1)
	err = b.WriteAll(ctx, s.key(entry.Name+ManifestSuffix), data, &blob.WriterOptions{
		ContentType: "application/json", IfNotExist: ifNew,
		BeforeWrite: s.beforeWrite(b, false),
	})
	if ifNew && gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return fmt.Errorf("%s: %s: %w", s, s.key(entry.Name+ManifestSuffix), store.ErrExists)
	}
	if err != nil {
		return s.wrap("write", entry.Name+ManifestSuffix, err)
	}
	s.remember(entry, data)
	return nil
}

// Delete implements store.Store: the manifest first, then the archive, so
// that a crash in between leaves an archive without manifest (never
// listed, removed by Clean), never a listed snapshot without its archive.
func (s *Store) Delete(ctx context.Context, name string) error {
	entry, err := s.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("not deleting %s: %w", name, err)
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	s.Requests.Delete.Add(1)
	if err := b.Delete(ctx, s.key(name+ManifestSuffix)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete", name+ManifestSuffix, err)
	}
	s.forget(name)
	s.Requests.Delete.Add(1)
	if err := b.Delete(ctx, s.key(entry.ObjectName())); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete", entry.ObjectName(), err)
	}
	return nil
}

// checkName refuses what is not a snapshot name.
func checkName(name string) error {
	if _, _, _, ok := store.ParseName(name); !ok {
		return fmt.Errorf("store: %q is not a snapshot name (such as consul-main-20261122T051000Z-12345.snap)", name)
	}
	return nil
}

// hostname is this machine's name, recorded in what it writes.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

// isManifest and isArchive classify object names.
func isManifest(name string) bool { return strings.HasSuffix(name, store.SidecarSuffix) }
