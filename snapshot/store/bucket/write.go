package bucket

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// pending is a snapshot being uploaded.
type pending struct {
	s       *Store
	b       *blob.Bucket
	job     string
	name    string
	object  string // the stored form's name (CreateObject), "" for the archive itself
	w       *blob.Writer
	cancel  context.CancelFunc
	mu      sync.Mutex // Abort may come from another goroutine than Write
	wmu     sync.Mutex // held by a Write in progress: Close waits for it
	written int64
	done    bool
	err     error // the first write error
}

// Create implements store.Store: it starts the archive's upload under its
// final name (an object store cannot rename). Nothing is visible before
// Commit, and Abort (or a cancelled ctx) abandons the upload.
func (s *Store) Create(ctx context.Context, job, name string) (store.Pending, error) {
	return s.CreateObject(ctx, job, name, "")
}

// CreateObject implements store.ObjectCreator: Create, the bytes being
// uploaded under object (NAME.snap.age); object "" is Create.
func (s *Store) CreateObject(ctx context.Context, job, name, object string) (store.Pending, error) {
	if err := store.CheckName(job, name); err != nil {
		return nil, err
	}
	key, contentType := name, "application/gzip"
	if object != "" {
		if err := store.CheckObjectName(name, object); err != nil {
			return nil, err
		}
		key, contentType = object, "application/octet-stream"
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: closed", s)
	}
	s.live[name]++
	s.mu.Unlock()
	b, err := s.bucket(ctx)
	if err != nil {
		s.unlive(name)
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	s.Requests.Write.Add(1) // the upload's own requests (parts) are not counted one by one
	w, err := b.NewWriter(wctx, s.key(key), &blob.WriterOptions{
		ContentType:    contentType,
		BufferSize:     int(s.cfg.PartSize),
		MaxConcurrency: s.cfg.Concurrency,
		IfNotExist:     true,
		Metadata:       map[string]string{"raftsnap-job": job},
		BeforeWrite:    s.beforeWrite(b, true),
	})
	if err != nil {
		cancel()
		s.unlive(name)
		return nil, s.wrap("write", name, err)
	}
	return &pending{s: s, b: b, job: job, name: name, object: object, w: w, cancel: cancel}, nil
}

// writing tells whether this process is writing the snapshot name.
func (s *Store) writing(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// live is keyed by snapshot name; an encrypted upload's key is
	// NAME.snap.age.
	return s.live[strings.TrimSuffix(name, store.EncryptedSuffix)] > 0
}

func (s *Store) unlive(name string) {
	s.mu.Lock()
	if s.live[name]--; s.live[name] <= 0 {
		delete(s.live, name)
	}
	s.mu.Unlock()
}

// beforeWrite sets what the configuration asks of written objects that
// the blob API has no option for: the storage class (Azure: the access
// tier; archives only) and, on S3, an upload client of our own. gocloud's
// holds the first 16 MiB before it starts a multipart upload (ours: one
// part), and aborts a failed upload with the upload's context, which a
// cancellation has already ended, so that S3 never hears of the abort
// (ours gives the abort a context of its own).
func (s *Store) beforeWrite(b *blob.Bucket, archive bool) func(func(any) bool) error {
	class := s.cfg.StorageClass
	return func(as func(any) bool) error {
		var (
			tm    *transfermanager.Client
			s3in  *transfermanager.UploadObjectInput
			azOpt *azblob.UploadStreamOptions
			gw    *storage.Writer
			s3c   *s3.Client
		)
		if as(&tm) && b != nil && b.As(&s3c) {
			checksums := aws.RequestChecksumCalculationWhenSupported
			if s.cfg.Endpoint != "" {
				checksums = aws.RequestChecksumCalculationWhenRequired
			}
			*tm = *transfermanager.New(s3c, func(o *transfermanager.Options) {
				o.PartSizeBytes = s.cfg.PartSize
				o.MultipartUploadThreshold = s.cfg.PartSize
				o.Concurrency = s.cfg.Concurrency
				o.RequestChecksumCalculation = checksums
				o.FailTimeout = abortTimeout
			})
		}
		if as(&s3in) && class != "" {
			s3in.StorageClass = tmtypes.StorageClass(class)
		}
		if as(&azOpt) && class != "" && archive {
			tier := azblobblob.AccessTier(class)
			azOpt.AccessTier = &tier
		}
		if as(&gw) && class != "" {
			gw.StorageClass = class
		}
		return nil
	}
}

// abortTimeout bounds the abort of a failed upload.
const abortTimeout = 30 * time.Second

// Written implements store.Pending.
func (p *pending) Written() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

// Write implements store.Pending: the bytes go into the upload's current
// part; a full part is sent while the next fills.
func (p *pending) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return 0, store.ErrWriteAfterEnd
	}
	if p.err != nil {
		p.mu.Unlock()
		return 0, p.err
	}
	w := p.w
	p.wmu.Lock()
	p.mu.Unlock()
	n, err := w.Write(b)
	p.wmu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written += int64(n)
	if err != nil && p.err == nil {
		p.err = p.s.wrap("write", p.name, err)
	}
	if err != nil {
		return n, p.err
	}
	return n, nil
}

// Commit implements store.Pending: complete the upload (the archive becomes
// visible, or an error wrapping store.ErrExists if that name is taken),
// run ctx's commit check, then write the manifest, if none is there: the
// commit point. If the check fails or the manifest cannot be written, the
// archive is deleted again.
func (p *pending) Commit(ctx context.Context, entry store.Entry) (store.Entry, error) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return store.Entry{}, store.ErrCommitAfterEnd
	}
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		p.Abort()
		return store.Entry{}, err
	}
	p.done = true
	written := p.written
	p.mu.Unlock()
	s := p.s
	defer s.unlive(p.name)
	defer p.cancel()
	if p.object != "" {
		if err := store.CheckStoredEntry(&entry, written); err != nil {
			p.cancel()
			p.w.Close()
			return store.Entry{}, fmt.Errorf("%s: %s: %v", s, s.key(p.object), err)
		}
	} else if entry.Size != 0 && entry.Size != written {
		p.cancel()
		p.w.Close()
		return store.Entry{}, fmt.Errorf("%s: %s: entry says %d bytes but %d were written", s, s.key(p.name), entry.Size, written)
	}
	entry.Bound()
	if entry.CreatedAt.IsZero() {
		entry.CreatedAt = time.Now()
	}
	entry.CreatedAt = entry.CreatedAt.UTC()
	entry.Schema = store.SidecarSchema
	entry.Name, entry.Job = p.name, p.job
	if p.object != "" {
		entry.Object, entry.StoredSize = p.object, written
	} else {
		entry.Size = written
		entry.Object, entry.StoredSize, entry.StoredSHA256 = "", 0, ""
	}
	if entry.Host == "" {
		entry.Host = hostname()
	}
	entry.Path = ""
	if err := p.w.Close(); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return store.Entry{}, fmt.Errorf("%s: cannot commit %s: %w", s, s.key(entry.ObjectName()), store.ErrExists)
		}
		return store.Entry{}, s.wrap("commit", p.name, err)
	}
	// The commit check (ha's fence) comes now that every byte is stored,
	// right before the manifest, the commit point.
	if err := store.CheckCommit(ctx); err != nil {
		p.dropArchive(ctx, entry, "not committed")
		return store.Entry{}, err
	}
	if err := s.writeManifest(ctx, entry, true); err != nil {
		p.dropArchive(ctx, entry, "whose manifest could not be written")
		return store.Entry{}, err
	}
	entry.Store = s.label
	return entry, nil
}

// dropArchive deletes the archive of a commit that did not reach its
// manifest: without it the archive is never listed; deleted, the failure
// leaves nothing behind (Clean would, later).
func (p *pending) dropArchive(ctx context.Context, entry store.Entry, why string) {
	s := p.s
	s.Requests.Delete.Add(1)
	if err := p.b.Delete(context.WithoutCancel(ctx), s.key(entry.ObjectName())); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		s.logger.Warn("cannot delete the archive "+why+"; the next clean removes it", "object", s.key(entry.ObjectName()), "err", scrub(err))
	}
}

// Abort implements store.Pending: the upload is abandoned (S3 aborts the
// multipart upload); nothing becomes visible. Safe after Commit, and while
// a Write is blocked in another goroutine (it unblocks it).
func (p *pending) Abort() error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	p.mu.Unlock()
	p.cancel()
	p.s.Requests.Abort.Add(1)
	p.wmu.Lock() // the cancel unblocks a Write in progress
	p.w.Close()  // with its context cancelled: aborts
	p.wmu.Unlock()
	p.s.unlive(p.name)
	return nil
}
