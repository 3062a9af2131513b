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
)
