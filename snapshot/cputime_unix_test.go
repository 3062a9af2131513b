//go:build unix

package snapshot

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used, for
// the benchmarks' cpu-ms/op: on a machine shared with other work, wall
// time measures the neighbours too, CPU time much less.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
