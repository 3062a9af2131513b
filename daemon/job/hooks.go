package job

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// Hook is a command a snapshot job runs before and after each snapshot, in
// zrepl's style (config.Hook). It runs with a clean environment that
// describes the run (RAFTSNAP_*), the source's address in the vendor's
// variable (CONSUL_HTTP_ADDR...) and, only with PassToken, its token in the
// vendor's token variable: never the daemon's own environment, which may
// hold tokens.
type Hook struct {
	Path       string
	Args       []string
	Timeout    time.Duration
	ErrIsFatal bool
	PassToken  bool
}

// HookError is a pre-snapshot hook that failed with ErrIsFatal: the run
// fails and nothing is taken.
type HookError struct {
	Path string
	Err  error
}

func (e *HookError) Error() string {
	return fmt.Sprintf("pre-snapshot hook %s failed: %v", e.Path, e.Err)
}
func (e *HookError) Unwrap() error { return e.Err }

const (
	hookPre  = "pre_snapshot"
	hookPost = "post_snapshot"
	// maxHookOutput is how much of a failing hook's output is logged.
	maxHookOutput = 4 << 10
	// hookPath is the PATH hooks get: they are started by absolute path,
	// and what they call should be found in the usual places.
	hookPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// runHooks runs the job's hooks of one kind, in order. A pre-snapshot hook
// that fails with ErrIsFatal stops the run (a *HookError); any other
// failure becomes a warning of the run. snapErr is the snapshot's error,
// for post-snapshot hooks.
func (j *SnapshotJob) runHooks(ctx context.Context, run *activeRun, kind string, snapErr error) error {
	if len(j.opts.Hooks) == 0 {
		return nil
	}
	env := j.hookEnv(run, kind, snapErr)
	for _, h := range j.opts.Hooks {
		hookEnv := env
		var token source.Secret
		if h.PassToken {
			var err error
			if hookEnv, token, err = j.withToken(env); err != nil {
				return j.hookFailed(run, kind, h, err)
			}
		}
		started := time.Now()
		out, err := runHook(ctx, h, hookEnv)
		if err == nil {
			run.logger.Info("hook done", "hook", kind, "path", h.Path, "duration", time.Since(started).Round(time.Millisecond))
			continue
		}
		if len(out) > 0 {
			tail := out
			run.logger.Warn("hook output", "hook", kind, "path", h.Path, "output", source.Scrub(string(tail), token))
		}
		if herr := j.hookFailed(run, kind, h, err); herr != nil {
			return herr
		}
	}
	return nil
}

func (j *SnapshotJob) hookFailed(run *activeRun, kind string, h Hook, err error) error {
	if kind == hookPre && h.ErrIsFatal {
		return &HookError{Path: h.Path, Err: err}
	}
	run.logger.Warn("hook failed; the run goes on", "hook", kind, "path", h.Path, "err", err)
	run.report.Warnings = append(run.report.Warnings, fmt.Sprintf("%s hook %s failed: %v", strings.ReplaceAll(kind, "_", "-"), h.Path, err))
	return nil
}

// hookEnv describes the run to its hooks.
func (j *SnapshotJob) hookEnv(run *activeRun, kind string, snapErr error) []string {
	env := []string{
		"PATH=" + hookPath,
		"RAFTSNAP_HOOK=" + kind,
		"RAFTSNAP_JOB=" + j.name,
		"RAFTSNAP_RUN_ID=" + run.report.ID,
		"RAFTSNAP_TRIGGER=" + run.report.Trigger,
		"RAFTSNAP_SOURCE=" + j.opts.Source.String(),
		"RAFTSNAP_SOURCE_KIND=" + string(j.opts.Source.Kind()),
		"RAFTSNAP_STORE=" + j.view.Location(), // several stores: joined by " + "
	}
	if a, ok := j.opts.Source.(interface{ AddressEnv() (string, string) }); ok {
		name, value := a.AddressEnv()
		env = append(env, "RAFTSNAP_SOURCE_ADDRESS="+value)
		if name != "" {
			env = append(env, name+"="+value)
		}
	}
	if kind == hookPost {
		result := controlapi.ResultSuccess
		switch {
		case errors.Is(snapErr, context.Canceled):
			result = controlapi.ResultCanceled
		case snapErr != nil:
			result = controlapi.ResultFailure
			env = append(env, "RAFTSNAP_ERROR="+oneLine(snapErr.Error()))
		}
		env = append(env, "RAFTSNAP_RESULT="+string(result))
		if r := run.report; r.Snapshot != "" {
			env = append(env, "RAFTSNAP_SNAPSHOT="+r.Snapshot, "RAFTSNAP_INDEX="+strconv.FormatUint(r.Index, 10),
				"RAFTSNAP_TERM="+strconv.FormatUint(r.Term, 10), "RAFTSNAP_BYTES="+strconv.FormatInt(r.Bytes, 10))
		}
	}
	return env
}

// withToken adds the source's token, read now, in the vendor's variable.
func (j *SnapshotJob) withToken(env []string) ([]string, source.Secret, error) {
	t, ok := j.opts.Source.(interface {
		TokenEnv() (string, source.Secret, error)
	})
	if !ok {
		return env, "", errors.New("this source cannot pass its token to hooks")
	}
	name, token, err := t.TokenEnv()
	if err != nil || name == "" || !token.IsSet() {
		return env, token, err
	}
	return append(append([]string(nil), env...), name+"="+token.Reveal()), token, nil
}

// runHook runs one hook with env, killing it and its children at its
// timeout (or when the run is canceled), and returns its output.
func runHook(ctx context.Context, h Hook, env []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Path, h.Args...)
	cmd.Env = env
	cmd.Dir = "/"
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a timeout kills what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return out.b, fmt.Errorf("killed after its timeout of %s", h.Timeout)
	}
	return out.b, err
}

// tailBuffer keeps the last maxHookOutput bytes written to it: a hook that
// prints gigabytes costs no memory.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - maxHookOutput; over > 0 {
		t.b = append(t.b[:0:0], t.b[over:]...)
	}
	return len(p), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
