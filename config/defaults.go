package config

import (
	"fmt"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// The defaults, documented in docs/configuration.md. applyDefaults is the
// only place they are applied.
const (
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultLogOutput       = "stderr"
	DefaultSyslogFacility  = "daemon"
	DefaultSyslogTag       = "raftsnap"
	DefaultSockPath        = "/run/raftsnap/control"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultJobTimeout      = 10 * time.Minute
	DefaultRetriesMax      = 3
	DefaultInitialBackoff  = 5 * time.Second
	DefaultMaxBackoff      = 2 * time.Minute
	DefaultStoreType       = "local"
	DefaultRestoreSnapshot = "latest"
	DefaultConnectTimeout  = 10 * time.Second
	DefaultHookTimeout     = 30 * time.Second
	DefaultHookType        = "command"
	DefaultWebhookFormat   = "json"
	DefaultWebhookSeverity = "warning"
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookRetries  = 5
	// MaxJobNameLength keeps "<job>-<timestamp>-<index>-<n>.snap.json"
	// within a file system's 255-byte name limit.
	MaxJobNameLength = 128
)

// applyDefaults fills in every value the file leaves out. isSet reports
// whether a YAML path was present in the file; it is needed where the zero
// value is a legal setting (retries.max: 0 means "never retry").
//
// Job settings inherit global.defaults, which inherit the built-in values.
// A restore job's from_job is resolved later, by validation, since it
// depends on the other jobs being valid.
// DefaultOnClusterChange refuses a snapshot from another cluster than the
// job's previous ones: mixing two clusters under one job would let a
// restore of "latest" restore the wrong cluster, and pruning delete the
// right one's snapshots.
const DefaultOnClusterChange = "fail"

func applyDefaults(cfg *Config, isSet func(path string) bool) {
	g := &cfg.Global
	setString(&g.Logging.Level, DefaultLogLevel)
	g.Logging.FormatExplicit = isSet("global.logging.format")
	setString(&g.Logging.Format, DefaultLogFormat)
	setString(&g.Logging.Output, DefaultLogOutput)
	if g.Logging.Syslog != nil {
		setString(&g.Logging.Syslog.Facility, DefaultSyslogFacility)
		setString(&g.Logging.Syslog.Tag, DefaultSyslogTag)
	}
	setString(&g.Control.SockPath, DefaultSockPath)
	// Monitoring.Listen "" means no metrics server: nothing to fill.
	setDuration(&g.ShutdownTimeout, DefaultShutdownTimeout, isSet("global.shutdown_timeout"))
	setDuration(&g.Defaults.Timeout, DefaultJobTimeout, isSet("global.defaults.timeout"))
	builtin := Retries{
		Max:            DefaultRetriesMax,
		InitialBackoff: Duration(DefaultInitialBackoff),
		MaxBackoff:     Duration(DefaultMaxBackoff),
	}
	fillRetries(&g.Defaults.Retries, builtin, "global.defaults.retries", isSet)
	for i := range g.Notifications {
		n := &g.Notifications[i]
		path := fmt.Sprintf("global.notifications[%d]", i)
		if n.Name == "" {
			n.Name = fmt.Sprintf("webhook-%d", i+1)
		}
		setString(&n.Format, DefaultWebhookFormat)
		setString(&n.MinSeverity, DefaultWebhookSeverity)
		setDuration(&n.Timeout, DefaultWebhookTimeout, isSet(path+".timeout"))
		fillRetries(&n.Retries, Retries{Max: DefaultWebhookRetries, InitialBackoff: Duration(DefaultInitialBackoff), MaxBackoff: Duration(5 * time.Minute)},
			path+".retries", isSet)
	}

	haDefaults(cfg, isSet)
	for i := range cfg.Jobs {
		job := &cfg.Jobs[i]
		path := fmt.Sprintf("jobs[%d]", i)
		setDuration(&job.Timeout, g.Defaults.Timeout.Std(), isSet(path+".timeout"))
		// Jitter's default is 0 (no jitter), the zero value.
		if jt, ok := LookupJobType(job.Type); ok && jt.defaults != nil {
			jt.defaults(job, g, path, isSet)
		}
		for _, st := range job.StoreList() {
			setString(&st.Type, DefaultStoreType)
		}
		for k := range job.Hooks {
			h := &job.Hooks[k]
			setString(&h.Type, DefaultHookType)
			setDuration(&h.Timeout, DefaultHookTimeout, isSet(fmt.Sprintf("%s.hooks[%d].timeout", path, k)))
		}
		for name, src := range map[string]*source.Config{"source": job.Source, "target": job.Target} {
			if src != nil {
				setDuration((*Duration)(&src.ConnectTimeout), DefaultConnectTimeout, isSet(path+"."+name+".connect_timeout"))
			}
		}
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// setDuration fills d unless the file set it: an explicit 0 stays 0 and is
// then rejected by validation with a clear message, instead of silently
// becoming the default.
func setDuration(d *Duration, def time.Duration, set bool) {
	if !set && *d == 0 {
		*d = Duration(def)
	}
}

func fillRetries(r *Retries, def Retries, path string, isSet func(string) bool) {
	if !isSet(path + ".max") {
		r.Max = def.Max
	}
	setDuration(&r.InitialBackoff, def.InitialBackoff.Std(), isSet(path+".initial_backoff"))
	setDuration(&r.MaxBackoff, def.MaxBackoff.Std(), isSet(path+".max_backoff"))
}
