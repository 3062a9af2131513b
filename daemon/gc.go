package daemon

import (
	"os"
	"runtime/debug"
	"strconv"
)

// DefaultGCPercent is the daemon's GOGC when its environment sets none.
//
// The daemon's live heap is small and, while it works, mostly transfer
// buffers that each run allocates anew (an upload's parts, the first of
// them read whole by the S3 upload manager). At Go's default of 100 the
// heap grows to twice that live heap before each collection: 20-25 MiB of
// garbage per bucket upload. At 50, peak memory saving 256 MiB of Consul
// state into a bucket fell from 104-110 to 88 MiB (RssAnon 60-62 to 39-46)
// at the same speed; collections of a 25 MiB heap cost well under 1% of
// the CPU such a save uses (docs/performance.md).
const DefaultGCPercent = 50

// GCSetting is the collector target the daemon runs with.
type GCSetting struct {
	Percent int
	// FromEnv: GOGC came from the environment (an operator's choice,
	// "off" included, reported as -1), which the daemon leaves alone.
	FromEnv bool
}

// SetGCDefault gives the process DefaultGCPercent unless GOGC is set, and
// says what is in effect. GOMEMLIMIT, when set, works beside either.
func SetGCDefault() GCSetting {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		p := debug.SetGCPercent(-1) // read the runtime's value: it parsed GOGC
		debug.SetGCPercent(p)
		return GCSetting{Percent: p, FromEnv: true}
	}
	debug.SetGCPercent(DefaultGCPercent)
	return GCSetting{Percent: DefaultGCPercent}
}

// String is the setting as it is logged: "50 (default)", "80 (GOGC)".
func (g GCSetting) String() string {
	v := strconv.Itoa(g.Percent)
	if g.Percent < 0 {
		v = "off"
	}
	if g.FromEnv {
		return v + " (GOGC)"
	}
	return v + " (default)"
}
