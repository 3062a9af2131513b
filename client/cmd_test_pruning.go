package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

func newTestCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Dry runs: show what the daemon would do, without doing it",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError(fmt.Errorf("%s needs a subcommand: pruning", cmd.CommandPath()))
		},
	}
	cmd.AddCommand(newTestPruningCommand(g))
	return cmd
}

type testPruningOptions struct {
	configPath    string
	job           string
	now           string
	snapshotsFile string
	format        string
	// store picks one of a job's several stores.
	store string
}

func newTestPruningCommand(g *globalOptions) *cobra.Command {
	opts := &testPruningOptions{}
	cmd := &cobra.Command{
		Use:   "pruning --job NAME",
		Short: "Show which snapshots a job's retention policy keeps or destroys, and why",
		Long: `Evaluate a job's pruning policy and print every snapshot with KEEP or DESTROY
and the reasons, then a summary. Nothing is deleted.

By default the snapshots are the ones in the job's store that the job owns
(other files are listed as foreign and ignored), planned exactly as the
daemon's pruning pass does, minus the deletes. The dry run trusts each
sidecar's verdict: before destroying anything, the daemon verifies the
newest verified snapshot again and destroys nothing if it fails. With
--snapshots FILE they are read from FILE instead, to preview a policy before
adopting it: one RFC 3339 timestamp per line, optionally followed by a name;
blank lines and lines starting with # are ignored; every one counts as
verified. "-" reads standard input.`,
		Example: `  raftsnap test pruning --config /etc/raftsnap/raftsnap.yml --job consul-main
  raftsnap test pruning --config raftsnap.yml --job consul-main --snapshots times.txt --now 2026-11-20T12:00:00Z`,
		Args: noArgsHint("name the job with --job"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTestPruning(g, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configPath, "config", config.DefaultPath, "configuration file")
	cmd.Flags().StringVar(&opts.job, "job", "", "the snapshot or prune job whose policy to evaluate (required)")
	_ = cmd.RegisterFlagCompletionFunc("job", configJobNames(&opts.configPath))
	cmd.Flags().StringVar(&opts.now, "now", "", "evaluate as if it were this RFC 3339 time (default: the current time)")
	cmd.Flags().StringVar(&opts.snapshotsFile, "snapshots", "", `evaluate over the timestamps in this file ("-" for stdin) instead of the store`)
	cmd.Flags().StringVar(&opts.format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&opts.store, "store", "", "for a job with several stores: the one to evaluate, by its name or location (its own pruning, else the job's)")
	return cmd
}

// pruningReport is the --format json output.
type pruningReport struct {
	Job       string               `json:"job"`
	JobType   string               `json:"job_type"`
	Policy    string               `json:"policy"`
	Now       time.Time            `json:"now"`
	Store     string               `json:"store,omitempty"`
	Snapshots string               `json:"snapshots_file,omitempty"`
	Decisions []retention.Decision `json:"decisions"`
	Foreign   []retention.Ignored  `json:"foreign"`
	Summary   pruningSummaryJSON   `json:"summary"`
}

type pruningSummaryJSON struct {
	Snapshots int `json:"snapshots"`
	Kept      int `json:"kept"`
	Destroyed int `json:"destroyed"`
	Foreign   int `json:"foreign"`
}

func runTestPruning(g *globalOptions, opts *testPruningOptions) error {
	if opts.job == "" {
		return usageError(errors.New("--job is required: name the snapshot or prune job whose policy to evaluate"))
	}
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	now := time.Now()
	if opts.now != "" {
		t, err := time.Parse(time.RFC3339Nano, opts.now)
		if err != nil {
			return usageError(fmt.Errorf("invalid --now %q: want an RFC 3339 time such as 2026-11-20T12:00:00Z", opts.now))
		}
		now = t
	}

	cfg, err := config.Load(opts.configPath)
	if err != nil {
		var list *config.Errors
		if errors.As(err, &list) {
			for _, e := range list.List {
				fmt.Fprintln(g.stderr, e.Error())
			}
			return usageError(fmt.Errorf("%s is not a valid configuration (run raftsnap configcheck --config %s)", opts.configPath, opts.configPath))
		}
		return err
	}
	job, err := findPruningJob(cfg, opts.job)
	if err != nil {
		return usageError(err)
	}
	cs, pruning, err := pickPruningStore(job, opts.store)
	if err != nil {
		return usageError(err)
	}
	policy, err := pruning.Policy()
	if err != nil {
		return usageError(fmt.Errorf("job %s: pruning: %w", job.Name, err))
	}

	report := &pruningReport{Job: job.Name, JobType: job.Type, Policy: policy.String(), Now: now, Foreign: []retention.Ignored{}}
	if opts.snapshotsFile != "" {
		report.Snapshots = opts.snapshotsFile
		snaps, err := readSnapshotsFile(g.stdin, opts.snapshotsFile)
		if err != nil {
			return err
		}
		report.Decisions = retention.Decide(policy, snaps, now).Decisions
	} else {
		if cs == nil {
			return usageError(fmt.Errorf("job %s has no store to read snapshots from; use --snapshots FILE", job.Name))
		}
		report.Store = cs.Location()
		st, err := openStoreReadOnly(cs, g.logger)
		if err != nil {
			return err
		}
		defer st.Close()
		// The daemon's pass, minus the deletes (see retention.PassOptions).
		res, err := retention.Prune(context.Background(), st, policy, retention.PassOptions{Owner: jobOwner(job), Now: now, DryRun: true})
		if err != nil {
			return storeReadError(cs.Location(), err)
		}
		report.Decisions, report.Foreign = res.Decisions, append(report.Foreign, res.Ignored...)
	}
	if report.Decisions == nil {
		report.Decisions = []retention.Decision{}
	}
	kept, destroyed := retention.Counts(report.Decisions)
	report.Summary = pruningSummaryJSON{Snapshots: len(report.Decisions), Kept: kept, Destroyed: destroyed, Foreign: len(report.Foreign)}

	if opts.format == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return writePruningText(g.stdout, report)
}

// findPruningJob returns the named job if it has a pruning policy.
func findPruningJob(cfg *config.Config, name string) (*config.Job, error) {
	var names []string
	for i := range cfg.Jobs {
		job := &cfg.Jobs[i]
		if job.Name == name {
			if job.Pruning == nil && !ownPruning(job) {
				return nil, fmt.Errorf("job %s is a %s job: it has no pruning policy (only snapshot and prune jobs prune)", name, job.Type)
			}
			return job, nil
		}
		if job.Pruning != nil || ownPruning(job) {
			names = append(names, job.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no job named %s, and no job in the configuration has a pruning policy", name)
	}
	return nil, fmt.Errorf("no job named %s; jobs with a pruning policy: %s", name, strings.Join(names, ", "))
}

// jobOwner is what the daemon's job owns: a snapshot job its own entries, a
// prune job its owners' (every entry when it names none).
func jobOwner(job *config.Job) retention.Owner {
	if job.Type == config.JobPrune {
		return retention.OwnedBy(job.Owners...)
	}
	return retention.OwnedBy(job.Name)
}

// ownPruning tells whether one of a job's stores has a pruning of its own.
func ownPruning(job *config.Job) bool {
	for _, st := range job.StoreList() {
		if st.Pruning != nil {
			return true
		}
	}
	return false
}

// pickPruningStore is the store of job to evaluate (label: its name or
// location, for a job with several) and the retention that applies to it:
// its own, else the job's. The store is nil for a job without one.
func pickPruningStore(job *config.Job, label string) (*config.Store, *config.Pruning, error) {
	stores := job.StoreList()
	var labels []string
	for _, st := range stores {
		if label == "" && len(stores) == 1 || label != "" && (st.Label() == label || st.Location() == label) {
			if st.Pruning != nil {
				return st, st.Pruning, nil
			}
			return st, job.Pruning, nil
		}
		labels = append(labels, st.Label())
	}
	switch {
	case len(stores) == 0 && label == "":
		return nil, job.Pruning, nil
	case label == "":
		return nil, nil, fmt.Errorf("job %s keeps its snapshots in %d stores, each with its retention: name one with --store (%s)",
			job.Name, len(stores), strings.Join(labels, ", "))
	}
	return nil, nil, fmt.Errorf("job %s has no store %s; its stores: %s", job.Name, label, strings.Join(labels, ", "))
}

// openStoreReadOnly opens a store block's store without changing it: a
// daemon may be writing to it right now. For a directory, store.Open is not
// used on purpose: it removes temp files and settles orphaned archives,
// which would break a write the running daemon has in progress; a dry run
// must change nothing. An object store changes nothing by opening, and
// only reads when listed.
func openStoreReadOnly(cs *config.Store, logger *slog.Logger) (store.Store, error) {
	if cs.IsRemote() {
		return openBucket(cs, cs.Label(), logger)
	}
	st, err := store.OpenReadOnly(cs.Path)
	if err != nil {
		return nil, storeReadError(cs.Path, err)
	}
	return st, nil
}

// openBucket opens an object store block's bucket under label; a bad
// block (its URL or settings) is a usage error.
func openBucket(cs *config.Store, label string, logger *slog.Logger) (store.Store, error) {
	st, err := bucket.Open(cs.BucketConfig(), bucket.Options{Name: label}, logger)
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}

func storeReadError(dir string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store %s does not exist: the job has not written a snapshot yet (use --snapshots FILE to preview the policy)", dir)
	}
	return fmt.Errorf("reading store: %w", err)
}

// readSnapshotsFile parses --snapshots: "TIMESTAMP [NAME]" per line.
func readSnapshotsFile(stdin io.Reader, path string) ([]retention.Snapshot, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading --snapshots: %w", err)
	}
	var snaps []retention.Snapshot
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) > 2 {
			return nil, usageError(fmt.Errorf("%s:%d: unexpected %q after the name: write a timestamp, optionally followed by a name without spaces", path, line, fields[2]))
		}
		created, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return nil, usageError(fmt.Errorf("%s:%d: %q is not an RFC 3339 timestamp such as 2026-11-20T12:00:00Z", path, line, fields[0]))
		}
		name := fields[0]
		if len(fields) == 2 {
			name = fields[1]
		}
		snaps = append(snaps, retention.Snapshot{Name: name, Created: created, Verified: true})
	}
	if err := sc.Err(); err != nil {
		return nil, usageError(fmt.Errorf("%s: %w", path, err))
	}
	if len(snaps) == 0 {
		return nil, usageError(fmt.Errorf("%s lists no snapshots: write one RFC 3339 timestamp per line", path))
	}
	return snaps, nil
}

func writePruningText(w io.Writer, r *pruningReport) error {
	fmt.Fprintf(w, "job:     %s (%s)\n", r.Job, r.JobType)
	fmt.Fprintf(w, "policy:  %s\n", r.Policy)
	fmt.Fprintf(w, "now:     %s\n", r.Now.Format(time.RFC3339))
	if r.Store != "" {
		fmt.Fprintf(w, "from:    store %s\n\n", r.Store)
	} else {
		fmt.Fprintf(w, "from:    %s\n\n", r.Snapshots)
	}
	if len(r.Decisions) > 0 {
		if err := retention.WriteTable(w, r.Decisions); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	for _, f := range r.Foreign {
		fmt.Fprintf(w, "IGNORED  %s: foreign, ignored (%s)\n", f.Name, f.Reason)
	}
	if len(r.Foreign) > 0 {
		fmt.Fprintln(w)
	}
	s := r.Summary
	_, err := fmt.Fprintf(w, "%d snapshots: %d kept, %d destroyed; %d foreign files ignored\n", s.Snapshots, s.Kept, s.Destroyed, s.Foreign)
	return err
}
