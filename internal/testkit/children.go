package testkit

import (
	"fmt"
	"os"
	"strings"

	"github.com/raftsnap/raftsnap/daemon/procstat"
)

// ChildProcesses lists this process's children still alive ("pid
// command" each), for a TestMain that checks its tests left nothing
// running. Zombies (exited, not yet waited for) do not count.
func ChildProcesses() string {
	var left []string
	for _, st := range procstat.All() {
		if st.PPID == os.Getpid() && st.Live() {
			left = append(left, fmt.Sprintf("%d %s", st.PID, st.Comm))
		}
	}
	return strings.Join(left, "\n")
}
