package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// validator checks a decoded configuration, reporting at the positions the
// decoder recorded.
type validator struct {
	*decoder
	cfg  *Config
	opts Options
}

var (
	jobNamePattern      = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	snapshotNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.:+-]+$`)
	envNamePattern      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxSockPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes including the terminating NUL).
const maxSockPath = 107

// node returns the value node at path, or the nearest enclosing one when
// the path is absent (a missing key is reported at its parent mapping).
func (v *validator) node(path string) *yaml.Node {
	for {
		if n, ok := v.values[path]; ok {
			return n
		}
		if path == "" {
			return nil
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			path = ""
		} else {
			path = path[:cut]
		}
	}
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errorAt(v.node(path), path, format, args...)
}

// keyErrorf reports at the key rather than its value: right for "this key
// does not belong here".
func (v *validator) keyErrorf(path, format string, args ...any) {
	n := v.keys[path]
	if n == nil {
		n = v.node(path)
	}
	v.errorAt(n, path, format, args...)
}

func (v *validator) warnf(path, format string, args ...any) {
	e := &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n := v.node(path); n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	v.cfg.Warnings = append(v.cfg.Warnings, e.Error())
}

// usable reports whether path holds a value that decoded: checks on a
// value that failed to decode would only repeat the decoder's error.
func (v *validator) usable(path string) bool { return v.isSet(path) && !v.failed[path] }

// checkable reports whether a check on path should run: the value is
// present and decoded, or absent (and defaulted).
func (v *validator) checkable(path string) bool { return !v.failed[path] }

// absolutePath reports whether the path value at key p can be checked
// further: checkable, given and absolute. It reports a missing value
// (missing says what to give) and a relative one.
func (v *validator) absolutePath(p, value, missing string) bool {
	switch {
	case !v.checkable(p):
		return false
	case value == "":
		v.errorf(p, "missing: %s", missing)
		return false
	case !filepath.IsAbs(value):
		v.errorf(p, "must be an absolute path, got %s", quote(value))
		return false
	}
	return true
}

func (v *validator) validate() {
	v.validateGlobal()
	if len(v.cfg.Jobs) == 0 {
		if v.checkable("jobs") {
			v.errorf("jobs", "at least one job is required")
		}
		return
	}
	names := map[string]int{} // job name → index
	for i := range v.cfg.Jobs {
		v.validateJobName(i, names)
	}
	for i := range v.cfg.Jobs {
		v.validateJob(i, names)
	}
	v.validateCrossJob()
	v.warnUndrilledLastDrilled()
}

func (v *validator) validateGlobal() {
	g := &v.cfg.Global
	v.oneOf("global.logging.level", g.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("global.logging.format", g.Logging.Format, "text", "json", "logfmt")
	v.oneOf("global.logging.output", g.Logging.Output, "stderr", "stdout")
	if g.Logging.Syslog != nil {
		v.oneOf("global.logging.syslog.facility", g.Logging.Syslog.Facility,
			"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
			"ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
	}
	if p := "global.control.sockpath"; v.checkable(p) {
		switch sock := g.Control.SockPath; {
		case !filepath.IsAbs(sock):
			v.errorf(p, "must be an absolute path, got %s", quote(sock))
		case strings.HasSuffix(sock, "/"):
			v.errorf(p, "names a directory; give the socket's file name, e.g. /run/raftsnap/control")
		case len(sock) > maxSockPath:
			v.errorf(p, "is %d bytes long; a unix socket path holds at most %d", len(sock), maxSockPath)
		}
	}
	if p := "global.monitoring.listen"; v.usable(p) && g.Monitoring.Listen != "" {
		if err := checkListen(g.Monitoring.Listen); err != nil {
			v.errorf(p, "%v", err)
		}
	}
	v.positive("global.shutdown_timeout", g.ShutdownTimeout)
	v.positive("global.defaults.timeout", g.Defaults.Timeout)
	v.validateRetries("global.defaults.retries", &g.Defaults.Retries)
	v.validateNotifications()
	v.validateHA("global.ha", g.HA, nil)
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as 127.0.0.1:9811, got %s", quote(addr))
	}
	// Port 0 (any free port, logged at start) is allowed: tests and the dev
	// mode use it.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %s is not a number from 0 to 65535", quote(port))
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("host %s is neither an IP address nor a host name", quote(host))
	}
	return nil
}

var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)

func validHostname(h string) bool { return len(h) <= 253 && hostnamePattern.MatchString(h) }

func (v *validator) oneOf(path, value string, allowed ...string) {
	if !v.checkable(path) {
		return
	}
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.errorf(path, "%s is not one of %s", quote(value), strings.Join(allowed, ", "))
}

// positive checks a duration that must be > 0 (when set, or defaulted).
func (v *validator) positive(path string, d Duration) {
	if v.checkable(path) && d <= 0 {
		v.errorf(path, "must be positive, got %s", d)
	}
}

func (v *validator) validateRetries(path string, r *Retries) {
	if v.checkable(path+".max") && r.Max < 0 {
		v.errorf(path+".max", "must be 0 (never retry) or more, got %d", r.Max)
	}
	v.positive(path+".initial_backoff", r.InitialBackoff)
	v.positive(path+".max_backoff", r.MaxBackoff)
	if r.InitialBackoff > 0 && r.MaxBackoff > 0 && r.MaxBackoff < r.InitialBackoff &&
		v.checkable(path+".initial_backoff") && v.checkable(path+".max_backoff") {
		v.errorf(path+".max_backoff", "%s is shorter than initial_backoff (%s)", r.MaxBackoff, r.InitialBackoff)
	}
}

func (v *validator) validateJobName(i int, seen map[string]int) {
	job := &v.cfg.Jobs[i]
	path := fmt.Sprintf("jobs[%d].name", i)
	switch {
	case !v.isSet(fmt.Sprintf("jobs[%d]", i)):
		// An empty list item; validateJob reports it.
	case !v.checkable(path):
	case !v.isSet(path) || job.Name == "":
		v.errorf(path, "missing: every job needs a name")
	case !jobNamePattern.MatchString(job.Name):
		v.errorf(path, "%s may only hold letters, digits, _, . and -", quote(job.Name))
	case len(job.Name) > MaxJobNameLength:
		// Snapshot file names are "<job>-<timestamp>-<index>.snap.json".
		v.errorf(path, "%d characters is too long: at most %d (job names go into snapshot file names)", len(job.Name), MaxJobNameLength)
	case strings.HasPrefix(job.Name, "."):
		// The store would refuse it: its files would be hidden ones.
		v.errorf(path, "%s must not start with . (a store would hide the job's snapshot files)", quote(job.Name))
	case strings.HasPrefix(job.Name, "_"):
		v.errorf(path, "%s must not start with _ (reserved for raftsnap's internal jobs)", quote(job.Name))
	case strings.Trim(job.Name, ".") == "":
		v.errorf(path, "%s is not a usable name", quote(job.Name))
	default:
		if first, dup := seen[job.Name]; dup {
			v.errorf(path, "%s is already the name of jobs[%d] (line %d): job names must be unique",
				job.Name, first, v.node(fmt.Sprintf("jobs[%d].name", first)).Line)
			return
		}
		seen[job.Name] = i
	}
}

func (v *validator) validateJob(i int, names map[string]int) {
	job := &v.cfg.Jobs[i]
	path := fmt.Sprintf("jobs[%d]", i)
	if !v.isSet(path) {
		v.errorf(path, "empty job: give at least name and type")
		return
	}
	if v.failed[path] {
		return
	}
	typePath := path + ".type"
	switch {
	case !v.checkable(typePath):
		return
	case !v.isSet(typePath):
		v.errorf(typePath, "missing: every job needs a type (%s)", orList(JobTypeNames()))
		return
	}
	jt, ok := LookupJobType(job.Type)
	if !ok {
		v.errorf(typePath, "%s is not a job type: use %s", quote(job.Type), orList(JobTypeNames()))
		return
	}
	for key, types := range jobKeyTypes() {
		keyPath := path + "." + key
		if _, present := v.keys[keyPath]; !present || contains(types, job.Type) {
			continue
		}
		if msg, ok := jt.refused[key]; ok {
			v.keyErrorf(keyPath, "%s", msg)
		} else {
			v.keyErrorf(keyPath, "does not apply to %s jobs (only to %s jobs)", job.Type, strings.Join(types, " and "))
		}
		// Do not also complain about its contents.
		v.failed[keyPath] = true
	}
	v.positive(path+".timeout", job.Timeout)

	jt.validate(v, path, job, names)
	v.validateJobHA(i)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (v *validator) validateSchedule(path string, job *Job) {
	p := path + ".interval"
	switch {
	case !v.checkable(p):
		return
	case !v.isSet(p):
		v.errorf(p, "missing: a %s job needs an interval, e.g. interval: 1h", job.Type)
		return
	case job.Interval.Std() < time.Second:
		v.errorf(p, "must be at least 1s, got %s", job.Interval)
		return
	}
	jp := path + ".jitter"
	switch {
	case !v.usable(jp):
	case job.Jitter < 0:
		v.errorf(jp, "must not be negative, got %s", job.Jitter)
	case job.Jitter >= job.Interval:
		v.errorf(jp, "%s must be shorter than the interval (%s)", job.Jitter, job.Interval)
	}
}

func (v *validator) requireStore(path string, st *Store) {
	switch {
	case !v.checkable(path):
	case st == nil:
		v.errorf(path, "missing: give the store the snapshots live in, e.g. store: {path: /var/lib/raftsnap/main}")
	default:
		v.validateStore(path, st, true, false)
	}
}

// validateStoreOrFromJob checks the store a job reads (restore and scrub
// jobs): its store block, or from_job naming a snapshot job, whose store or
// stores it then holds a copy of.
func (v *validator) validateStoreOrFromJob(path string, job *Job, names map[string]int, missing string) {
	storeSet, fromSet := v.isSet(path+".store"), v.isSet(path+".from_job")
	switch {
	case storeSet && fromSet:
		v.keyErrorf(path+".from_job", "give either store or from_job, not both")
	case !storeSet && !fromSet:
		v.errorf(path+".store", "missing: %s", missing)
	case storeSet:
		if v.checkable(path + ".store") {
			v.validateStore(path+".store", job.Store, false, false)
		}
	case fromSet && v.checkable(path+".from_job"):
		i, ok := names[job.FromJob]
		switch {
		case !ok:
			v.errorf(path+".from_job", "no job is named %s", quote(job.FromJob))
		case v.cfg.Jobs[i].Type != JobSnapshot:
			v.errorf(path+".from_job", "%s is a %s job; from_job must name a snapshot job", quote(job.FromJob), v.cfg.Jobs[i].Type)
		default:
			// The snapshot job's store, or its stores, read as one.
			if src := &v.cfg.Jobs[i]; len(src.Stores) > 0 {
				job.Stores = slices.Clone(src.Stores)
			} else if src.Store != nil {
				st := *src.Store
				job.Store = &st
			}
		}
	}
}

// requirePruning checks a pruning block; owners are the jobs whose
// snapshots it prunes (none: any job's).
func (v *validator) requirePruning(path string, p *Pruning, owners []string) {
	switch {
	case !v.checkable(path):
	case p == nil:
		v.errorf(path, "missing: give at least one keep rule, e.g. pruning: {keep: [{last_n: {count: 24}}]}")
	default:
		v.validatePruning(path, p, owners)
	}
}

func (v *validator) validateRestore(path string, job *Job, names map[string]int) {
	v.validateStoreOrFromJob(path, job, names, "a restore job needs a store, or from_job naming the snapshot job whose store to use")
	if p := path + ".snapshot"; v.checkable(p) && job.Snapshot != DefaultRestoreSnapshot {
		name := job.Snapshot
		if len(name) > 255 || !snapshotNamePattern.MatchString(name) || strings.Trim(name, ".") == "" {
			v.errorf(p, "want \"latest\" or the file name of a snapshot in the store (such as consul-main-20261122T051000Z-12345.snap), got %s", quote(name))
		}
	}
	v.requireSource(path+".target", job.Target, "target", "a restore job needs the target to restore into")
}
