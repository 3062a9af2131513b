package testkit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildProcesses lists this process's children still alive ("pid
// command" each), for a TestMain that checks its tests left nothing
// running. Zombies (exited, not yet waited for) do not count.
func ChildProcesses() string {
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var left []string
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		end := bytes.LastIndexByte(data, ')')
		start := bytes.IndexByte(data, '(')
		if end < 0 || start < 0 {
			continue
		}
		fields := strings.Fields(string(data[end+1:]))
		if len(fields) < 2 || fields[1] != self || fields[0] == "Z" {
			continue
		}
		left = append(left, fmt.Sprintf("%s %s", strings.Fields(string(data))[0], data[start+1:end]))
	}
	return strings.Join(left, "\n")
}
