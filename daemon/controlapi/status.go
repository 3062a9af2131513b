package controlapi

import "time"

// DaemonStatus is the whole /status answer. Plain data only: it is
// marshalled to JSON as is and decoded by the CLI. It never holds the
// environment or a token.
type DaemonStatus struct {
	Schema int `json:"schema"`
	// Detail is DetailSummary (each job without its history and pruning
	// decisions) or DetailFull.
	Detail    string      `json:"detail,omitempty"`
	Version   string      `json:"version"`
	PID       int         `json:"pid"`
	StartedAt time.Time   `json:"started_at"`
	Now       time.Time   `json:"now"`
	Jobs      []JobStatus `json:"jobs"`
	// Config tells which configuration runs and how the last reload
	// (SIGHUP) went; absent from daemons older than reload support.
	Config *ConfigStatus `json:"config,omitempty"`
}

// ConfigStatus is the daemon's configuration state.
type ConfigStatus struct {
	// Path is the configuration file; "" for a built-in one (--dev).
	Path     string    `json:"path,omitempty"`
	LoadedAt time.Time `json:"loaded_at"` // when the running configuration was applied
	// The last reload, absent until the first one.
	LastReloadAt         *time.Time `json:"last_reload_at,omitempty"`
	LastReloadSuccessful *bool      `json:"last_reload_successful,omitempty"`
	// LastReloadError is the reason the last reload was refused, one
	// problem per line with file:line:col; "" when it succeeded.
	LastReloadError string `json:"last_reload_error,omitempty"`
	// LastReloadWarnings are the settings a successful reload could not
	// apply (they need a restart).
	LastReloadWarnings []string `json:"last_reload_warnings,omitempty"`
}

// State is a job's coarse state.
type State string

const (
	StateIdle    State = "idle"    // never ran, nothing scheduled (restore jobs)
	StateWaiting State = "waiting" // waiting for its next run or a signal
	StateRunning State = "running"
	StateError   State = "error" // the last run failed, or the job crashed
)

// Result is the outcome of one run.
type Result string

const (
	ResultSuccess  Result = "success"
	ResultFailure  Result = "failure"
	ResultCanceled Result = "canceled" // reset, or daemon shutdown
)

// JobStatus is one job's report.
type JobStatus struct {
	Name  string `json:"name"`
	Type  string `json:"type"` // snapshot, prune, restore, drill
	State State  `json:"state"`
	// Source names what a snapshot job snapshots, and Target what a
	// restore job restores into ("consul at http://127.0.0.1:8500"): kind
	// and address, never a token.
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	// Snapshot is what a restore job restores: "latest" or a name.
	Snapshot string `json:"snapshot,omitempty"`
	// IntervalSeconds is the job's schedule (snapshot and prune jobs); 0
	// for jobs that run only when signalled.
	IntervalSeconds float64 `json:"interval_seconds,omitempty"`
	// Problem says why the job's runs cannot succeed now, found without
	// running (its token or TLS files cannot be read, ...); "" when none.
	Problem string `json:"problem,omitempty"`
	// Current is set while a run is in progress.
	Current       *RunProgress `json:"current,omitempty"`
	LastRun       *RunReport   `json:"last_run,omitempty"`
	LastSuccessAt *time.Time   `json:"last_success_at,omitempty"`
	NextRunAt     *time.Time   `json:"next_run_at,omitempty"`
	// PendingSignal is the queued signal ("wakeup") a busy job will act on
	// when its current run ends, or "".
	PendingSignal string `json:"pending_signal,omitempty"`
	// History holds the last runs, newest first (bounded); only in a full
	// status (?job=NAME, ?detail=full).
	History []RunReport `json:"history,omitempty"`
	// Pruning is the outcome of the last pruning pass (snapshot and prune jobs).
	Pruning *PruneSummary `json:"pruning,omitempty"`
	// Store describes the job's store (snapshot and prune jobs): its first
	// store when it has several.
	Store *StoreSummary `json:"store,omitempty"`
	// Stores describes each store of a job that keeps its snapshots in
	// several, in configuration order (absent with one store).
	Stores []StoreSummary `json:"stores,omitempty"`
	// LastDrill is the outcome of the last conclusive drill this job ran
	// (drill jobs), read back from the store's records after a start.
	LastDrill *DrillOutcome `json:"last_drill,omitempty"`
	// Crashes counts panics recovered by the supervisor; LastCrash tells the latest.
	Crashes   int    `json:"crashes,omitempty"`
	LastCrash string `json:"last_crash,omitempty"`
	// HA is the job's role among the agents sharing it (docs/ha.md);
	// absent for a job that is not gated.
	HA *HAStatus `json:"ha,omitempty"`
}

// HAStatus is a gated job's role on this agent.
type HAStatus struct {
	Mode string `json:"mode"` // leader_local, consul_lock
	Role Role   `json:"role"`
	// Holder names the active agent where that can be known: the lock's
	// holder (host and pid), or the leading server's address. "" when
	// unknown or nobody is active.
	Holder string `json:"holder,omitempty"`
	// Since is when this agent took its current role.
	Since time.Time `json:"since"`
	// Error is the last lock or leadership error, "" once it cleared.
	Error string `json:"error,omitempty"`
}

// Role is active (this agent does the job's work) or standby.
type Role string

const (
	RoleActive  Role = "active"
	RoleStandby Role = "standby"
)

// StatusStandby is the HTTP status of a signal refused because this agent
// is a standby for the job: the request went to the wrong agent (421
// Misdirected Request); the error names the active one.
const StatusStandby = 421

// RunProgress describes the run in progress.
type RunProgress struct {
	ID        string    `json:"id"`
	Phase     string    `json:"phase"` // e.g. connecting, downloading, verifying, committing, pruning, restoring
	StartedAt time.Time `json:"started_at"`
	// Attempt counts retries within the run, from 1.
	Attempt       int   `json:"attempt"`
	BytesDone     int64 `json:"bytes_done"`
	BytesExpected int64 `json:"bytes_expected,omitempty"` // 0 when unknown
	// BytesPerSecond is the average rate since the transfer started.
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// RunReport is a finished run.
type RunReport struct {
	ID         string    `json:"id"`
	Trigger    string    `json:"trigger"` // schedule, wakeup, startup
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Result     Result    `json:"result"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	// Snapshot fields: the snapshot taken (snapshot jobs) or restored (restore jobs).
	Snapshot string `json:"snapshot,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	Index    uint64 `json:"index,omitempty"`
	Term     uint64 `json:"term,omitempty"`
	// Pruning done at the end of this run, if any.
	Pruning *PruneSummary `json:"pruning,omitempty"`
	// Servers are the raft server IDs of the snapshot's configuration
	// (snapshot jobs): the cluster it came from.
	Servers []string `json:"servers,omitempty"`
	// Stale is true when the snapshot stored came from a follower's
	// possibly lagging state (stale mode or stale fallback).
	Stale bool `json:"stale,omitempty"`
	// Warnings are things that went wrong without failing the run (a stale
	// fallback, a snapshot from a different cluster, a store that failed
	// while another kept the snapshot).
	Warnings []string `json:"warnings,omitempty"`
	// Stores says, for a job with several stores, what became of the
	// snapshot in each: the stores it was committed or copied to, and the
	// ones that failed.
	Stores []StoreOutcome `json:"stores,omitempty"`
	// Scrub is what a scrub run checked.
	Scrub *ScrubSummary `json:"scrub,omitempty"`
	// Drill is what a drill run found (drill jobs).
	Drill *DrillReport `json:"drill,omitempty"`
}

// StoreOutcome is what one run did in one store.
type StoreOutcome struct {
	Store string `json:"store"`
	// Committed is true when the run's snapshot is in this store.
	Committed bool `json:"committed"`
	// Copied names the older snapshots copied into this store (catching up).
	Copied []string `json:"copied,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// ScrubSummary is what a scrub run read again and found.
type ScrubSummary struct {
	// Checked snapshots were read whole and compared with their records;
	// Failed is how many of them did not match (they are now marked
	// unverified), named in Failures.
	Checked  int      `json:"checked"`
	Failed   int      `json:"failed"`
	Bytes    int64    `json:"bytes"`
	Failures []string `json:"failures,omitempty"`
	// Total is how many snapshots the scrubbed stores hold.
	Total int `json:"total"`
}

// DrillReport is what one drill found: the throwaway server it restored
// the snapshot into, and each comparison of the server's state with the
// archive.
type DrillReport struct {
	// Outcome is DrillOK, DrillFailed or DrillError.
	Outcome string `json:"outcome"`
	// Server is the throwaway server's kind and version, "consul 1.22.7".
	Server string `json:"server,omitempty"`
	// SourceVersion is the version of the cluster the snapshot came from,
	// as its restored state tells ("" when it does not).
	SourceVersion string `json:"source_version,omitempty"`
	// RestoredIndex is the raft index the server reported after the
	// restore; the run report's Index is the snapshot's.
	RestoredIndex uint64 `json:"restored_index,omitempty"`
	// Checks compare what the archive holds with what the server reports.
	Checks []DrillCheck `json:"checks,omitempty"`
}

// DrillCheck is one comparison: the records of one kind the archive's
// state.bin holds against what the restored server lists.
type DrillCheck struct {
	// Name is what was counted: "kv_keys", "catalog_registrations",
	// "acl_tokens" (consul), "jobs", "nodes", "variables" (nomad),
	// "raft_index".
	Name string `json:"name"`
	// Archive and Server are the two counts (for raft_index: the
	// snapshot's index and the restored server's).
	Archive uint64 `json:"archive"`
	Server  uint64 `json:"server"`
	// Result is CheckMatch, CheckMismatch or CheckNotCompared.
	Result string `json:"result"`
	// Note says what was left out or why it was not compared.
	Note string `json:"note,omitempty"`
}

// DrillOutcome is a drill job's last conclusive drill (ok or failed).
type DrillOutcome struct {
	Snapshot string    `json:"snapshot"`
	Result   string    `json:"result"` // DrillOK or DrillFailed
	At       time.Time `json:"at"`
	// Reason says why it failed.
	Reason string `json:"reason,omitempty"`
	// Index is the raft index the restored server reported.
	Index  uint64 `json:"index,omitempty"`
	Server string `json:"server,omitempty"`
	// DurationSeconds is how long the drill took.
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// PruneSummary counts what a pruning pass decided.
type PruneSummary struct {
	At        time.Time `json:"at"`
	Kept      int       `json:"kept"`
	Destroyed int       `json:"destroyed"`
	// Foreign counts files in the store that are no job's snapshot (no
	// sidecar, or one that cannot be trusted): never pruned, by any job.
	Foreign int `json:"foreign"`
	// OtherJobs counts snapshots of jobs this one does not prune.
	OtherJobs int      `json:"other_jobs,omitempty"`
	Errors    []string `json:"errors,omitempty"`
	// Decisions are the per-snapshot verdicts with reasons, newest first.
	Decisions []PruneDecision `json:"decisions,omitempty"`
}

// PruneDecision is one snapshot's verdict.
type PruneDecision struct {
	Snapshot string   `json:"snapshot"`
	Keep     bool     `json:"keep"`
	Reasons  []string `json:"reasons"`
}

// StoreSummary describes a store, as far as the job is concerned: a
// snapshot job's own snapshots in it.
type StoreSummary struct {
	// Path is the store's directory, URL or name.
	Path       string     `json:"path"`
	Snapshots  int        `json:"snapshots"`
	TotalBytes int64      `json:"total_bytes"`
	Newest     string     `json:"newest,omitempty"`
	NewestAt   *time.Time `json:"newest_at,omitempty"`
	// Warnings say what the operator should look at, e.g. a newest
	// snapshot dated in the future (a clock was wrong).
	Warnings []string `json:"warnings,omitempty"`
	// Type is local, s3, azure or gcs.
	Type string `json:"type,omitempty"`
	// Unverified counts the snapshots whose last verification (when
	// written, by a scrub, before a restore or a pruning pass) failed:
	// they are never taken for the newest good snapshot.
	Unverified int `json:"unverified,omitempty"`
	// Encrypted counts the snapshots stored encrypted with age (their
	// records name the recipients; see docs/encryption.md).
	Encrypted int `json:"encrypted,omitempty"`
	// Behind counts the job's snapshots that this store lacks and should
	// hold (newer than its newest, kept by its retention); they are copied
	// at the job's next run.
	Behind int `json:"behind,omitempty"`
	// Foreign counts the files in the store that are not listed snapshots
	// (ignored by pruning; see `raftsnap store put` to adopt an archive).
	Foreign int `json:"foreign,omitempty"`
	// LastError is the last failure to list, write, copy or prune in this
	// store, and when; absent once an operation succeeds again.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Unlisted is true when the store could not be listed at the last
	// refresh (LastError says why): its counts are unknown, not zero.
	Unlisted bool `json:"unlisted,omitempty"`
	// Pruning is this store's last pruning pass, for a job with several
	// stores (JobStatus.Pruning is its first store's).
	Pruning *PruneSummary `json:"pruning,omitempty"`
}

// SignalRequest is the /signal body.
type SignalRequest struct {
	Job string `json:"job"`
	Op  string `json:"op"` // OpWakeup, OpReset
	// Wait makes /signal answer only when the run the signal caused has
	// ended, with its report.
	Wait bool `json:"wait,omitempty"`
}

// SignalResponse is the /signal answer.
type SignalResponse struct {
	Job string `json:"job"`
	Op  string `json:"op"`
	// Queued is true when the job was busy and the wakeup waits for the
	// current run to end.
	Queued bool `json:"queued,omitempty"`
	// Run is the report of the run caused, when Wait was set.
	Run *RunReport `json:"run,omitempty"`
}

// ReloadResponse is the /reload answer when the configuration file was
// applied. A refused reload is a 422 ErrorResponse whose error lists the
// problems, one per line; the running configuration then stays.
type ReloadResponse struct {
	Config    string   `json:"config"`
	Added     []string `json:"added,omitempty"`
	Changed   []string `json:"changed,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Unchanged int      `json:"unchanged"`
	// Warnings are the changed settings that need a restart.
	Warnings []string `json:"warnings,omitempty"`
}

// ErrorResponse is the body of every non-2xx control answer.
type ErrorResponse struct {
	Error string   `json:"error"`
	Jobs  []string `json:"jobs,omitempty"` // known job names, for "unknown job"
}

// VersionInfo is the /version answer.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// PprofRequest is the POST /debug/pprof body: Listen starts (or moves) the
// pprof HTTP server; Off, or an empty Listen, stops it.
type PprofRequest struct {
	Listen string `json:"listen"`
	Off    bool   `json:"off,omitempty"`
	// AllowRemote must be set for a Listen address other hosts can reach.
	AllowRemote bool `json:"allow_remote,omitempty"`
}

// PprofStatus is the /debug/pprof answer.
type PprofStatus struct {
	Running bool `json:"running"`
	// Listen is the address it actually listens on (the port resolved
	// when ":0" was asked).
	Listen string `json:"listen,omitempty"`
}

// Summarized is j as the default /status gives it: without its history and
// its pruning decisions.
func (j JobStatus) Summarized() JobStatus {
	j.History = nil
	if j.Pruning != nil {
		p := *j.Pruning
		p.Decisions = nil
		j.Pruning = &p
	}
	return j
}
