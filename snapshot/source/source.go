// Package source talks to the systems raftsnap snapshots: Consul, Nomad and
// Vault over their HTTP APIs, Go services embedding hashicorp/raft (in
// process, or over the HTTP handler from package snapshot), and a stopped
// server's raft directory on disk (raft-dir).
package source

import (
	"context"
	"io"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Source is where snapshots come from and where restores go.
type Source interface {
	Kind() Kind
	// String names the source for errors and logs: kind and URL, never a
	// token ("consul at https://127.0.0.1:8501").
	String() string
	// Save streams a snapshot archive into w, byte for byte as the server
	// sent it. The caller verifies the bytes (see VerifyOptions).
	Save(ctx context.Context, w io.Writer) (*SaveResult, error)
	// Restore sends an archive (already verified by the caller) of size
	// bytes to the server.
	Restore(ctx context.Context, archive io.Reader, size int64) error
	// VerifyOptions are the checks an archive from this source must pass
	// (Vault's must be sealed).
	VerifyOptions() snapshot.VerifyOptions
}

// Progress is what a writer given to Save may implement to hear how the
// transfer goes before its bytes arrive.
type Progress interface {
	// Sent: the request went out; the server is preparing its answer.
	Sent()
	// Expect: the server announced the body's size (Content-Length).
	Expect(bytes int64)
}

// SaveResult describes one download.
type SaveResult struct {
	Bytes int64 `json:"bytes"`
	// Headers holds the server headers worth recording with the snapshot
	// (X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact, Digest...).
	Headers map[string]string `json:"headers,omitempty"`
	// Digest says whether the server's Digest header was checked against
	// the bytes received (nomad, raft); empty for sources that send none.
	Digest DigestStatus `json:"digest,omitempty"`
	// Stale is true when a follower was allowed to answer (Config.Stale, or
	// SaveStale): the snapshot may lag the leader's state.
	Stale bool `json:"stale,omitempty"`
	// LogLag, for a snapshot read from a raft directory (raft-dir), says
	// how many entries the server's log holds after it.
	LogLag *snapshot.LogLag `json:"log_lag,omitempty"`
	// Warnings are what the caller should report with the snapshot
	// (raft-dir: newer snapshots skipped as damaged).
	Warnings []string `json:"warnings,omitempty"`
}

// StaleFallbackSource is a Source configured with StaleFallback: after a
// consistent save failed because the cluster has no leader (see
// IsNoLeader), the caller may make its next attempt with SaveStale.
type StaleFallbackSource interface {
	Source
	// StaleFallback reports whether Config.StaleFallback was set.
	StaleFallback() bool
	// SaveStale is Save with ?stale: any server may answer from its own,
	// possibly lagging, state.
	SaveStale(ctx context.Context, w io.Writer) (*SaveResult, error)
}

// TLSConfig configures HTTPS to a source. Verification is never skipped
// unless InsecureSkipVerify is set explicitly.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Config is a source's settings, in one shape for everything that sets
// them: its yaml tags are the keys of a source block in raftsnap's
// configuration file, the CLI binds its flags to its fields, and New builds
// the Source. Fields tagged yaml:"-" never come from a configuration file:
// Token is loaded by Resolve, the others are set by the caller.
//
// A configuration file writes ConnectTimeout as a duration (30s, 1m) and
// fields tagged format:"size" as a size (10GiB, 500MB).
type Config struct {
	Kind    Kind   `yaml:"type"`
	Address string `yaml:"address"` // base URL, e.g. http://127.0.0.1:8500
	// Path is the directory a directory kind reads (raft-dir: a stopped
	// server's raft directory or data_dir).
	Path string `yaml:"path"`
	// TokenFile and TokenEnv say where Resolve loads Token from.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// AppRole, when set, logs in to Vault (vault only) instead of using a
	// token: see AppRoleConfig. Not with TokenFile or TokenEnv.
	AppRole AppRoleConfig `yaml:"approle"`
	// Stale lets a follower answer (Consul, Nomad, raft handler).
	Stale bool `yaml:"stale"`
	// StaleFallback lets a caller retry a consistent save as a stale one
	// when the cluster has no leader (see StaleFallbackSource). Not with
	// Stale, not for vault.
	StaleFallback bool `yaml:"stale_fallback"`
	// MaxSize, when positive, caps a saved snapshot: a Content-Length above
	// it is refused before the body is read, and a body that passes it is
	// cut off there. The error wraps ErrTooLarge and is permanent.
	MaxSize    int64  `yaml:"max_size" format:"size"`
	Datacenter string `yaml:"datacenter"` // consul
	Region     string `yaml:"region"`     // nomad
	Namespace  string `yaml:"namespace"`  // vault (X-Vault-Namespace)
	// ForceRestore uses Vault's snapshot-force endpoint.
	ForceRestore bool      `yaml:"force_restore"`
	TLS          TLSConfig `yaml:"tls"`
	// ConnectTimeout bounds dialing and the TLS handshake (0: 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`

	// Token is sent in the kind's token header; Resolve loads it.
	Token Secret `yaml:"-"`
	// Timeout, when non-zero, bounds a whole request. Callers usually
	// bound runs by context instead.
	Timeout time.Duration `yaml:"-"`
	// UserAgent is sent with every request (empty: "raftsnap"). raftsnap
	// itself sends "raftsnap/<version>"; this package cannot know the
	// version of the program embedding it.
	UserAgent string `yaml:"-"`
	// StaleHint names how the user of the program embedding this package
	// sets Stale: the CLI's "--stale", a configuration file's "stale: true".
	// A save answered "not the leader" or "no leader" says it (empty:
	// "Stale").
	StaleHint string `yaml:"-"`
}

// Secret holds a token. It formats as "[redacted]" everywhere (fmt, slog,
// JSON) so it cannot leak by accident; Reveal returns the value.
type Secret string
