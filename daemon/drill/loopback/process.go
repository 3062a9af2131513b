package loopback

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a server running in its own process group with its output in
// a log file. The drill's throwaway servers and the tests' servers run
// Consul and Nomad through it, so that starting, killing and reading the
// log of a server child have one home.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// Launch describes a server process to start.
type Launch struct {
	Bin  string
	Args []string
	// Dir is its working directory; LogPath receives stdout and stderr
	// (created mode 0600, truncated).
	Dir, LogPath string
	// Env is its whole environment.
	Env []string
	// DieWithParent kills it with its parent (Pdeathsig), also when the
	// parent is killed outright.
	DieWithParent bool
}

// Start starts l. Its own process group lets KillGroup reach anything the
// server spawns.
func Start(l Launch) (*Process, error) {
	logFile, err := os.OpenFile(l.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(l.Bin, l.Args...)
	cmd.Dir = l.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = l.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.DieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("cannot start %s: %w", l.Bin, err)
	}
	p := &Process{cmd: cmd, logPath: l.LogPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the server's process id, also its process group's.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the server has exited and its log is closed.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// HasExited tells whether the server has exited, without waiting.
func (p *Process) HasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// State is how the server exited; read it after Exited.
func (p *Process) State() *os.ProcessState { return p.cmd.ProcessState }

// Signal sends sig to the server alone.
func (p *Process) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// KillGroup kills the server's process group and waits up to wait for the
// server to exit. The group's other members die in their own time.
func (p *Process) KillGroup(wait time.Duration) error {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.cmd.Path, p.Pid())
	}
}

// LogTail returns about the last n bytes of the server's log, from a line
// start.
func (p *Process) LogTail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the caller's to say
		}
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "(no log)"
	}
	off := max(info.Size()-int64(n), 0)
	buf := make([]byte, info.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "(no log: " + err.Error() + ")"
	}
	text := string(buf)
	if off > 0 {
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	return strings.TrimRight(text, "\n")
}

// PortClash tells whether the server exited because a port it was given
// was taken meanwhile: the caller picks new ports and starts again.
func (p *Process) PortClash() bool {
	if !p.HasExited() {
		return false
	}
	log := p.LogTail(4000)
	return strings.Contains(log, "address already in use") || strings.Contains(log, "already configured for")
}
