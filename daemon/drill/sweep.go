package drill

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsnap/raftsnap/daemon/procstat"
)

// Sweep removes what drills of dead daemons left in dir: a daemon killed
// outright (SIGKILL, a power cut) cannot stop its throwaway server or
// remove its directory. A directory whose owner (the daemon that made it,
// by pid and process start time) is gone is removed, after its server,
// if one still runs from it, is killed. The directories of live daemons,
// this one's included, are left alone. Start calls it.
func Sweep(dir string, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, DirPrefix+"*"))
	for _, path := range matches {
		info, err := os.Lstat(path)
		if err != nil || !info.IsDir() {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			continue // another user's
		}
		owner, err := os.ReadFile(filepath.Join(path, ownerFile))
		switch {
		case err == nil:
			pid, _, _ := strings.Cut(strings.TrimSpace(string(owner)), " ")
			if n, err := strconv.Atoi(pid); err == nil && processIdentity(n) == strings.TrimSpace(string(owner)) {
				continue // its daemon runs
			}
		case time.Since(info.ModTime()) < time.Minute:
			continue // being set up right now
		}
		if pidData, err := os.ReadFile(filepath.Join(path, pidFile)); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(pidData))); err == nil && pid > 1 && runsFrom(pid, path) {
				logger.Warn("killing a drill server left running by a daemon that is gone", "pid", pid, "dir", path)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := os.RemoveAll(path); err != nil {
			logger.Warn("cannot remove a drill server's directory left by a daemon that is gone", "dir", path, "err", err)
			continue
		}
		logger.Info("removed a drill server's directory left by a daemon that is gone", "dir", path)
	}
}

// processIdentity is "<pid> <start time>" of a running process ("" when it
// does not run): a pid alone may have been reused since.
func processIdentity(pid int) string {
	st, err := procstat.Read(pid)
	if err != nil {
		return ""
	}
	return strconv.Itoa(pid) + " " + strconv.FormatUint(st.StartTime, 10)
}

// runsFrom tells whether process pid was started with dir in its command
// line: a server this package started there, not a stranger that reused
// its pid.
func runsFrom(pid int, dir string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(cmdline, []byte(dir+string(filepath.Separator)))
}

// waitGroupGone waits until no live process (zombies do not count: they
// wait for a parent to reap them) is left in process group pgid, killing
// again what it finds, and returns the pids still there after timeout.
func waitGroupGone(pgid int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	var pids []int
	for _, st := range procstat.All() {
		if st.PGRP == pgid && st.Live() {
			pids = append(pids, st.PID)
		}
	}
	return pids
}
