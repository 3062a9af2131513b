package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raftsnap/raftsnap/client/statusview"
	"github.com/raftsnap/raftsnap/client/tui"
)

const statusTimeout = 10 * time.Second

// minStatusInterval keeps the live view from polling the daemon in a
// busy loop.
const minStatusInterval = 100 * time.Millisecond

type statusOptions struct {
	control  controlOptions
	mode     string
	job      string
	interval time.Duration
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's jobs: state, current run, last runs, pruning, store",
		Long: `Show what the running daemon is doing.

  --mode interactive  a live view, refreshed every --interval (the default
                      when stdout is a terminal); press ? in it for the keys
  --mode dump         a readable text report, printed once (the default
                      when stdout is not a terminal)
  --mode raw          the /status JSON exactly as the daemon sent it,
                      indented (the schema is documented in docs/control.md)

The live view is described in docs/status.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.mode {
			case "":
				opts.mode = "dump"
				if isTerminal(g.stdout) {
					opts.mode = "interactive"
				}
			case "dump", "raw":
			case "interactive":
				if !isTerminal(g.stdout) {
					return usageError(errors.New("--mode interactive needs a terminal on stdout: use --mode dump or --mode raw"))
				}
			default:
				return usageError(fmt.Errorf("invalid --mode %q: use interactive, dump or raw", opts.mode))
			}
			if opts.interval < minStatusInterval {
				return usageError(fmt.Errorf("--interval %s is too short: use at least %s", opts.interval, minStatusInterval))
			}
			c, err := opts.control.client(cmd)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), g, opts, c)
		},
	}
	addControlFlags(cmd, &opts.control)
	cmd.Flags().StringVar(&opts.mode, "mode", "", "output: interactive (live view), dump (text) or raw (JSON); default: interactive on a terminal, else dump")
	cmd.Flags().StringVar(&opts.job, "job", "", "show only this job (interactive: select it)")
	_ = cmd.RegisterFlagCompletionFunc("job", daemonJobs(&opts.control))
	cmd.Flags().DurationVar(&opts.interval, "interval", tui.DefaultInterval, "interactive: how often to poll the daemon")
	return cmd
}

func runStatus(ctx context.Context, g *globalOptions, opts *statusOptions, c *controlapi.Client) error {
	// The first status is fetched here in every mode, so that a daemon
	// that is not there or an unknown --job fail at once with exit codes;
	// later the live view rides out a daemon restart.
	firstCtx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	raw, err := c.StatusRaw(firstCtx, "")
	if err != nil {
		return asCLIError(err)
	}
	st, err := c.DecodeStatus(raw)
	if err != nil {
		return err
	}
	if opts.job != "" && !slices.Contains(statusview.JobNames(st), opts.job) {
		return usageError(fmt.Errorf("the daemon has no job named %q; jobs: %s", opts.job, strings.Join(statusview.JobNames(st), ", ")))
	}

	switch opts.mode {
	case "interactive":
		return tui.Run(ctx, c, tui.Options{Interval: opts.interval, Job: opts.job, Initial: &st}, g.stdin, g.stdout)
	case "raw":
		out, err := rawStatus(raw, opts.job)
		if err != nil {
			return fmt.Errorf("the daemon on %s sent a malformed status: %v", c.SockPath(), err)
		}
		_, err = g.stdout.Write(out)
		return err
	}
	return statusview.Render(g.stdout, st, statusview.Options{Job: opts.job, Width: terminalWidth(g.stdout)})
}

// rawStatus indents the daemon's JSON as sent, keeping fields this client
// does not know and their order; with a job name, only that job stays in
// "jobs".
func rawStatus(raw []byte, jobName string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if jobName != "" {
		var err error
		if raw, err = filterJobs(raw, jobName); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// filterJobs rewrites the top-level object member by member, so that only
// "jobs" changes.
func filterJobs(raw []byte, jobName string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for first := true; dec.More(); first = false {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if key == "jobs" {
			var jobs []json.RawMessage
			if err := json.Unmarshal(value, &jobs); err != nil {
				return nil, err
			}
			kept := []json.RawMessage{}
			for _, j := range jobs {
				var named struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(j, &named) == nil && named.Name == jobName {
					kept = append(kept, j)
				}
			}
			if value, err = json.Marshal(kept); err != nil {
				return nil, err
			}
		}
		if !first {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(value)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is stdout's width when it is a terminal, else 0 (no
// limit: a dump piped to a file keeps whole lines).
func terminalWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
