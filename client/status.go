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

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raftsnap/raftsnap/client/statusview"
	"github.com/raftsnap/raftsnap/daemon/job"
)

const statusTimeout = 10 * time.Second

type statusOptions struct {
	control controlOptions
	mode    string
	job     string
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's jobs: state, current run, last runs, pruning, store",
		Long: `Show what the running daemon is doing.

  --mode dump  a readable text report (the default)
  --mode raw   the /status JSON exactly as the daemon sent it, indented
               (the schema is documented in docs/control.md)

The live, interactive view is not implemented yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.mode {
			case "dump", "raw":
			case "interactive":
				return usageError(errors.New("--mode interactive is not implemented yet: use --mode dump"))
			default:
				return usageError(fmt.Errorf("invalid --mode %q: use dump or raw", opts.mode))
			}
			c, err := opts.control.client(cmd)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), g, opts, c)
		},
	}
	addControlFlags(cmd, &opts.control)
	cmd.Flags().StringVar(&opts.mode, "mode", "dump", "output: dump (text) or raw (JSON)")
	cmd.Flags().StringVar(&opts.job, "job", "", "show only this job")
	return cmd
}

func runStatus(ctx context.Context, g *globalOptions, opts *statusOptions, c *controlClient) error {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	raw, err := c.do(ctx, "GET", "/status", nil, nil)
	if err != nil {
		return asCLIError(err)
	}
	var st job.DaemonStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("the daemon on %s sent a status this client cannot read (%v): is it the same raftsnap version?", c.sock, err)
	}
	if opts.job != "" && !slices.Contains(statusview.JobNames(st), opts.job) {
		return usageError(fmt.Errorf("the daemon has no job named %q; jobs: %s", opts.job, strings.Join(statusview.JobNames(st), ", ")))
	}

	if opts.mode == "raw" {
		out, err := rawStatus(raw, opts.job)
		if err != nil {
			return fmt.Errorf("the daemon on %s sent a malformed status: %v", c.sock, err)
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
