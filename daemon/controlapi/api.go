// Package controlapi is the contract between the daemon and the CLI: the
// JSON bodies of the control socket (/status, /signal, /version,
// /debug/pprof), its paths, ops and enums, the schema version, and the one
// typed client both the CLI and the tests use. The daemon's control server
// and its jobs produce these values; the CLI only decodes them. It imports
// nothing of raftsnap but nethelpers, so any side may depend on it.
package controlapi

// SchemaVersion is the version of the /status JSON. Bump it when a field
// changes meaning or disappears; adding fields does not need a bump.
// Version 2: the default answer is a summary (no history, no pruning
// decisions); ?job=NAME or ?detail=full give them.
const SchemaVersion = 2

// Status details (DaemonStatus.Detail) and the query that asks for them.
const (
	DetailSummary = "summary"
	DetailFull    = "full"
	// QueryJob and QueryDetail are /status's query parameters: ?job=NAME
	// (that job only, in full) and ?detail=full (every job in full).
	QueryJob    = "job"
	QueryDetail = "detail"
)

// Endpoint paths of the control socket.
const (
	PathStatus  = "/status"
	PathSignal  = "/signal"
	PathVersion = "/version"
	PathPprof   = "/debug/pprof"
	PathReload  = "/reload"
)

// Paths lists every endpoint, in the order the docs give them.
var Paths = []string{PathStatus, PathSignal, PathReload, PathVersion, PathPprof}

// Signal ops (SignalRequest.Op).
const (
	OpWakeup = "wakeup"
	OpReset  = "reset"
)

// Ops lists every signal op.
var Ops = []string{OpWakeup, OpReset}

// Triggers recorded in RunReport.Trigger.
const (
	TriggerSchedule = "schedule"
	TriggerWakeup   = "wakeup"
	TriggerStartup  = "startup"
)

// Phases shown in RunProgress.Phase.
const (
	PhaseConnecting = "connecting"
	// PhaseWaiting: the request went out; the server prepares its answer
	// (a large snapshot can take a while before its first byte).
	PhaseWaiting     = "waiting for the server"
	PhaseDownloading = "downloading"
	PhaseCommitting  = "committing"
	PhaseBackoff     = "waiting to retry"
	PhasePruning     = "pruning"
	PhaseListing     = "listing"
	PhaseVerifying   = "verifying"
	PhaseRestoring   = "restoring"
	// PhaseCopying: a snapshot job copies into one of its stores a
	// snapshot that store lacks (it was down when the snapshot was taken).
	PhaseCopying = "copying to a store"
	// PhaseScrubbing: a scrub job re-reads stored snapshots.
	PhaseScrubbing = "scrubbing"
	// PhaseStartingServer and PhaseChecking are a drill's: its throwaway
	// server starts and elects itself; the restored state is compared
	// with the archive.
	PhaseStartingServer = "starting server"
	PhaseChecking       = "checking"
)

// Drill outcomes (DrillReport.Outcome, DrillOutcome.Result).
const (
	// DrillOK: the snapshot restored and the server reported what the
	// archive holds.
	DrillOK = "ok"
	// DrillFailed: the server refused the snapshot, or reported other
	// state than the archive holds. Recorded with the snapshot.
	DrillFailed = "failed"
	// DrillError: the drill could not run (no binary, a server that never
	// led, a binary of another version or kind): the snapshot is neither
	// proven nor disproven, and its record is left as it was.
	DrillError = "error"
	// DrillCanceled: a reset or the daemon's shutdown stopped it.
	DrillCanceled = "canceled"
)

// Drill check results (DrillCheck.Result).
const (
	CheckMatch       = "match"
	CheckMismatch    = "mismatch"
	CheckNotCompared = "not_compared"
)
