package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// Store types, as written in a store block's `type:`.
const (
	StoreLocal = "local"
	StoreS3    = bucket.S3
	StoreAzure = bucket.Azure
	StoreGCS   = bucket.GCS
)

// StoreTypes lists the store types, in the order the docs give them.
var StoreTypes = []string{StoreLocal, StoreS3, StoreAzure, StoreGCS}

// storeKeyTypes says which store types each type-specific key applies to.
var storeKeyTypes = map[string][]string{
	"path":          {StoreLocal},
	"bucket":        {StoreS3, StoreGCS},
	"container":     {StoreAzure},
	"account":       {StoreAzure},
	"prefix":        {StoreS3, StoreAzure, StoreGCS},
	"endpoint":      {StoreS3, StoreAzure, StoreGCS},
	"region":        {StoreS3},
	"path_style":    {StoreS3},
	"profile":       {StoreS3},
	"sse":           {StoreS3},
	"storage_class": {StoreS3, StoreGCS},
	"access_tier":   {StoreAzure},
	"part_size":     {StoreS3, StoreAzure, StoreGCS},
	"concurrency":   {StoreS3, StoreAzure, StoreGCS},
}

// IsRemote tells an object store from a local directory.
func (s *Store) IsRemote() bool { return s.Type != "" && s.Type != StoreLocal }

// BucketConfig is an object store block's settings as snapshot/store/bucket
// takes them.
func (s *Store) BucketConfig() bucket.Config {
	c := bucket.Config{
		Provider: s.Type, Bucket: s.Bucket, Prefix: s.Prefix, Endpoint: s.Endpoint, Region: s.Region,
		PathStyle: s.PathStyle, Profile: s.Profile, StorageClass: s.StorageClass, Account: s.Account,
		PartSize: int64(s.PartSize), Concurrency: s.Concurrency,
	}
	if s.Type == StoreAzure {
		c.Bucket, c.StorageClass = s.Container, s.AccessTier
	}
	if s.SSE != nil {
		c.SSE, c.KMSKeyID = s.SSE.Type, s.SSE.KMSKeyID
	}
	c.Normalize()
	return c
}

// Location is where the store is: its directory, or its URL without
// parameters (s3://bucket/prefix/).
func (s *Store) Location() string {
	if !s.IsRemote() {
		return s.Path
	}
	c := s.BucketConfig()
	return c.Location()
}

// Label names the store in status, metrics and logs: Name, else Location.
func (s *Store) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Location()
}

// Identity is what makes two store blocks the same store: the real path
// of a directory; the service, bucket and prefix of an object store.
func (s *Store) Identity() string {
	if !s.IsRemote() {
		return "local:" + store.RealPath(filepath.Clean(s.Path))
	}
	c := s.BucketConfig()
	return c.Provider + ":" + strings.TrimSuffix(c.Endpoint, "/") + ":" + c.Account + ":" + c.Bucket + "/" + c.Prefix
}

// StoreList is a job's stores: its stores list, or its one store.
func (j *Job) StoreList() []*Store {
	if len(j.Stores) > 0 {
		list := make([]*Store, len(j.Stores))
		for i := range j.Stores {
			list[i] = &j.Stores[i]
		}
		return list
	}
	if j.Store != nil {
		return []*Store{j.Store}
	}
	return nil
}

// ParseStoreLocation reads a store given on the command line: an absolute
// or relative directory, or an object store URL (s3://, azblob://, gs://;
// see bucket.ParseURL).
func ParseStoreLocation(s string) (*Store, error) {
	if !bucket.IsURL(s) {
		if strings.Contains(s, "://") {
			return nil, fmt.Errorf("store %q: use a directory, or a URL starting with s3://, azblob:// or gs://", s)
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, err
		}
		return &Store{Type: StoreLocal, Path: abs}, nil
	}
	c, err := bucket.ParseURL(s)
	if err != nil {
		return nil, err
	}
	st := &Store{Type: c.Provider, Bucket: c.Bucket, Prefix: c.Prefix, Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle,
		Profile: c.Profile, StorageClass: c.StorageClass, Account: c.Account, PartSize: Size(c.PartSize), Concurrency: c.Concurrency}
	if c.Provider == StoreAzure {
		st.Container, st.Bucket, st.AccessTier, st.StorageClass = c.Bucket, "", c.StorageClass, ""
	}
	if c.SSE != "" {
		st.SSE = &SSE{Type: c.SSE, KMSKeyID: c.KMSKeyID}
	}
	return st, nil
}

// validateStore checks a store block; write is false for stores a job only
// reads (restore and scrub jobs), inList is true for one of a snapshot
// job's stores (which may carry its own pruning).
func (v *validator) validateStore(path string, st *Store, write, inList bool) {
	v.oneOf(path+".type", st.Type, StoreTypes...)
	if !slices.Contains(StoreTypes, st.Type) || !v.checkable(path+".type") {
		return
	}
	for key, types := range storeKeyTypes {
		keyPath := path + "." + key
		if _, present := v.keys[keyPath]; !present || slices.Contains(types, st.Type) {
			continue
		}
		v.keyErrorf(keyPath, "does not apply to %s stores (only to %s)", st.Type, orList(types))
		v.failed[keyPath] = true
	}
	if p := path + ".pruning"; v.isSet(p) && !inList {
		v.keyErrorf(p, "a store's own pruning applies to one of a snapshot job's stores (stores:); set the job's pruning instead")
		v.failed[p] = true
	}
	if p := path + ".name"; v.usable(p) && (st.Name == "" || strings.ContainsAny(st.Name, "\n\"") || len(st.Name) > 128) {
		v.errorf(p, "%s is not a usable name: up to 128 characters, no quotes or line breaks", quote(st.Name))
	}
	v.validateEncrypt(path+".encrypt", st)
	if !st.IsRemote() {
		v.validateLocalStore(path, st, write)
		return
	}
	v.validateRemoteStore(path, st)
}

func (v *validator) validateLocalStore(path string, st *Store, write bool) {
	p := path + ".path"
	if !v.absolutePath(p, st.Path, "a local store needs the directory to keep snapshots in") || v.opts.SkipDirChecks {
		return
	}
	if err := store.CheckDir(st.Path, store.DirCheck{UID: v.opts.UID, Write: write}); err != nil {
		v.errorf(p, "%v", err)
	}
}

func (v *validator) validateRemoteStore(path string, st *Store) {
	bucketKey := "bucket"
	if st.Type == StoreAzure {
		bucketKey = "container"
	}
	if !v.isSet(path + "." + bucketKey) {
		article := map[string]string{StoreS3: "an s3", StoreAzure: "an azure", StoreGCS: "a gcs"}[st.Type]
		v.errorf(path+"."+bucketKey, "missing: %s store needs the %s to keep snapshots in", article, bucketKey)
		return
	}
	if st.Type == StoreS3 && !v.isSet(path+".region") && st.Endpoint == "" {
		v.errorf(path+".region", "missing: an AWS bucket needs its region, e.g. region: eu-west-1 (an S3-compatible server takes endpoint, and any region)")
		return
	}
	if p := path + ".sse"; st.SSE != nil && v.checkable(p) && !v.isSet(p+".type") {
		v.errorf(p+".type", "missing: AES256 or aws:kms")
		return
	}
	c := st.BucketConfig()
	for _, problem := range c.Check() {
		key := problem.Key
		if key == "type" || key == "bucket" && st.Type == StoreAzure {
			key = bucketKey
		}
		if st.Type == StoreAzure && key == "storage_class" {
			key = "access_tier"
		}
		if p := path + "." + key; v.checkable(p) {
			v.errorf(p, "%s", problem.Msg)
		}
	}
}

// validateJobStores checks a snapshot job's store or stores: exactly one
// of the two keys, each store valid, no store twice, and a retention for
// each.
func (v *validator) validateJobStores(path string, job *Job) {
	storeSet, listSet := v.isSet(path+".store"), v.isSet(path+".stores")
	switch {
	case storeSet && listSet:
		v.keyErrorf(path+".stores", "give either store (one store) or stores (several), not both")
		return
	case listSet:
		if !v.checkable(path + ".stores") {
			return
		}
		if len(job.Stores) == 0 {
			v.errorf(path+".stores", "must list at least one store")
			return
		}
		seen := map[string]int{}
		firstShared := -1 // the first store without a pruning of its own
		for i := range job.Stores {
			p := fmt.Sprintf("%s.stores[%d]", path, i)
			if !v.checkable(p) {
				continue
			}
			st := &job.Stores[i]
			v.validateStore(p, st, true, true)
			if st.Pruning == nil {
				if firstShared < 0 {
					firstShared = i
				}
			} else if v.checkable(p + ".pruning") {
				v.validatePruning(p+".pruning", st.Pruning, []string{job.Name})
			}
			if v.failedUnder(p) {
				continue
			}
			id := st.Identity()
			if first, dup := seen[id]; dup {
				v.errorf(p, "is the same store as stores[%d] (%s)", first, st.Location())
			} else {
				seen[id] = i
			}
		}
		switch {
		case firstShared >= 0 && job.Pruning == nil && v.checkable(path+".pruning"):
			v.errorf(path+".pruning", "missing: stores[%d] has no pruning of its own, so the job needs one for it, "+
				"e.g. pruning: {keep: [{last_n: {count: 24}}]}", firstShared)
		case firstShared >= 0:
			v.requirePruning(path+".pruning", job.Pruning, []string{job.Name})
		case job.Pruning != nil && v.checkable(path+".pruning"):
			v.validatePruning(path+".pruning", job.Pruning, []string{job.Name})
		}
	default:
		v.requireStore(path+".store", job.Store)
		v.requirePruning(path+".pruning", job.Pruning, []string{job.Name})
	}
}

// ScrubSample is a scrub job's sample: Fraction of the snapshots (0 to 1),
// or Count of them; All when neither.
type ScrubSample struct {
	All      bool
	Fraction float64
	Count    int
}

// ParseScrubSample reads a scrub job's sample: "all", "N%" (0 < N <= 100)
// or a count N >= 1.
func ParseScrubSample(s string) (ScrubSample, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "all":
		return ScrubSample{All: true}, nil
	case strings.HasSuffix(s, "%"):
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || f <= 0 || f > 100 {
			return ScrubSample{}, fmt.Errorf("%s is not a percentage from 0 (excluded) to 100%%, e.g. 10%%", quote(s))
		}
		if f == 100 {
			return ScrubSample{All: true}, nil
		}
		return ScrubSample{Fraction: f / 100}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return ScrubSample{}, fmt.Errorf("%s is not a sample: use all, a percentage such as 10%%, or a number of snapshots such as 5", quote(s))
	}
	return ScrubSample{Count: n}, nil
}

// ScrubSample is the job's parsed sample (all when it does not parse:
// validation refused it already).
func (j *Job) ScrubSample() ScrubSample {
	s, err := ParseScrubSample(j.Sample)
	if err != nil {
		return ScrubSample{All: true}
	}
	return s
}
