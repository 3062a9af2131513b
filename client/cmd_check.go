package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Exit codes of `raftsnap check`, the monitoring-plugins convention
// (Nagios, Icinga, Sensu, Zabbix agents...). They differ from the other
// commands' on purpose: monitoring systems read them.
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

var checkStateNames = []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// checkTimeout bounds asking the daemon.
const checkTimeout = 10 * time.Second

type checkOptions struct {
	control              controlOptions
	job                  string
	warn, crit           time.Duration
	drillWarn, drillCrit time.Duration
	fromStore            bool
	// store is a store given by location (a directory or a store URL):
	// its jobs are checked from their records, against --crit.
	store string
}

// signalOnlyDrillPeriod is how often a drill job without an interval is
// expected to prove a snapshot restorable (the shipped drill-age alert
// assumes the same): weekly.
const signalOnlyDrillPeriod = 7 * 24 * time.Hour

func newCheckCommand(g *globalOptions) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check [--job NAME] [--warn AGE] [--crit AGE] [--drill-warn AGE] [--drill-crit AGE] [--from-store --config FILE | --store DIR|URL]",
		Short: "Check that snapshots are fresh and proven restorable, for monitoring systems (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
		Long: `Check every scheduled job (or --job NAME) and print one summary line with
performance data, in the monitoring-plugins convention: exit 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (the daemon or the store could not be asked, or the job
does not exist).

A job is CRITICAL when its last success is older than --crit (default: two
of its intervals) and WARNING when older than --warn (default: one and a half
intervals), when its last run failed, or when it reports a problem (a token
it cannot read). The worst job decides the exit code.

A drill job (docs/drills.md) is CRITICAL when its last drill failed (the
snapshot did not restore, or the restored server reported other state than
the archive holds) or when its last successful drill is older than
--drill-crit (default: two of its intervals, or two weeks for a drill run
only on signal), and WARNING when older than --drill-warn (default: one and
a half) or when its last run could not drill at all (no binary, a server
that never led).
By default the daemon is asked over its control socket. With --from-store
the stores named in --config are read instead (read-only): a monitoring host
can check the snapshots even when the agent is down. Drill outcomes are then
read from the snapshots' records.

With --store DIR|URL (a directory, or s3://, azblob://, gs:// as in raftsnap
store) a store is read without any configuration, on a host that has only the
store's credentials: every job whose snapshots it holds is checked (or --job
NAME), and so is every drill recorded on them. No interval is known there:
--crit is required (--warn defaults to three quarters of it), and drill ages
default to two weeks.`,
		Example: `  raftsnap check
  raftsnap check --job consul-main --warn 90m --crit 2h
  raftsnap check --job consul-drill --drill-crit 3d
  raftsnap check --from-store --config /etc/raftsnap/raftsnap.yml
  raftsnap check --store 's3://backups/consul/?region=eu-west-1' --job consul-main --crit 2h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := runCheck(cmd, g, opts)
			if code == checkOK {
				return nil
			}
			return &silentError{code: code}
		},
	}
	addControlFlags(cmd, &opts.control)
	cmd.Flags().StringVar(&opts.job, "job", "", "check only this job")
	cmd.Flags().DurationVar(&opts.warn, "warn", 0, "WARNING when the last success is older (default: 1.5 intervals)")
	cmd.Flags().DurationVar(&opts.crit, "crit", 0, "CRITICAL when the last success is older (default: 2 intervals)")
	cmd.Flags().DurationVar(&opts.drillWarn, "drill-warn", 0, "drill jobs: WARNING when the last successful drill is older (default: 1.5 intervals)")
	cmd.Flags().DurationVar(&opts.drillCrit, "drill-crit", 0, "drill jobs: CRITICAL when the last successful drill is older (default: 2 intervals; 2 weeks without one)")
	cmd.Flags().BoolVar(&opts.fromStore, "from-store", false, "read the stores of --config instead of asking the daemon")
	cmd.Flags().StringVar(&opts.store, "store", "", "read this store (a directory or a store URL) instead of asking the daemon; needs --crit")
	cmd.MarkFlagsMutuallyExclusive("from-store", "store")
	_ = cmd.RegisterFlagCompletionFunc("job", daemonJobs(&opts.control))
	return cmd
}

// checkedJob is what check needs of a job, from the daemon or a store.
type checkedJob struct {
	name        string
	interval    time.Duration
	lastSuccess *time.Time
	lastFailed  bool
	lastError   string
	problem     string
	// drill is set for drill jobs; lastSuccess is then the last drill
	// that proved a snapshot restorable.
	drill *checkedDrill
	// standby: this agent stands by for the job (ha); the active agent's
	// check judges it, and `check --from-store` the shared store.
	standby bool
}

// checkedDrill is what check needs of a drill job.
type checkedDrill struct {
	// last is the last conclusive drill (ok or failed), nil when none.
	last *controlapi.DrillOutcome
	// since, when set, is when the daemon started: a drill job younger
	// than its period is not held to it yet.
	since time.Time
}

// runCheck prints the summary line and returns the exit code.
func runCheck(cmd *cobra.Command, g *globalOptions, opts *checkOptions) int {
	if opts.warn < 0 || opts.crit < 0 || (opts.warn > 0 && opts.crit > 0 && opts.warn > opts.crit) ||
		opts.drillWarn < 0 || opts.drillCrit < 0 || (opts.drillWarn > 0 && opts.drillCrit > 0 && opts.drillWarn > opts.drillCrit) {
		return unknown(g.stdout, errors.New("--warn, --crit, --drill-warn and --drill-crit must be positive, and each warning age no longer than its critical one"))
	}
	var (
		jobs []checkedJob
		now  time.Time
		err  error
	)
	switch {
	case opts.store != "":
		if opts.crit <= 0 {
			return unknown(g.stdout, errors.New("--store needs --crit: a store does not say how often its jobs run"))
		}
		if opts.warn == 0 {
			opts.warn = opts.crit * 3 / 4
		}
		jobs, now, err = jobsFromStoreLocation(cmd.Context(), g, opts.store)
	case opts.fromStore:
		jobs, now, err = jobsFromStores(cmd.Context(), opts)
	default:
		jobs, now, err = jobsFromDaemon(cmd, opts)
	}
	if err != nil {
		return unknown(g.stdout, err)
	}
	if opts.job != "" {
		var names []string
		for _, j := range jobs {
			if j.name == opts.job {
				jobs = []checkedJob{j}
				names = nil
				break
			}
			names = append(names, j.name)
		}
		if names != nil || len(jobs) == 0 {
			return unknown(g.stdout, fmt.Errorf("no scheduled or drill job named %s (jobs: %s)", opts.job, strings.Join(names, ", ")))
		}
	}
	if len(jobs) == 0 {
		return unknown(g.stdout, errors.New("no scheduled or drill job to check"))
	}
	worst := checkOK
	var notes, perf []string
	fresh, drilled, standbys := 0, 0, 0
	for _, j := range jobs {
		if j.standby {
			standbys++
			continue
		}
		var state int
		var note, p string
		if j.drill != nil {
			state, note, p = checkDrill(j, opts, now)
			drilled++
		} else {
			state, note, p = checkFreshness(j, opts, now)
			fresh++
		}
		worst = max(worst, state)
		if note != "" {
			notes = append(notes, note)
		}
		if p != "" {
			perf = append(perf, p)
		}
	}
	summary := fmt.Sprintf("%d jobs fresh", fresh)
	switch {
	case drilled > 0 && fresh > 0:
		summary += fmt.Sprintf(", %d drills ok", drilled)
	case drilled > 0:
		summary = fmt.Sprintf("%d drills ok", drilled)
	}
	if standbys > 0 {
		summary += fmt.Sprintf(", %d standby (ha)", standbys)
	}
	if len(notes) > 0 {
		summary = strings.Join(notes, "; ")
	}
	line := fmt.Sprintf("RAFTSNAP %s - %s", checkStateNames[worst], summary)
	if len(perf) > 0 {
		line += " | " + strings.Join(perf, " ")
	}
	fmt.Fprintln(g.stdout, line)
	return worst
}

// checkFreshness judges a snapshot or prune job by its last success.
func checkFreshness(j checkedJob, opts *checkOptions, now time.Time) (state int, note, perf string) {
	age, warn, crit := lastSuccessAge(j, now, j.interval, opts.warn, opts.crit)
	if j.lastSuccess == nil {
		state, note = checkCritical, j.name+" never succeeded"
	} else {
		state, note = ageState(age, warn, crit, j.name+" last succeeded")
	}
	state, note = orJobProblem(j, state, note, j.name+" last run failed: ")
	return state, note, agePerf(j.name+"_age", age, warn, crit)
}

// lastSuccessAge is how long ago j last succeeded (-1 when never), and the
// warn and crit thresholds for that age: those given, else one and a half
// and two periods.
func lastSuccessAge(j checkedJob, now time.Time, period, warn, crit time.Duration) (age, warnAt, critAt time.Duration) {
	if warn == 0 {
		warn = period * 3 / 2
	}
	if crit == 0 {
		crit = 2 * period
	}
	age = time.Duration(-1)
	if j.lastSuccess != nil {
		age = max(now.Sub(*j.lastSuccess), 0)
	}
	return age, warn, crit
}

// ageState judges an age against its thresholds: critical past crit,
// warning past warn, with the note "<what> <age> ago (crit|warn <limit>)".
func ageState(age, warn, crit time.Duration, what string) (state int, note string) {
	switch {
	case age > crit:
		return checkCritical, fmt.Sprintf("%s %s ago (crit %s)", what, roundAge(age), crit)
	case age > warn:
		return checkWarning, fmt.Sprintf("%s %s ago (warn %s)", what, roundAge(age), warn)
	}
	return checkOK, ""
}

// orJobProblem is state and note, unless they are OK and j has a problem
// (a warning naming it) or its last run failed (a warning: failedNote and
// the error).
func orJobProblem(j checkedJob, state int, note, failedNote string) (int, string) {
	switch {
	case state != checkOK:
		return state, note
	case j.problem != "":
		return checkWarning, j.name + ": " + oneLine(j.problem)
	case j.lastFailed:
		return checkWarning, failedNote + oneLine(j.lastError)
	}
	return state, note
}

// agePerf is the Nagios performance datum label=age;warn;crit;0 in
// seconds, "" for an unknown (negative) age.
func agePerf(label string, age, warn, crit time.Duration) string {
	if age < 0 {
		return ""
	}
	return fmt.Sprintf("'%s'=%.0fs;%.0f;%.0f;0", label, age.Seconds(), warn.Seconds(), crit.Seconds())
}

// checkDrill judges a drill job: its last conclusive drill must have
// proven its snapshot restorable, recently enough.
func checkDrill(j checkedJob, opts *checkOptions, now time.Time) (state int, note, perf string) {
	period := j.interval
	if period <= 0 {
		period = signalOnlyDrillPeriod
	}
	age, warn, crit := lastSuccessAge(j, now, period, opts.drillWarn, opts.drillCrit)
	last := j.drill.last
	switch {
	case last != nil && last.Result == controlapi.DrillFailed:
		note = fmt.Sprintf("drill %s failed on %s %s ago", j.name, last.Snapshot, roundAge(max(now.Sub(last.At), 0)))
		if last.Reason != "" {
			note += ": " + oneLine(last.Reason)
		}
		state = checkCritical
	case j.lastSuccess == nil && !j.drill.since.IsZero() && now.Sub(j.drill.since) < period:
		// Too young to tell.
	case j.lastSuccess == nil:
		state, note = checkCritical, fmt.Sprintf("drill %s has proven no snapshot restorable yet", j.name)
	default:
		state, note = ageState(age, warn, crit, "drill "+j.name+" last proved a snapshot restorable")
	}
	state, note = orJobProblem(j, state, note, "drill "+j.name+" could not run: ")
	return state, note, agePerf(j.name+"_drill_age", age, warn, crit)
}

func unknown(w io.Writer, err error) int {
	fmt.Fprintf(w, "RAFTSNAP UNKNOWN - %s\n", oneLine(err.Error()))
	return checkUnknown
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// jobsFromDaemon asks the daemon for its scheduled jobs.
func jobsFromDaemon(cmd *cobra.Command, opts *checkOptions) ([]checkedJob, time.Time, error) {
	c, err := opts.control.client(cmd)
	if err != nil {
		return nil, time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), checkTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	var jobs []checkedJob
	for _, j := range st.Jobs {
		if j.Type == config.JobDrill {
			cj := checkedJob{name: j.Name, interval: time.Duration(j.IntervalSeconds * float64(time.Second)), lastSuccess: j.LastSuccessAt,
				problem: j.Problem, drill: &checkedDrill{last: j.LastDrill, since: st.StartedAt}}
			// A run that could not drill (its failure is in no record):
			// the last run, not a canceled one.
			if j.LastRun != nil && j.LastRun.Result == controlapi.ResultFailure && j.LastRun.Drill != nil &&
				j.LastRun.Drill.Outcome == controlapi.DrillError {
				cj.lastFailed, cj.lastError = true, j.LastRun.Error
			}
			jobs = append(jobs, cj)
			continue
		}
		if j.IntervalSeconds <= 0 {
			continue
		}
		cj := checkedJob{name: j.Name, interval: time.Duration(j.IntervalSeconds * float64(time.Second)), lastSuccess: j.LastSuccessAt, problem: j.Problem,
			standby: j.HA != nil && j.HA.Role != controlapi.RoleActive}
		if j.LastRun != nil && j.LastRun.Result == controlapi.ResultFailure {
			cj.lastFailed, cj.lastError = true, j.LastRun.Error
		}
		if cj.lastSuccess == nil && !st.StartedAt.IsZero() && now.Sub(st.StartedAt) < cj.interval {
			// Too young to tell: count the daemon's start as the last
			// success, so that a fresh start is not CRITICAL at once.
			started := st.StartedAt
			cj.lastSuccess = &started
		}
		jobs = append(jobs, cj)
	}
	return jobs, now, nil
}

// jobsFromStores reads the snapshot jobs' stores named in the
// configuration: the newest verified snapshot of each job (by raft
// position) is its last success.
func jobsFromStores(ctx context.Context, opts *checkOptions) ([]checkedJob, time.Time, error) {
	path := opts.control.config
	if path == "" {
		path = config.DefaultPath
	}
	cfg, err := config.LoadWith(path, config.Options{UID: os.Geteuid(), SkipDirChecks: true})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s is not a valid configuration (run raftsnap configcheck)", path)
	}
	now := time.Now()
	var jobs []checkedJob
	for _, j := range cfg.Jobs {
		if j.Type == config.JobDrill && len(j.StoreList()) > 0 {
			cj, err := drillFromStore(ctx, j, now)
			if err != nil {
				return nil, now, err
			}
			jobs = append(jobs, cj)
			continue
		}
		if j.Type != config.JobSnapshot || len(j.StoreList()) == 0 {
			continue
		}
		st, err := openJobStoresReadOnly(&j)
		if err != nil {
			return nil, now, fmt.Errorf("job %s: %w", j.Name, err)
		}
		entries, _, err := st.List(ctx)
		st.Close()
		if err != nil {
			return nil, now, fmt.Errorf("job %s: %w", j.Name, err)
		}
		jobs = append(jobs, snapshotJobFromEntries(j.Name, j.Interval.Std(), entries, now))
	}
	return jobs, now, nil
}

// jobsFromStoreLocation reads the store at loc (a directory or a store
// URL): one checked job per job whose snapshots it holds, and one per
// drill job recorded on them.
func jobsFromStoreLocation(ctx context.Context, g *globalOptions, loc string) ([]checkedJob, time.Time, error) {
	cs, err := config.ParseStoreLocation(loc)
	if err != nil {
		return nil, time.Time{}, err
	}
	st, err := openStoreReadOnly(cs, g.logger)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer st.Close()
	entries, _, err := st.List(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := time.Now()
	var snapshotJobs, drillJobs []string
	for _, e := range entries {
		if !slices.Contains(snapshotJobs, e.Job) {
			snapshotJobs = append(snapshotJobs, e.Job)
		}
		if e.Drill != nil && !slices.Contains(drillJobs, e.Drill.Job) {
			drillJobs = append(drillJobs, e.Drill.Job)
		}
	}
	if len(snapshotJobs) == 0 {
		return nil, now, fmt.Errorf("%s holds no snapshot", cs.Location())
	}
	var jobs []checkedJob
	for _, name := range snapshotJobs {
		jobs = append(jobs, snapshotJobFromEntries(name, 0, entries, now))
	}
	for _, name := range drillJobs {
		jobs = append(jobs, drillJobFromEntries(name, 0, entries, now))
	}
	return jobs, now, nil
}

// snapshotJobFromEntries judges a snapshot job by the records of a store:
// the newest verified snapshot of the job (by raft position) is its last
// success.
func snapshotJobFromEntries(name string, interval time.Duration, entries []store.Entry, now time.Time) checkedJob {
	cj := checkedJob{name: name, interval: interval}
	var mine []store.Entry
	for _, e := range entries {
		if e.Job == name {
			mine = append(mine, e)
		}
	}
	store.SortNewestFirst(mine)
	if newest, ok := retention.NewestVerified(retention.FromEntries(mine), now); ok {
		t := newest.Created
		if t.After(now) {
			t = now // a future date is not trusted, not held against the job either
		}
		cj.lastSuccess = &t
	}
	return cj
}

// drillFromStore reads a drill job's outcomes from the records of the
// snapshots in its store.
func drillFromStore(ctx context.Context, j config.Job, now time.Time) (checkedJob, error) {
	st, err := openJobStoresReadOnly(&j)
	if err != nil {
		return checkedJob{}, fmt.Errorf("job %s: %w", j.Name, err)
	}
	entries, _, err := st.List(ctx)
	st.Close()
	if err != nil {
		return checkedJob{}, fmt.Errorf("job %s: %w", j.Name, err)
	}
	return drillJobFromEntries(j.Name, j.Interval.Std(), entries, now), nil
}

// drillJobFromEntries reads a drill job's outcomes from the records of the
// snapshots it drilled.
func drillJobFromEntries(name string, interval time.Duration, entries []store.Entry, now time.Time) checkedJob {
	cj := checkedJob{name: name, interval: interval, drill: &checkedDrill{}}
	for _, e := range entries {
		d := e.Drill
		if d == nil || d.Job != name {
			continue
		}
		at := d.At
		if at.After(now) {
			at = now // a future date is not trusted, not held against the job either
		}
		if last := cj.drill.last; last == nil || at.After(last.At) {
			cj.drill.last = &controlapi.DrillOutcome{Snapshot: e.Name, Result: d.Result, At: at, Reason: d.Reason, Index: d.Index, Server: d.Server}
		}
		if d.Result == store.DrillOK && (cj.lastSuccess == nil || at.After(*cj.lastSuccess)) {
			t := at
			cj.lastSuccess = &t
		}
	}
	return cj
}

// openJobStoresReadOnly opens a job's store, or its stores read as one
// (a snapshot job's newest verified snapshot may be in any of them).
func openJobStoresReadOnly(j *config.Job) (store.Store, error) {
	var list []store.Store
	for _, cs := range j.StoreList() {
		st, err := openStoreReadOnly(cs, nil)
		if err != nil {
			for _, opened := range list {
				opened.Close()
			}
			return nil, err
		}
		list = append(list, st)
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return &closingUnion{Union: store.NewUnion(list...), stores: list}, nil
}

// closingUnion is a Union that closes its stores with it (a Union leaves
// them to their owners: here, itself).
type closingUnion struct {
	*store.Union
	stores []store.Store
}

func (u *closingUnion) Close() error {
	for _, st := range u.stores {
		st.Close()
	}
	return nil
}
