package source

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Deferred is a Source whose settings are resolved anew for every Save and
// Restore: the environment, the token file and the TLS files are read
// then, not once at start. A token rotated by vault-agent or
// consul-template is picked up by the next run without a reload, and a
// token that is not there yet fails that run (with a permanent error
// naming what is missing), not the process that holds the source.
//
// A vault source with AppRole settings keeps its login in the Deferred
// (one appRole for the Deferred's life): the token Vault returned is
// kept from run to run and renewed, and the role and secret ID files are
// read at each login.
type Deferred struct {
	cfg    Config
	logger *slog.Logger
	shown  string
	spec   Spec
	login  *appRole // nil without AppRole settings

	// The source built from the last resolution, reused (with its
	// connections) while the resolved settings and the TLS files' contents
	// stay the same: a new HTTP client per run would leave each run's idle
	// connections behind.
	mu        sync.Mutex
	built     Source
	builtFor  [sha256.Size]byte
	lastToken Secret // the token of the last source built, for Redact
}

var _ StaleFallbackSource = (*Deferred)(nil)

// NewDeferred checks cfg as far as it can without its files (kind, address,
// options) and returns the source. logger hears of loose token files.
func NewDeferred(cfg Config, logger *slog.Logger) (*Deferred, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	events := logger
	// Every run resolves again: a loose token file is worth one warning,
	// not one per run.
	logger = slog.New(&onceHandler{Handler: logger.Handler(), seen: map[string]bool{}})
	spec, err := lookupKind(cfg.Kind)
	if err != nil {
		return nil, err
	}
	// The address as resolution fills it (from the environment too), for
	// String; a credential that cannot be read now is not an error yet.
	resolved, _ := cfg.Resolve(nil, logger)
	d := &Deferred{cfg: cfg, logger: logger, spec: spec, shown: fmt.Sprintf("%s at %s", cfg.Kind, resolved.Address)}
	if cfg.AppRole.IsSet() {
		d.login = newAppRole(cfg.AppRole, events, logger)
	}
	if canonical, err := CanonicalAddress(cfg.Kind, resolved.Address); err == nil {
		d.shown = fmt.Sprintf("%s at %s", cfg.Kind, canonical)
	}
	probe := resolved
	probe.Token, probe.TLS = "", TLSConfig{}
	src, err := New(probe)
	if err != nil {
		return nil, err
	}
	if spec.Directory {
		d.shown = src.String() // a path, which needs no resolving
	}
	return d, nil
}

// Resolve reads the settings' files and environment now and builds the
// source from them. What cannot be read is a *SettingsError.
func (d *Deferred) Resolve() (Source, error) {
	cfg, err := d.cfg.Resolve(nil, d.logger)
	if err != nil {
		return nil, &SettingsError{Err: err}
	}
	key, err := settingsKey(cfg)
	if err != nil {
		return nil, &SettingsError{Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.built != nil && key == d.builtFor {
		return d.built, nil
	}
	src, err := newSource(cfg, d.login, d.logger)
	if err != nil {
		return nil, err
	}
	closeIdle(d.built)
	d.built, d.builtFor, d.lastToken = src, key, cfg.Token
	return src, nil
}

// settingsKey digests resolved settings and the contents of their TLS
// files: what, when it changes, needs a new client.
func settingsKey(cfg Config) ([sha256.Size]byte, error) {
	h := sha256.New()
	enc, err := json.Marshal(struct {
		Config
		Token string
	}{cfg, cfg.Token.Reveal()})
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.Write(enc)
	for _, path := range []string{cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile} {
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("reading %s: %w", path, err)
		}
		fmt.Fprintf(h, "%d:", len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}

// Check tells whether a run could use the settings now, without keeping
// anything and without a request: Resolve would succeed and, with AppRole
// settings, a token is held or the role and secret ID files can be read.
func (d *Deferred) Check() error {
	if _, err := d.Resolve(); err != nil {
		return err
	}
	if d.login != nil {
		return d.login.ready(d.cfg.Kind)
	}
	return nil
}

// token is what Redact scrubs from errors about this source's answers:
// the token of its last run.
func (d *Deferred) token() Secret {
	if d.login != nil {
		return d.login.current()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastToken
}

func (d *Deferred) Kind() Kind     { return d.cfg.Kind }
func (d *Deferred) String() string { return d.shown }

func (d *Deferred) VerifyOptions() snapshot.VerifyOptions {
	return snapshot.VerifyOptions{RequireSealed: d.spec.RequireSealed}
}

func (d *Deferred) StaleFallback() bool { return d.cfg.StaleFallback }

func (d *Deferred) Save(ctx context.Context, w io.Writer) (*SaveResult, error) {
	src, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	return src.Save(ctx, w)
}

func (d *Deferred) SaveStale(ctx context.Context, w io.Writer) (*SaveResult, error) {
	src, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	fallback, ok := src.(StaleFallbackSource)
	if !ok {
		return nil, fmt.Errorf("%s has no stale mode", d)
	}
	return fallback.SaveStale(ctx, w)
}

func (d *Deferred) Restore(ctx context.Context, archive io.Reader, size int64) error {
	src, err := d.Resolve()
	if err != nil {
		return err
	}
	return src.Restore(ctx, archive, size)
}

// onceHandler passes each distinct record (level, message, attributes) on
// once.
type onceHandler struct {
	slog.Handler
	mu   sync.Mutex
	seen map[string]bool
}

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error {
	key := r.Level.String() + "\x00" + r.Message
	r.Attrs(func(a slog.Attr) bool {
		key += "\x00" + a.String()
		return true
	})
	h.mu.Lock()
	dup := h.seen[key]
	h.seen[key] = true
	h.mu.Unlock()
	if dup {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// AddressEnv is the source's address in the variable the vendor's CLI
// reads it from (CONSUL_HTTP_ADDR=...), for hooks; "" when the kind has
// none.
func (d *Deferred) AddressEnv() (name, value string) {
	resolved, _ := d.cfg.Resolve(nil, d.logger)
	return d.spec.Env.Address, resolved.Address
}

// TokenEnv is the source's token, read now, and the variable the vendor's
// CLI reads a token from (CONSUL_HTTP_TOKEN...), for hooks that were
// allowed it.
func (d *Deferred) TokenEnv() (string, Secret, error) {
	resolved, err := d.cfg.Resolve(nil, d.logger)
	if err != nil {
		return "", "", &SettingsError{Err: err}
	}
	return d.spec.Env.Token, resolved.Token, nil
}

// closeIdle lets go of the idle connections of a source no longer used.
func closeIdle(src Source) {
	switch s := src.(type) {
	case *httpSource:
		s.client.CloseIdleConnections()
	case *loginSource:
		s.base.client.CloseIdleConnections()
	}
}
