// Package procstat reads Linux's /proc/PID/stat (proc_pid_stat(5)): which
// processes run, their group and parent, when they started and how much
// CPU they used. The one parser of that line, whose command name may hold
// spaces and parentheses.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stat is what raftsnap reads of a process's stat line.
type Stat struct {
	PID int
	// Comm is the command name, without its parentheses.
	Comm string
	// State is R, S, D, Z (exited, not yet reaped by its parent), X (dead)...
	State string
	PPID  int
	PGRP  int
	// UTime and STime are the CPU time spent in user and kernel mode, in
	// clock ticks (USER_HZ, 1/100 s on Linux).
	UTime, STime uint64
	// StartTime is when the process started, in clock ticks after boot:
	// with the pid, it names one process (a pid alone may have been reused).
	StartTime uint64
}

// Live reports whether the process still runs: a zombie (waiting for its
// parent to reap it) or a dead one does not.
func (s Stat) Live() bool { return s.State != "Z" && s.State != "X" }

// Read reads the stat line of process pid.
func Read(pid int) (Stat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return Parse(data)
}

// All reads every process's stat line; a process that exits meanwhile is
// left out.
func All() []Stat {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	all := make([]Stat, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if s, err := Parse(data); err == nil {
			all = append(all, s)
		}
	}
	return all
}

// Parse reads a stat line: "pid (comm) state ppid pgrp session tty_nr
// tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
// priority nice num_threads itrealvalue starttime ...".
func Parse(data []byte) (Stat, error) {
	start, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if start < 0 || end < start {
		return Stat{}, fmt.Errorf("not a /proc stat line: %.40q", data)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:start])))
	if err != nil {
		return Stat{}, fmt.Errorf("not a /proc stat line: %.40q", data)
	}
	// The fields after the command name, from state (field 3) on.
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("/proc stat line of pid %d has %d fields after the command name, want 20 or more", pid, len(f))
	}
	s := Stat{PID: pid, Comm: string(data[start+1 : end]), State: f[0]}
	var errs []error
	num := func(i int) uint64 {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %d: %w", i+3, err))
		}
		return n
	}
	s.PPID, s.PGRP = int(num(1)), int(num(2))
	s.UTime, s.STime, s.StartTime = num(11), num(12), num(19)
	if err := errors.Join(errs...); err != nil {
		return Stat{}, fmt.Errorf("/proc stat line of pid %d: %w", pid, err)
	}
	return s, nil
}
