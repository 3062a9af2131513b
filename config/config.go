// Package config is raftsnap's YAML configuration: the schema, the defaults
// (applied in one place), strict parsing and validation. Errors name
// file:line:col and the YAML path in words, never Go type names.
//
// Source blocks (job.source, job.target) decode straight into
// source.Config, the one shape of source settings that the CLI's flags and
// source.New use too.
package config

import (
	"time"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// Config is a whole, validated configuration.
type Config struct {
	Global Global `yaml:"global"`
	Jobs   []Job  `yaml:"jobs"`

	// Warnings are findings that do not stop the configuration from
	// loading (e.g. a token_env variable not set where configcheck ran),
	// formatted like errors. Not part of the YAML.
	Warnings []string `yaml:"-"`
}

// Global holds daemon-wide settings.
type Global struct {
	Logging    Logging    `yaml:"logging"`
	Control    Control    `yaml:"control"`
	Monitoring Monitoring `yaml:"monitoring"`
	// ShutdownTimeout bounds how long the daemon waits for jobs on SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Defaults apply to every job that does not set its own.
	Defaults JobDefaults `yaml:"defaults"`
	// Notifications are webhooks told about events: a run failed, a job
	// recovered, a snapshot went stale, a reload was refused...
	Notifications []Notification `yaml:"notifications"`
	// HA makes several agents share the work with one writer per job
	// (docs/ha.md): snapshot and prune jobs act only while this agent holds
	// the role.
	HA *HA `yaml:"ha"`
}

// Notification is one webhook (global.notifications[i]).
type Notification struct {
	// Name tells the webhook apart in logs and metrics (default: its
	// position, "webhook-1").
	Name string `yaml:"name"`
	// URL receives a POST per event. It may hold a secret (Slack puts one
	// in the path): it is never logged or shown beyond scheme and host.
	URL string `yaml:"url"`
	// Format is json (raftsnap's documented payload) or slack ({"text"}).
	Format string `yaml:"format"`
	// HeadersFile holds "Name: value" lines sent with every request (an
	// Authorization header), read at each send; mode 0600.
	HeadersFile string `yaml:"headers_file"`
	// MinSeverity is info, warning or error: events below it are not sent.
	MinSeverity string `yaml:"min_severity"`
	// Events, when set, limits the webhook to these events.
	Events []string `yaml:"events"`
	// Timeout bounds one request; Retries how a failed one is tried again.
	Timeout Duration `yaml:"timeout"`
	Retries Retries  `yaml:"retries"`
}

type Logging struct {
	Level  string  `yaml:"level"`  // debug, info, warn, error
	Format string  `yaml:"format"` // text, json, logfmt
	Output string  `yaml:"output"` // stderr, stdout
	Syslog *Syslog `yaml:"syslog"`
	// FormatExplicit is whether the file set format: if not, the daemon
	// picks a journald-friendly format when running under systemd.
	FormatExplicit bool `yaml:"-"`
}

type Syslog struct {
	Enabled  bool   `yaml:"enabled"`
	Facility string `yaml:"facility"`
	Tag      string `yaml:"tag"`
}

type Control struct {
	SockPath string `yaml:"sockpath"`
}

type Monitoring struct {
	// Listen is the Prometheus metrics address ("127.0.0.1:9811"); empty
	// disables the metrics server.
	Listen string `yaml:"listen"`
}

type JobDefaults struct {
	Timeout Duration `yaml:"timeout"`
	Retries Retries  `yaml:"retries"`
}

// Job is one entry of `jobs`. Which fields apply depends on Type.
type Job struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // snapshot, prune, restore, drill

	// snapshot
	Source   *source.Config `yaml:"source"`
	Interval Duration       `yaml:"interval"` // snapshot, prune
	Jitter   Duration       `yaml:"jitter"`
	Timeout  Duration       `yaml:"timeout"`
	Retries  *Retries       `yaml:"retries"`
	// OnClusterChange is what a snapshot job does with a snapshot whose
	// raft servers share none with its previous snapshot's: "fail" (the
	// default: not stored) or "warn" (stored and reported).
	OnClusterChange string `yaml:"on_cluster_change"`

	// Hooks are commands run before and after each snapshot (snapshot
	// jobs).
	Hooks []Hook `yaml:"hooks"`

	// snapshot, prune, restore, scrub, drill
	Store *Store `yaml:"store"`
	// Stores, instead of Store, keeps a snapshot job's snapshots in several
	// stores at once, each with its own retention (Store.Pruning,
	// defaulting to the job's).
	Stores  []Store  `yaml:"stores"`
	Pruning *Pruning `yaml:"pruning"` // snapshot, prune

	// prune: which jobs' snapshots in the store it prunes (default: all
	// entries with a sidecar).
	Owners []string `yaml:"owners"`

	// scrub: how many of the store's snapshots each run reads again: "all"
	// (the default), a percentage ("10%") or a count ("5"), the ones
	// verified longest ago first.
	Sample string `yaml:"sample"`

	// restore, scrub, drill
	FromJob        string         `yaml:"from_job"`
	Snapshot       string         `yaml:"snapshot"` // "latest" or a snapshot name
	Target         *source.Config `yaml:"target"`
	AllowOverwrite bool           `yaml:"allow_overwrite"`
	// SkipFlavorCheck sends a snapshot its target cannot read (a Nomad
	// snapshot into Consul, which crashes the target's leader): a
	// deliberate override of the restore's flavour check.
	SkipFlavorCheck bool `yaml:"skip_flavor_check"`

	// drill: the server binary (consul, nomad) a drill starts its
	// throwaway server from.
	Binary string `yaml:"binary"`
	// drill: also drill after every AfterSnapshots-th snapshot from_job
	// stores (0: not on snapshots).
	AfterSnapshots int `yaml:"after_snapshots"`

	// restore, drill: the age identity file (mode 0600) that decrypts an
	// encrypted store's snapshots, read only when the job runs.
	IdentityFile string `yaml:"identity_file"`

	// snapshot, prune: the job's ha block, over global.ha (config/ha.go).
	// After loading it is the job's effective block (nil: not gated).
	HA *HA `yaml:"ha"`
}

// Hook is a command a snapshot job runs before and after each snapshot, in
// zrepl's style. It gets a clean environment describing the run, never the
// daemon's own (which may hold tokens).
type Hook struct {
	Type string `yaml:"type"` // command
	// Path is the executable (absolute); Args are its arguments.
	Path string   `yaml:"path"`
	Args []string `yaml:"args"`
	// Timeout bounds the command; a hung one is killed with its children.
	Timeout Duration `yaml:"timeout"`
	// ErrIsFatal: a failing pre-snapshot hook fails the run (nothing is
	// taken). A failing post-snapshot hook never undoes the snapshot; it
	// is reported as a warning of the run.
	ErrIsFatal bool `yaml:"err_is_fatal"`
	// PassToken gives the hook the source's token, in the vendor's
	// variable (CONSUL_HTTP_TOKEN...), for `consul kv put` and the like.
	PassToken bool `yaml:"pass_token"`
}

// Store is a store block: a local directory or an object store bucket
// (docs/configuration.md, Store blocks). It holds no credential: those come
// from each cloud's standard chain.
type Store struct {
	Type string `yaml:"type"` // local, s3, azure, gcs
	// Name labels the store in status, metrics and logs (default: its path
	// or URL).
	Name string `yaml:"name"`
	// local
	Path string `yaml:"path"`
	// object stores
	Bucket       string `yaml:"bucket"`    // s3, gcs
	Container    string `yaml:"container"` // azure
	Account      string `yaml:"account"`   // azure
	Prefix       string `yaml:"prefix"`
	Endpoint     string `yaml:"endpoint"`
	Region       string `yaml:"region"`     // s3
	PathStyle    bool   `yaml:"path_style"` // s3
	Profile      string `yaml:"profile"`    // s3
	SSE          *SSE   `yaml:"sse"`        // s3
	StorageClass string `yaml:"storage_class"`
	AccessTier   string `yaml:"access_tier"` // azure
	PartSize     Size   `yaml:"part_size"`
	Concurrency  int    `yaml:"concurrency"`
	// Pruning, for one of a job's stores, is that store's retention
	// (default: the job's).
	Pruning *Pruning `yaml:"pruning"`
	// Encrypt, when set, encrypts the snapshots written into the store
	// with age (config/encrypt.go).
	Encrypt *Encrypt `yaml:"encrypt"`
}

// SSE is S3 server-side encryption.
type SSE struct {
	Type     string `yaml:"type"` // AES256, aws:kms
	KMSKeyID string `yaml:"kms_key_id"`
}

type Retries struct {
	// Max is how many times a failed attempt is retried (0: never).
	Max            int      `yaml:"max"`
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
}

type Pruning struct {
	Keep []KeepRule `yaml:"keep"`
}

// KeepRule is one retention rule; exactly one field is set.
type KeepRule struct {
	LastN *LastN `yaml:"last_n"`
	// LastDrilled keeps the newest snapshots a drill proved restorable.
	LastDrilled *LastN    `yaml:"last_drilled"`
	Grid        *string   `yaml:"grid"`
	Calendar    *Calendar `yaml:"calendar"`
	Within      *Duration `yaml:"within"`
	Regex       *Regex    `yaml:"regex"`
}

type LastN struct {
	Count int `yaml:"count"`
}

type Calendar struct {
	Hourly   int    `yaml:"hourly"`
	Daily    int    `yaml:"daily"`
	Weekly   int    `yaml:"weekly"`
	Monthly  int    `yaml:"monthly"`
	Yearly   int    `yaml:"yearly"`
	Timezone string `yaml:"timezone"`
}

type Regex struct {
	Regex  string `yaml:"regex"`
	Negate bool   `yaml:"negate"`
}

// Duration is a time.Duration written as "30s", "1h30m", "2d" or "1w" in YAML.
type Duration time.Duration
