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
	Type string `yaml:"type"` // snapshot, prune, restore

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

	// snapshot, prune, restore
	Store   *Store   `yaml:"store"`
	Pruning *Pruning `yaml:"pruning"` // snapshot, prune

	// prune: which jobs' snapshots in the store it prunes (default: all
	// entries with a sidecar).
	Owners []string `yaml:"owners"`

	// restore
	FromJob        string         `yaml:"from_job"`
	Snapshot       string         `yaml:"snapshot"` // "latest" or a snapshot name
	Target         *source.Config `yaml:"target"`
	AllowOverwrite bool           `yaml:"allow_overwrite"`
	// SkipFlavorCheck sends a snapshot its target cannot read (a Nomad
	// snapshot into Consul, which crashes the target's leader): a
	// deliberate override of the restore's flavour check.
	SkipFlavorCheck bool `yaml:"skip_flavor_check"`
}

type Store struct {
	Type string `yaml:"type"` // local
	Path string `yaml:"path"`
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
	LastN    *LastN    `yaml:"last_n"`
	Grid     *string   `yaml:"grid"`
	Calendar *Calendar `yaml:"calendar"`
	Within   *Duration `yaml:"within"`
	Regex    *Regex    `yaml:"regex"`
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
