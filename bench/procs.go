package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsnap/raftsnap/daemon/procstat"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// cleanups run in reverse order when the bench ends, however it ends.
var cleanups []func()

func atExit(f func()) { cleanups = append(cleanups, f) }

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// child is a long-running process (Consul, a raftsnap daemon) that dies with
// the bench: Pdeathsig covers a bench killed with SIGKILL.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func startChild(name, logPath string, env []string, argv ...string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); logFile.Close(); close(c.exited) }()
	atExit(c.stop)
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks politely, then kills after 15 s.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

func (c *child) logTail() string {
	data, _ := os.ReadFile(c.log)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// waitFor polls cond until it holds, the child exits or timeout passes.
func (c *child) waitFor(what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited while waiting for %s; log tail:\n%s", c.name, what, c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not reached within %s; log tail:\n%s", c.name, what, timeout, c.logTail())
		}
	}
}

// consulServer is a real Consul server the bench started (see
// internal/testkit/servers, which the tests use too).
type consulServer struct {
	*servers.Server
	addr string
}

// stop asks Consul to leave, then kills it after 15 s.
func (s *consulServer) stop() { s.Stop(15 * time.Second) }

// startConsul runs a single Consul server on loopback ports: a real server
// with a data dir (raft-boltdb, file snapshots) when persistent, else -dev.
func startConsul(bin, dir string, persistent bool) (*consulServer, error) {
	srv, err := servers.LaunchConsul(bin, dir, servers.ConsulOptions{
		Persistent: persistent, LogLevel: "warn", NodeName: "raftsnap-bench", DieWithParent: true})
	if err != nil {
		return nil, err
	}
	s := &consulServer{Server: srv, addr: srv.Addr}
	atExit(s.stop)
	// A leader is not enough: KV writes fail until the leader has
	// established itself, so wait for a write to succeed.
	err = srv.WaitUntil("a leader accepting writes", 90*time.Second, func() bool {
		code, _ := httpDo(http.MethodPut, s.addr+"/v1/kv/raftsnap-bench/ready", strings.NewReader("1"))
		return code == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

var httpClient = &http.Client{Timeout: 5 * time.Minute}

func httpDo(method, url string, body io.Reader) (int, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// result is one timed command.
type result struct {
	wall   time.Duration
	maxRSS int64 // bytes, from wait4's rusage
	cpu    time.Duration
	// steps are the times of a tool's commands when it runs several.
	steps []time.Duration
	// anonPeak is a daemon's RssAnon peak during the run (sampled).
	anonPeak int64
}

// runTimed runs argv to completion and reports its wall time and peak RSS.
func runTimed(ctx context.Context, env []string, argv ...string) (result, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Start()
	var peak int64
	if err == nil {
		// wait4's ru_maxrss is useless here: Go starts children with
		// CLONE_VM, so the kernel seeds it with the bench's own peak. Sample
		// the child's VmHWM instead (it only grows; the last 10 ms may be
		// missed).
		done := make(chan struct{})
		go func() { err = cmd.Wait(); close(done) }()
		tick := time.NewTicker(10 * time.Millisecond)
	sample:
		for {
			if hwm, herr := procStatusBytes(cmd.Process.Pid, "VmHWM"); herr == nil {
				peak = max(peak, hwm)
			}
			select {
			case <-done:
				break sample
			case <-tick.C:
			}
		}
		tick.Stop()
	}
	wall := time.Since(start)
	if err != nil {
		tail := out.String()
		if len(tail) > 1500 {
			tail = tail[len(tail)-1500:]
		}
		return result{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tail)
	}
	r := result{wall: wall, maxRSS: peak}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// procStatusBytes reads a "VmHWM:   1234 kB" style field of /proc/PID/status.
func procStatusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeakRSS makes VmHWM start again from the current RSS (proc(5),
// clear_refs value 5), so one process's peak can be read per operation.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procCPU returns utime+stime of pid (from /proc/PID/stat, in clock ticks
// of 1/100 s, the Linux USER_HZ).
func procCPU(pid int) (time.Duration, error) {
	st, err := procstat.Read(pid)
	if err != nil {
		return 0, err
	}
	return time.Duration(st.UTime+st.STime) * 10 * time.Millisecond, nil
}
