// Package bucket keeps snapshots in object storage (S3 and S3-compatible
// servers, Azure Blob, Google Cloud Storage) behind the store.Store
// interface, through gocloud.dev/blob.
//
// Layout under the store's prefix, one level deep:
//
//	PREFIX<job>-<UTC yyyymmddThhmmssZ>-<index>.snap       the archive, as the server sent it
//	PREFIX<job>-<UTC yyyymmddThhmmssZ>-<index>.snap.json  its manifest: the local store's sidecar record
//
// Writing streams: the archive goes up in parts (a multipart upload on
// S3, blocks on Azure, a resumable upload on GCS) while the snapshot job
// verifies the same bytes, with memory bounded by part size x concurrency.
// Commit completes the upload (the object becomes visible) only after
// verification passed, then writes the manifest with "if none match", which
// is the commit point: a snapshot is listed only when its manifest and its
// archive both exist and agree. An upload that fails or is aborted is
// abandoned (S3: AbortMultipartUpload); what a crash leaves (an incomplete
// upload, an archive without its manifest) is never listed, and Clean
// removes it once older than the store's grace period, never another
// writer's fresh upload.
//
// Manifests are cached in memory by object identity (size, modification
// time, ETag), so listing a store of 100,000 snapshots reads the 100,000
// manifests once per process, then only the ones that changed.
//
// Credentials come only from each cloud's standard chain (see Open), never
// from the configuration; errors name the store, bucket and key, never a
// secret.
package bucket

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Providers.
const (
	S3    = "s3"
	Azure = "azure"
	GCS   = "gcs"
)

// Providers lists the object store types, in the order the docs give them.
var Providers = []string{S3, Azure, GCS}

// Config is an object store's settings: what the configuration file's
// store block and a store URL hold. None of it is secret.
type Config struct {
	// Provider is s3, azure or gcs.
	Provider string
	// Bucket is the bucket (s3, gcs) or container (azure).
	Bucket string
	// Prefix is where the snapshots live in it: "" (the top) or a "folder"
	// ending in "/" (Normalize adds it).
	Prefix string
	// Endpoint is the service's base URL when not the cloud's own: an
	// S3-compatible server (http://127.0.0.1:7070), Azurite
	// (http://127.0.0.1:10000/devstoreaccount1), a GCS emulator.
	Endpoint string
	// Region is the S3 region (required for AWS; S3-compatible servers
	// usually take any, e.g. us-east-1).
	Region string
	// PathStyle addresses S3 buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT (most S3-compatible servers want it).
	PathStyle bool
	// Profile is a profile of the AWS shared config files to take
	// credentials from (default: AWS_PROFILE, else "default").
	Profile string
	// SSE is S3 server-side encryption: "" (the bucket's default), AES256
	// or aws:kms (with KMSKeyID, or the account's default KMS key).
	SSE      string
	KMSKeyID string
	// StorageClass is the S3 storage class (STANDARD_IA...), the GCS
	// storage class (NEARLINE...) or the Azure access tier (Cool...) of
	// the archives; "" is the bucket's default.
	StorageClass string
	// Account is the Azure storage account (default:
	// AZURE_STORAGE_ACCOUNT).
	Account string
	// PartSize and Concurrency bound an upload's memory: about PartSize x
	// (Concurrency + 2) bytes (defaults 5 MiB and 2). An S3 upload has
	// at most 10,000 parts, so PartSize also caps the archive at 10,000 x
	// PartSize (48 GiB at 5 MiB).
	PartSize    int64
	Concurrency int
}

// Defaults.
const (
	// DefaultPartSize is S3's smallest part: 5 MiB parts took 21 MiB off
	// the daemon's peak memory against 8 MiB, at no cost in time
	// (docs/performance.md, "Object storage").
	DefaultPartSize    = MinPartSize
	DefaultConcurrency = 2
	// MinPartSize is S3's smallest part.
	MinPartSize = 5 << 20
	// DefaultRegion is used for S3-compatible servers when none is given.
	DefaultRegion = "us-east-1"
)

// S3 server-side encryption types.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

var (
	bucketNameS3    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	containerName   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
	bucketNameGCS   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)
	accountName     = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	storageClassLit = regexp.MustCompile(`^[A-Za-z_]+$`)
)

// Normalize fills defaults: a prefix ends in "/", part size and
// concurrency get their defaults, an S3 store without region gets
// DefaultRegion when it has an endpoint.
func (c *Config) Normalize() {
	c.Prefix = strings.TrimLeft(c.Prefix, "/")
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Provider == S3 && c.Region == "" && c.Endpoint != "" {
		c.Region = DefaultRegion
	}
}

// Problem is one thing wrong with a Config: the key (as in the store
// block) and what is wrong.
type Problem struct {
	Key string
	Msg string
}

// Check lists what is wrong with c (after Normalize), key by key.
func (c *Config) Check() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) { ps = append(ps, Problem{key, fmt.Sprintf(format, args...)}) }
	switch c.Provider {
	case S3:
		if !bucketNameS3.MatchString(c.Bucket) {
			add("bucket", "%q is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", c.Bucket)
		}
		if c.Region == "" {
			add("region", "missing: an AWS bucket needs its region, e.g. region: eu-west-1 (give endpoint for an S3-compatible server)")
		}
	case Azure:
		if !containerName.MatchString(c.Bucket) {
			add("container", "%q is not an Azure container name (3 to 63 lower-case letters, digits and single hyphens)", c.Bucket)
		}
		if c.Account != "" && !accountName.MatchString(c.Account) {
			add("account", "%q is not an Azure storage account name (3 to 24 lower-case letters and digits)", c.Account)
		}
	case GCS:
		if !bucketNameGCS.MatchString(c.Bucket) {
			add("bucket", "%q is not a GCS bucket name", c.Bucket)
		}
	default:
		add("type", "%q is not an object store: use %s", c.Provider, strings.Join(Providers, ", "))
		return ps
	}
	if strings.Contains(c.Prefix, "//") || strings.Contains(c.Prefix, "../") || strings.HasPrefix(c.Prefix, "./") {
		add("prefix", "%q must be a plain folder path such as consul-main/", c.Prefix)
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			add("endpoint", "%q is not an http:// or https:// URL without credentials or query", c.Endpoint)
		}
	}
	if c.Provider != S3 {
		for key, set := range map[string]bool{"region": c.Region != "", "path_style": c.PathStyle, "sse": c.SSE != "", "profile": c.Profile != ""} {
			if set {
				add(key, "applies to s3 stores only")
			}
		}
	}
	if c.Provider != Azure && c.Account != "" {
		add("account", "applies to azure stores only")
	}
	switch c.SSE {
	case "", SSEAES256:
		if c.KMSKeyID != "" {
			add("sse.kms_key_id", "needs sse type aws:kms")
		}
	case SSEKMS:
	default:
		add("sse.type", "%q is not an S3 encryption: use AES256 or aws:kms", c.SSE)
	}
	if c.StorageClass != "" && !storageClassLit.MatchString(c.StorageClass) {
		add("storage_class", "%q is not a storage class name", c.StorageClass)
	}
	if c.PartSize < MinPartSize || c.PartSize > 512<<20 {
		add("part_size", "must be from 5 MiB (S3's smallest part) to 512 MiB, got %d bytes", c.PartSize)
	}
	if c.Concurrency < 1 || c.Concurrency > 32 {
		add("concurrency", "must be from 1 to 32, got %d", c.Concurrency)
	}
	return ps
}

// URL is the store as a URL (see ParseURL): what `raftsnap store list
// URL` takes, without anything secret.
func (c *Config) URL() string {
	scheme := map[string]string{S3: "s3", Azure: "azblob", GCS: "gs"}[c.Provider]
	u := url.URL{Scheme: scheme, Host: c.Bucket, Path: "/" + c.Prefix}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("endpoint", c.Endpoint)
	set("region", c.Region)
	if c.PathStyle {
		q.Set("path_style", "true")
	}
	set("profile", c.Profile)
	set("account", c.Account)
	u.RawQuery = q.Encode()
	return u.String()
}

// Location is how status and metrics name the store:
// "s3://BUCKET/PREFIX", "azblob://CONTAINER/PREFIX", "gs://BUCKET/PREFIX".
func (c *Config) Location() string {
	scheme := map[string]string{S3: "s3", Azure: "azblob", GCS: "gs"}[c.Provider]
	return scheme + "://" + c.Bucket + "/" + c.Prefix
}

// IsURL tells whether s is meant as a store URL (it has a scheme ParseURL
// knows), as opposed to a local path.
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && (scheme == "s3" || scheme == "azblob" || scheme == "gs")
}

// ParseURL reads a store URL:
//
//	s3://BUCKET/PREFIX?region=R&endpoint=URL&path_style=true&profile=P
//	azblob://CONTAINER/PREFIX?account=A&endpoint=URL
//	gs://BUCKET/PREFIX?endpoint=URL
//
// plus, for any of them, part_size (bytes) and concurrency. Credentials
// are never part of it.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("store URL: %w", err)
	}
	var c Config
	switch u.Scheme {
	case "s3":
		c.Provider = S3
	case "azblob":
		c.Provider = Azure
	case "gs":
		c.Provider = GCS
	default:
		return Config{}, fmt.Errorf("store URL %q: the scheme must be s3://, azblob:// or gs://", redactURL(s))
	}
	if u.User != nil {
		return Config{}, errors.New("store URL: credentials do not belong in the URL: they come from the environment, the cloud's config files or its metadata service")
	}
	c.Bucket = u.Host
	c.Prefix = strings.TrimPrefix(u.Path, "/")
	for key, values := range u.Query() {
		v := values[len(values)-1]
		switch key {
		case "endpoint":
			c.Endpoint = v
		case "region":
			c.Region = v
		case "path_style", "use_path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("store URL: %s=%q is not true or false", key, v)
			}
			c.PathStyle = b
		case "profile":
			c.Profile = v
		case "account", "storage_account":
			c.Account = v
		case "sse":
			c.SSE = v
		case "kms_key_id":
			c.KMSKeyID = v
		case "storage_class":
			c.StorageClass = v
		case "part_size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Config{}, fmt.Errorf("store URL: part_size=%q is not a number of bytes", v)
			}
			c.PartSize = n
		case "concurrency":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Config{}, fmt.Errorf("store URL: concurrency=%q is not a number", v)
			}
			c.Concurrency = n
		default:
			return Config{}, fmt.Errorf("store URL: unknown parameter %q (use endpoint, region, path_style, profile, account, sse, kms_key_id, storage_class, part_size, concurrency)", key)
		}
	}
	c.Normalize()
	if ps := c.Check(); len(ps) > 0 {
		return Config{}, fmt.Errorf("store URL: %s: %s", ps[0].Key, ps[0].Msg)
	}
	return c, nil
}

// redactURL drops a URL's query, which could hold a signature.
func redactURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i] + "?..."
	}
	return s
}

// Options are what a store needs besides its Config.
type Options struct {
	// Name labels the store in status, metrics and logs (default: its
	// Location).
	Name string
	// StaleAfter is how old a leftover must be before Clean removes it
	// (default DefaultStaleAfter): longer than any write of any agent
	// sharing the store can take, so that another writer's upload in
	// progress is never taken for a leftover.
	StaleAfter time.Duration
	// ListTTL: a listing younger than this is reused (default: adaptive,
	// see List).
	ListTTL time.Duration
}

// DefaultStaleAfter is how old a leftover must be before Clean removes it.
const DefaultStaleAfter = 6 * time.Hour
