package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Notification events and severities: the webhook payload's "event" and
// "severity" (docs/monitoring.md).
const (
	EventRunFailed     = "run_failed"
	EventJobRecovered  = "job_recovered"
	EventSnapshotStale = "snapshot_stale"
	EventDrillFailed   = "drill_failed"
	EventReloadRefused = "reload_refused"
	EventRoleChanged   = "role_changed"

	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Events lists every notification event.
var Events = []string{EventRunFailed, EventJobRecovered, EventSnapshotStale, EventDrillFailed, EventReloadRefused, EventRoleChanged}

// Severities lists the severities, lowest first.
var Severities = []string{SeverityInfo, SeverityWarning, SeverityError}

func (v *validator) validateNotifications() {
	names := map[string]int{}
	for i := range v.cfg.Global.Notifications {
		n := &v.cfg.Global.Notifications[i]
		path := fmt.Sprintf("global.notifications[%d]", i)
		if first, dup := names[n.Name]; dup && v.checkable(path+".name") {
			v.errorf(path+".name", "%s is already the name of global.notifications[%d]", quote(n.Name), first)
		}
		names[n.Name] = i
		switch p := path + ".url"; {
		case !v.checkable(p):
		case n.URL == "":
			v.errorf(p, "missing: the address each event is POSTed to, e.g. https://hooks.example.com/raftsnap")
		default:
			u, err := url.Parse(n.URL)
			switch {
			case err != nil, u.Host == "":
				// Not quoted: a webhook URL may carry a secret.
				v.errorf(p, "is not an absolute http:// or https:// URL")
			case u.Scheme != "http" && u.Scheme != "https":
				v.errorf(p, "scheme %s is not supported: use https:// (or http:// on a trusted network)", quote(u.Scheme))
			case u.User != nil:
				v.errorf(p, "must not contain user:password@: put an Authorization header in headers_file")
			}
		}
		v.oneOf(path+".format", n.Format, "json", "slack")
		v.oneOf(path+".min_severity", n.MinSeverity, Severities...)
		for k, e := range n.Events {
			if p := fmt.Sprintf("%s.events[%d]", path, k); v.checkable(p) && !contains(Events, e) {
				v.errorf(p, "%s is not an event: use %s", quote(e), orList(Events))
			}
		}
		if p := path + ".headers_file"; n.HeadersFile != "" && v.checkable(p) {
			if err := checkReadableFile(n.HeadersFile, 64<<10); err != nil {
				v.errorf(p, "%v", err)
			}
		}
		v.positive(path+".timeout", n.Timeout)
		v.validateRetries(path+".retries", &n.Retries)
	}
}

func (v *validator) validateHooks(jobPath string, hooks []Hook) {
	for k := range hooks {
		h := &hooks[k]
		path := fmt.Sprintf("%s.hooks[%d]", jobPath, k)
		v.oneOf(path+".type", h.Type, "command")
		switch p := path + ".path"; {
		case !v.checkable(p):
		case h.Path == "":
			v.errorf(p, "missing: the command to run, an absolute path")
		case !filepath.IsAbs(h.Path):
			v.errorf(p, "must be an absolute path, got %s (hooks run with a minimal PATH)", quote(h.Path))
		case strings.ContainsRune(h.Path, 0):
			v.errorf(p, "is not a path")
		}
		v.positive(path+".timeout", h.Timeout)
	}
}
