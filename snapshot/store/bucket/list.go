package bucket

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// version identifies one version of an object well enough for the
// manifest cache: a rewrite changes its ETag (or, where a listing gives
// none, its size or modification time).
type version struct {
	size int64
	mod  time.Time
	etag string
}

func (v version) matches(w version) bool {
	if v.size != w.size || !v.mod.Equal(w.mod) {
		return false
	}
	return v.etag == "" || w.etag == "" || v.etag == w.etag
}

type cachedManifest struct {
	v       version
	entry   store.Entry
	problem string
}

// listing is one listing's outcome.
type listing struct {
	entries []store.Entry
	foreign []store.Foreign
	objects map[string]*blob.ListObject // by name under the prefix
}

// listCall is a listing in progress that concurrent callers wait for.
type listCall struct {
	done chan struct{}
	l    *listing
	err  error
}

// listTTL bounds how long a listing is reused: at least minListTTL, and
// long enough that listing takes at most 1/20 of the time (a store of
// 100,000 snapshots takes 200 list requests). The store's own writes and
// deletes update the reused listing, so only other writers' changes can be
// up to this late.
const (
	minListTTL   = 10 * time.Second
	listTTLRatio = 20
	// manifestReaders bounds the manifests read at once.
	manifestReaders = 16
	listPageSize    = 1000
)

// List implements store.Store: the snapshots whose manifest and archive
// both exist and agree, newest first, and everything else under the prefix
// as Foreign. Manifests are read once and then served from the cache for
// as long as their object does not change. A listing younger than the TTL
// is reused (with this process's own changes applied).
func (s *Store) List(ctx context.Context) ([]store.Entry, []store.Foreign, error) {
	l, err := s.listCached(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(l.entries), slices.Clone(l.foreign), nil
}

// listCached returns a reusable listing, or makes one (fresh: always).
// Concurrent callers share one listing in progress.
func (s *Store) listCached(ctx context.Context, fresh bool) (*listing, error) {
	s.mu.Lock()
	ttl := s.opts.ListTTL
	if ttl <= 0 {
		ttl = max(minListTTL, s.listTook*listTTLRatio)
	}
	if !fresh && s.listing != nil && time.Since(s.listedAt) < ttl {
		l := s.listing
		s.mu.Unlock()
		return l, nil
	}
	if call := s.listFlight; call != nil {
		s.mu.Unlock()
		select {
		case <-call.done:
			return call.l, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &listCall{done: make(chan struct{})}
	s.listFlight = call
	s.mu.Unlock()

	start := time.Now()
	call.l, call.err = s.list(ctx)
	s.mu.Lock()
	s.listFlight = nil
	if call.err == nil {
		s.listing, s.listedAt, s.listTook = call.l, start, time.Since(start)
	}
	s.mu.Unlock()
	close(call.done)
	return call.l, call.err
}

// list lists the prefix and reads the manifests that changed.
func (s *Store) list(ctx context.Context) (*listing, error) {
	b, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	objects := map[string]*blob.ListObject{}
	var names []string
	opts := &blob.ListOptions{Prefix: s.cfg.Prefix, Delimiter: "/"}
	for token := blob.FirstPageToken; len(token) > 0; {
		s.Requests.List.Add(1)
		var page []*blob.ListObject
		var err error
		page, token, err = b.ListPage(ctx, token, listPageSize, opts)
		if err != nil {
			return nil, s.wrap("list", "", err)
		}
		for _, obj := range page {
			name := strings.TrimPrefix(obj.Key, s.cfg.Prefix)
			if name == "" {
				continue // the "folder" marker some tools create
			}
			objects[name] = obj
			names = append(names, name)
		}
	}
	slices.Sort(names)

	// Which manifests must be read (the others are cached).
	type job struct {
		name string
		v    version
	}
	var reads []job
	s.mu.Lock()
	for _, name := range names {
		if !isManifest(name) {
			continue
		}
		archive := strings.TrimSuffix(name, ManifestSuffix)
		v := listVersion(objects[name])
		if c, ok := s.manifests[archive]; !ok || !c.v.matches(v) {
			reads = append(reads, job{archive, v})
		}
	}
	s.mu.Unlock()
	if err := s.readManifests(ctx, len(reads), func(i int) (string, version) { return reads[i].name, reads[i].v }); err != nil {
		return nil, err
	}

	l := &listing{objects: objects}
	claimed := map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		obj := objects[name]
		if !isManifest(name) {
			continue
		}
		archive := strings.TrimSuffix(name, ManifestSuffix)
		c := s.manifests[archive]
		problem := c.problem
		if problem == "" {
			object := c.entry.ObjectName()
			switch a, ok := objects[object]; {
			case !ok:
				problem = "manifest without its archive (removed by the next clean once older than " + s.opts.StaleAfter.String() + ")"
			case a.Size != c.entry.ObjectSize():
				problem = fmt.Sprintf("archive is %d bytes, manifest says %d", a.Size, c.entry.ObjectSize())
			}
			claimed[object] = true
		}
		if problem != "" {
			l.foreign = append(l.foreign, store.Foreign{Name: name, Size: obj.Size, ModTime: obj.ModTime, Problem: problem})
			continue
		}
		l.entries = append(l.entries, c.entry)
	}
	for _, name := range names {
		obj := objects[name]
		if isManifest(name) || claimed[name] {
			continue
		}
		f := store.Foreign{Name: name, Size: obj.Size, ModTime: obj.ModTime, Dir: obj.IsDir}
		if _, _, _, ok := store.ParseName(strings.TrimSuffix(name, store.EncryptedSuffix)); ok && !obj.IsDir {
			if s.live[strings.TrimSuffix(name, store.EncryptedSuffix)] > 0 {
				continue // this process is committing it
			}
			f.Problem = "archive without its manifest: an interrupted commit or delete (removed by the next clean once older than " + s.opts.StaleAfter.String() + ")"
		}
		l.foreign = append(l.foreign, f)
	}
	for name := range s.manifests {
		if _, ok := objects[name+ManifestSuffix]; !ok {
			delete(s.manifests, name)
		}
	}
	store.SortNewestFirst(l.entries)
	return l, nil
}

// listVersion is a listed object's version.
func listVersion(obj *blob.ListObject) version {
	return version{size: obj.Size, mod: obj.ModTime, etag: listETag(obj)}
}

// readManifests reads n manifests (name and version of each from at) into
// the cache, a few at a time.
func (s *Store) readManifests(ctx context.Context, n int, at func(int) (string, version)) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(n, manifestReaders) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name, v := at(i)
				if _, _, err := s.manifest(ctx, name, v); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// manifest returns the manifest of snapshot name from the cache when its
// version matches v, else reads and checks it. A non-empty problem means
// it must not be listed; err is a failure to read it.
func (s *Store) manifest(ctx context.Context, name string, v version) (store.Entry, string, error) {
	s.mu.Lock()
	c, ok := s.manifests[name]
	s.mu.Unlock()
	if ok && c.v.matches(v) {
		return c.entry, c.problem, nil
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return store.Entry{}, "", err
	}
	s.Requests.Read.Add(1)
	r, err := b.NewReader(ctx, s.key(name+ManifestSuffix), nil)
	if gcerrors.Code(err) == gcerrors.NotFound && !isNoBucket(err) {
		return store.Entry{}, "manifest vanished while being read", nil
	}
	if err != nil {
		return store.Entry{}, "", s.wrap("read", name+ManifestSuffix, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, store.MaxRecordSize+1))
	r.Close()
	if err != nil {
		return store.Entry{}, "", s.wrap("read", name+ManifestSuffix, err)
	}
	c = cachedManifest{v: v}
	switch entry, err := store.DecodeRecord(data); {
	case len(data) > store.MaxRecordSize:
		c.problem = fmt.Sprintf("manifest is larger than %d bytes", store.MaxRecordSize)
	case err != nil:
		c.problem = "manifest is not valid JSON: " + err.Error()
	default:
		if problem := store.CheckRecord(&entry, name); problem != "" {
			c.problem = "manifest " + strings.TrimPrefix(problem, "record ")
		} else {
			entry.Store = s.label
			c.entry = entry
		}
	}
	s.mu.Lock()
	s.manifests[name] = c
	s.mu.Unlock()
	return c.entry, c.problem, nil
}

// remember records a manifest this process wrote: in the cache, and in the
// reused listing, so that the listing stays current without a request.
func (s *Store) remember(entry store.Entry, data []byte) {
	entry.Store = s.label
	s.mu.Lock()
	defer s.mu.Unlock()
	// The object's modification time is the server's: unknown here. A
	// version with none matches no listing, so the next listing reads the
	// manifest once more and caches it under its real version.
	s.manifests[entry.Name] = cachedManifest{v: version{size: int64(len(data)), mod: time.Unix(0, 0)}, entry: entry}
	if s.listing == nil {
		return
	}
	l := &listing{objects: s.listing.objects}
	l.entries = slices.DeleteFunc(slices.Clone(s.listing.entries), func(e store.Entry) bool { return e.Name == entry.Name })
	l.entries = append(l.entries, entry)
	store.SortNewestFirst(l.entries)
	l.foreign = slices.DeleteFunc(slices.Clone(s.listing.foreign), func(f store.Foreign) bool {
		return f.Name == entry.Name || f.Name == entry.Name+ManifestSuffix || f.Name == entry.ObjectName()
	})
	s.listing = l
}

// forget drops a deleted snapshot from the cache and the reused listing.
func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.manifests, name)
	if s.listing == nil {
		return
	}
	l := &listing{objects: s.listing.objects, foreign: s.listing.foreign}
	l.entries = slices.DeleteFunc(slices.Clone(s.listing.entries), func(e store.Entry) bool { return e.Name == name })
	s.listing = l
}
