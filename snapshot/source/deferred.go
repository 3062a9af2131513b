package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

	mu        sync.Mutex
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
	if _, err := New(probe); err != nil {
		return nil, err
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
	src, err := newSource(cfg, d.login, d.logger)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.lastToken = cfg.Token
	d.mu.Unlock()
	return src, nil
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
