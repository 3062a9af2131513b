package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// HA modes, as written in an ha block's `mode:`.
const (
	// HANone: the job runs on every agent that has it (the default).
	HANone = "none"
	// HALeaderLocal: the job acts only while the server its source names
	// leads its own Raft cluster.
	HALeaderLocal = "leader_local"
	// HAConsulLock: the job acts only while this agent holds a Consul
	// session lock.
	HAConsulLock = "consul_lock"
)

// HAModes lists the modes, in the order the docs give them.
var HAModes = []string{HANone, HALeaderLocal, HAConsulLock}

// Defaults of an ha block (docs/configuration.md, docs/ha.md).
const (
	DefaultHALockKey    = "raftsnap/lock"
	DefaultHASessionTTL = 15 * time.Second
	DefaultHALockDelay  = 5 * time.Second
	DefaultHAMaxFailure = 3
	DefaultHAPoll       = 5 * time.Second
)

// Consul's own bounds: a session TTL outside 10s..24h and a lock delay
// above 60s are refused (or capped) by the server, so they are load
// errors here rather than a surprise at the first campaign.
const (
	minSessionTTL = 10 * time.Second
	maxSessionTTL = 24 * time.Hour
	maxLockDelay  = 60 * time.Second
)

// HA is an ha block: global.ha for every snapshot and prune job, a job's
// own ha to change it for that job (keys it leaves out come from
// global.ha).
type HA struct {
	Mode string `yaml:"mode"` // none, leader_local, consul_lock
	// Consul is where the lock lives (consul_lock): a source-style block
	// (address, token_file or token_env, datacenter, tls), type consul.
	Consul *source.Config `yaml:"consul"`
	// LockKey is the KV prefix of the locks: each job locks
	// LockKey/<job name>, so that each job has one writer of its own.
	LockKey string `yaml:"lock_key"`
	// SessionTTL is the lock session's TTL: how long after a holder dies
	// (or stops renewing) Consul frees its lock (Consul may take up to
	// twice the TTL).
	SessionTTL Duration `yaml:"session_ttl"`
	// LockDelay is Consul's lock-delay: after a session is invalidated,
	// nobody can take the lock for this long, so that a holder that lost
	// it has time to notice.
	LockDelay Duration `yaml:"lock_delay"`
	// MaxFailures: after this many consecutive failed runs, the holder
	// hands the lock over (0: never).
	MaxFailures int `yaml:"max_failures"`
	// PollInterval is how often leader_local asks the source's server
	// whether it leads (and consul_lock, while standby, who holds the lock).
	PollInterval Duration `yaml:"poll_interval"`
}

// Gated reports whether the block makes a job wait for a role.
func (h *HA) Gated() bool { return h != nil && h.Mode != "" && h.Mode != HANone }

// haJobTypes are the job types that write to or delete from a store on
// their own schedule: those are gated. Restore and drill jobs run on the
// agent that is signalled (docs/ha.md).
var haJobTypes = []string{JobSnapshot, JobPrune}

// haKeys are the keys of an ha block, in YAML order.
var haKeys = []string{"mode", "consul", "lock_key", "session_ttl", "lock_delay", "max_failures", "poll_interval"}

// haDefaults fills global.ha and gives each snapshot and prune job its
// effective block: global.ha with the job's own keys on top. A job's
// effective block is what the daemon uses, and what a reload compares.
func haDefaults(cfg *Config, isSet func(string) bool) {
	base := &HA{}
	fillHA(base, &HA{}, "", func(string) bool { return false })
	if g := cfg.Global.HA; g != nil {
		fillHA(g, &HA{}, "global.ha", isSet)
		base = g
	}
	for i := range cfg.Jobs {
		job := &cfg.Jobs[i]
		if !contains(haJobTypes, job.Type) {
			continue
		}
		if job.HA == nil {
			if base.Gated() {
				h := *base
				job.HA = &h
			}
			continue
		}
		fillHA(job.HA, base, fmt.Sprintf("jobs[%d].ha", i), isSet)
	}
}

// fillHA fills h's unset keys from base (a filled block, or an empty one
// for global.ha), then from the built-in defaults.
func fillHA(h *HA, base *HA, path string, isSet func(string) bool) {
	if !isSet(path + ".mode") {
		h.Mode = base.Mode
	}
	setString(&h.Mode, HANone)
	if h.Consul == nil && base.Consul != nil {
		c := *base.Consul
		h.Consul = &c
	}
	if h.Consul != nil && h.Consul.Kind == "" {
		h.Consul.Kind = source.Consul
	}
	if h.Consul != nil {
		setDuration((*Duration)(&h.Consul.ConnectTimeout), DefaultConnectTimeout, isSet(path+".consul.connect_timeout"))
	}
	setString(&h.LockKey, base.LockKey)
	setString(&h.LockKey, DefaultHALockKey)
	setDuration(&h.SessionTTL, or(base.SessionTTL, DefaultHASessionTTL), isSet(path+".session_ttl"))
	setDuration(&h.LockDelay, or(base.LockDelay, DefaultHALockDelay), isSet(path+".lock_delay"))
	setDuration(&h.PollInterval, or(base.PollInterval, DefaultHAPoll), isSet(path+".poll_interval"))
	if !isSet(path + ".max_failures") {
		h.MaxFailures = DefaultHAMaxFailure
		if base.Mode != "" {
			h.MaxFailures = base.MaxFailures
		}
	}
}

func or(d Duration, def time.Duration) time.Duration {
	if d != 0 {
		return d.Std()
	}
	return def
}

// validateHA checks global.ha (job is nil) or a job's effective block.
func (v *validator) validateHA(path string, h *HA, job *Job) {
	if h == nil || !v.checkable(path) {
		return
	}
	if p := path + ".mode"; v.checkable(p) && !contains(HAModes, h.Mode) {
		v.errorf(p, "%s is not an ha mode: use %s", quote(h.Mode), orList(HAModes))
		return
	}
	own := func(key string) bool { return job == nil || v.isSet(path+"."+key) }
	switch h.Mode {
	case HANone:
		return
	case HALeaderLocal:
		for _, key := range []string{"consul", "lock_key", "session_ttl", "lock_delay", "max_failures"} {
			if v.usable(path+"."+key) && own(key) {
				v.errorf(path+"."+key, "applies to mode consul_lock only: leader_local follows the cluster's own elections")
			}
		}
		if v.checkable(path + ".poll_interval") {
			v.positive(path+".poll_interval", h.PollInterval)
		}
		if job != nil && job.Source != nil {
			if !contains(leaderLocalKinds, string(job.Source.Kind)) && v.checkable(path) {
				v.errorf(path+".mode", "leader_local needs a source that can say whether its server leads (%s); %s cannot: use consul_lock",
					orList(leaderLocalKinds), quote(string(job.Source.Kind)))
			}
		}
		if job != nil && job.Type == JobPrune && v.checkable(path) {
			v.errorf(path+".mode", "leader_local needs the job's source to ask whether its server leads, and a prune job has none: "+
				"use consul_lock, or let the snapshot job prune (its pruning) instead")
		}
	case HAConsulLock:
		switch p := path + ".consul"; {
		case h.Consul == nil:
			v.errorf(p, "missing: consul_lock needs the Consul agent holding the lock, e.g. consul: {address: http://127.0.0.1:8500, token_file: /etc/raftsnap/lock.token}")
		case !own("consul"):
			// Inherited from global.ha, checked there.
		case h.Consul.Kind != source.Consul:
			v.errorf(p+".type", "the lock lives in Consul: type must be consul (or left out), got %s", quote(string(h.Consul.Kind)))
		default:
			v.requireSource(p, h.Consul, "lock", "the Consul agent holding the lock")
		}
		if own("lock_key") && v.checkable(path+".lock_key") {
			if strings.HasPrefix(h.LockKey, "/") || strings.HasSuffix(h.LockKey, "/") || strings.Contains(h.LockKey, "//") || strings.TrimSpace(h.LockKey) == "" {
				v.errorf(path+".lock_key", "%s is not a usable KV key: no leading or trailing slash, no empty segment, e.g. raftsnap/lock", quote(h.LockKey))
			}
		}
		if own("session_ttl") && v.checkable(path+".session_ttl") && (h.SessionTTL.Std() < minSessionTTL || h.SessionTTL.Std() > maxSessionTTL) {
			v.errorf(path+".session_ttl", "must be between 10s and 24h (Consul's bounds), got %s", h.SessionTTL)
		}
		if own("lock_delay") && v.checkable(path+".lock_delay") && (h.LockDelay < 0 || h.LockDelay.Std() > maxLockDelay) {
			v.errorf(path+".lock_delay", "must be between 0s and 60s (Consul's bound), got %s", h.LockDelay)
		}
		if own("max_failures") && v.checkable(path+".max_failures") && h.MaxFailures < 0 {
			v.errorf(path+".max_failures", "must be 0 (never hand over) or more, got %d", h.MaxFailures)
		}
		if own("poll_interval") && v.checkable(path+".poll_interval") {
			v.positive(path+".poll_interval", h.PollInterval)
		}
	}
}

// leaderLocalKinds are the source kinds whose API says whether the server
// asked leads its cluster.
var leaderLocalKinds = []string{string(source.Consul), string(source.Nomad), string(source.Vault), string(source.Raft)}

// validateJobHA checks a job's ha block and its effective one.
func (v *validator) validateJobHA(i int) {
	job := &v.cfg.Jobs[i]
	path := fmt.Sprintf("jobs[%d].ha", i)
	if !contains(haJobTypes, job.Type) {
		return
	}
	v.validateHA(path, job.HA, job)
}
