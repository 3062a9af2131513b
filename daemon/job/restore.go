package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// SnapshotLatest selects the newest verified snapshot (see
// retention.NewestVerified).
const SnapshotLatest = "latest"

// RestoreOptions configure NewRestoreJob.
type RestoreOptions struct {
	Name  string
	Store store.Store
	// Snapshot is "latest" (the default) or a snapshot's file name.
	Snapshot string
	// FromJob, when set, limits "latest" to the snapshots that job wrote.
	FromJob string
	Target  source.Source
	// SkipFlavorCheck sends a snapshot the target cannot read (a Nomad
	// snapshot into Consul...), which crashes its leader: for a
	// deliberate override only (source.CheckFlavor).
	SkipFlavorCheck bool
	// Timeout bounds the whole restore (0: none).
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics Metrics
	Now     func() time.Time
}

// RestoreJob restores a stored snapshot into a target, only when woken up.
type RestoreJob struct {
	*runner
	opts  RestoreOptions
	owner retention.Owner
}

var _ Job = (*RestoreJob)(nil)

// NewRestoreJob checks opts and builds the job.
func NewRestoreJob(opts RestoreOptions) (*RestoreJob, error) {
	if err := checkOptions(config.JobRestore, opts.Name,
		optionCheck{opts.Store == nil, "no store"},
		optionCheck{opts.Target == nil, "no target"},
		optionCheck{opts.Timeout < 0, "timeout must not be negative"}); err != nil {
		return nil, err
	}
	if opts.Snapshot == "" {
		opts.Snapshot = SnapshotLatest
	}
	j := &RestoreJob{opts: opts, owner: ownerFromJob(opts.FromJob)}
	// No interval: a restore job runs only when woken up.
	j.runner = newStoreJobRunner(opts.Name, config.JobRestore, opts.Logger, opts.Metrics, opts.Now, 0, 0)
	j.target, j.snapshot = opts.Target.String(), opts.Snapshot
	j.checkSource = sourceCheck(opts.Target)
	j.execute = j.run
	j.runner.refreshStore = func() { j.refreshStore() }
	return j, nil
}

func (j *RestoreJob) refreshStore() []store.Entry {
	return j.refreshJobStore(j.opts.Store, j.owner)
}

func (j *RestoreJob) run(ctx context.Context, run *activeRun) (err error) {
	// The run's own context, not the timeout's: a restore that timed out
	// failed (and must count as such for the alert); only a reset or a
	// shutdown cancels it.
	runCtx := ctx
	defer func() {
		result := controlapi.ResultSuccess
		if err != nil {
			result = controlapi.ResultFailure
			if runCtx.Err() != nil {
				result = controlapi.ResultCanceled
			}
		}
		j.metrics.RestoreFinished(j.name, result)
	}()
	if j.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.opts.Timeout)
		defer cancel()
	}
	run.report.Attempts = 1
	run.startAttempt(1, controlapi.PhaseListing, j.now())
	name, err := j.pick(run)
	if err != nil {
		return err
	}
	run.report.Snapshot = name
	run.setPhase(controlapi.PhaseVerifying)
	target := j.opts.Target
	// The head first (meta.json, whose state): a snapshot the target cannot
	// read is refused before a request is made.
	head, entry, err := store.ReadHead(ctx, j.opts.Store, name, run.logger)
	if err != nil {
		var verr *store.VerificationError
		if errors.As(err, &verr) || ctx.Err() != nil {
			return fmt.Errorf("not restoring into %s: %w", target, err)
		}
		return &StoreError{Err: err}
	}
	if !j.opts.SkipFlavorCheck {
		if err := source.CheckFlavor(target, head.Flavor, head.FlavorReason, false); err != nil {
			return fmt.Errorf("not restoring into %s: %w; nothing was sent (skip_flavor_check: true in this job sends it anyway)", target, err)
		}
	}
	run.report.Bytes, run.report.Index, run.report.Term = entry.Size, head.Meta.Index, head.Meta.Term
	run.startAttempt(1, controlapi.PhaseRestoring, j.now())
	run.setExpected(entry.Size)
	run.logger.Info("restoring snapshot", "snapshot", name, "index", head.Meta.Index, "term", head.Meta.Term, "target", target.String())
	// One pass: the archive is verified as it is sent, its end held back
	// until all of it (and its record's size and SHA-256) passed.
	_, _, err = store.Send(ctx, j.opts.Store, name, source.SendOptions(target, j.opts.SkipFlavorCheck, nil), run.logger,
		func(archive io.Reader, size int64) error {
			return target.Restore(ctx, io.TeeReader(archive, countingWriter{run}), size)
		})
	if err != nil {
		var readErr *store.ReadError
		var cut *snapshot.CutError
		switch {
		case errors.As(err, &readErr):
			return &StoreError{Err: err}
		case j.opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return &TimeoutError{Timeout: j.opts.Timeout, Err: err}
		case errors.As(err, &cut) && cut.Sent == 0:
			return fmt.Errorf("not restoring into %s: %w", target, err)
		case errors.As(err, &cut):
			return fmt.Errorf("restore into %s stopped: %w", target, err)
		}
		return err
	}
	j.refreshStore()
	return nil
}

// pick resolves the configured snapshot to a name in the store.
func (j *RestoreJob) pick(run *activeRun) (string, error) {
	_, entries, err := j.storeSummary(j.opts.Store, j.owner)
	if err != nil {
		return "", err
	}
	if j.opts.Snapshot != SnapshotLatest {
		if _, err := j.opts.Store.Get(context.Background(), j.opts.Snapshot); err != nil {
			return "", &StoreError{Err: err}
		}
		return j.opts.Snapshot, nil
	}
	latest, err := newestVerified(entries, j.now(), j.opts.FromJob, j.opts.Store, "restore")
	if err != nil {
		return "", err
	}
	// Verified snapshots newer than latest can only be dated in the
	// future: say which were passed over.
	for _, e := range entries { // newest first
		if e.Name == latest.Name {
			break
		}
		if e.Verified {
			run.logger.Warn("restoring latest: passing over a newer snapshot dated in the future", "skipped", e.Name, "created_at", e.CreatedAt, "snapshot", latest.Name)
			run.report.Warnings = append(run.report.Warnings, fmt.Sprintf(
				"passed over %s, newer but dated %s in the future (its date is not trusted)", e.Name, e.CreatedAt.Sub(j.now()).Round(time.Second)))
		}
	}
	return latest.Name, nil
}
