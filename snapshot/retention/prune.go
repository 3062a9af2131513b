package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// PassOptions configure Prune.
type PassOptions struct {
	// Owner says which entries the pass may plan over and destroy.
	Owner Owner
	Now   time.Time
	// JustVerified names the snapshot the calling run has just written and
	// verified: the guard need not read it again.
	JustVerified string
	// DryRun plans exactly as a real pass does and destroys nothing, as
	// restic's forget --dry-run. It does not re-verify the protected
	// snapshots either: that reads whole archives and records the verdict
	// in the store, and a dry run changes nothing (it may run against a
	// store opened with store.OpenReadOnly). Its decisions are the real
	// pass's as long as the protected snapshots still verify; when one does
	// not, the real pass destroys nothing.
	DryRun bool
	// Logger hears what the pass does (nil: discard).
	Logger *slog.Logger
}

// Ignored is a store file the pass did not consider, and why.
type Ignored struct {
	Name string `json:"name"`
	// Reason says why: another job's snapshot, or a file that is not a
	// listed snapshot (with the store's explanation).
	Reason string `json:"reason"`
}

// Result is what a pass decided and did.
type Result struct {
	// Decisions are as Decide made them, except that a snapshot whose
	// delete failed is kept (ReasonDeleteFailed). In a dry run, Keep false
	// means "would be destroyed".
	Decisions []Decision
	// Ignored lists the store's foreign files, then the entries of other
	// jobs, in the store's order. They are never touched.
	Ignored []Ignored
	// Foreign counts the first part of Ignored: files that are no job's
	// snapshot (no sidecar, or one that cannot be trusted). Nothing ever
	// prunes them, so a store that collects them only grows.
	Foreign int
	// Errors say what went wrong with particular snapshots.
	Errors []string
}

// Counts returns how many decisions keep and destroy.
func (r *Result) Counts() (kept, destroyed int) { return Counts(r.Decisions) }

// Prune is the pruning pass over st: list it, plan over the entries
// opts.Owner owns (Decide), re-verify each snapshot the plan protects
// before anything of its job is destroyed, destroy, and report. Foreign
// files and other jobs' entries are reported in Ignored and never touched.
// A failed delete is recorded in Errors and does not stop the pass.
//
// The re-verification exists because a sidecar may say "verified" about a
// file that rotted since; trusting it would let the policy destroy the
// older snapshot that is the real last good one. If a protected snapshot
// fails it, it is marked unverified and nothing is destroyed in this pass;
// the next pass protects the newest snapshot that does verify.
func Prune(ctx context.Context, st store.Store, planner Planner, opts PassOptions) (*Result, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	entries, foreign, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Ignored: make([]Ignored, 0, len(foreign)), Foreign: len(foreign)}
	for _, f := range foreign {
		reason := f.Problem
		if reason == "" {
			reason = "not a snapshot with a sidecar"
		} else if !strings.HasSuffix(f.Name, atomicfile.TempSuffix) {
			// Files of ours that cannot be trusted (a corrupt sidecar, a
			// size mismatch) need the operator: say which and why.
			logger.Warn("pruning: ignoring a store file that cannot be trusted", "file", f.Name, "problem", f.Problem)
		}
		res.Ignored = append(res.Ignored, Ignored{Name: f.Name, Reason: reason})
	}
	mine, others := opts.Owner.Split(entries)
	for _, e := range others {
		res.Ignored = append(res.Ignored, Ignored{Name: e.Name, Reason: "snapshot of job " + e.Job})
	}
	if len(mine) == 0 {
		return res, nil
	}
	plan := Decide(planner, FromEntries(mine), opts.Now)
	if !opts.DryRun {
		if err := reverifyProtected(ctx, st, plan, opts.JustVerified, logger, res); err != nil {
			return res, err
		}
	}
	res.Decisions = make([]Decision, 0, len(plan.Decisions))
	for _, d := range plan.Decisions {
		switch {
		case d.Keep:
			if slices.Contains(d.Reasons, ReasonGuardNewest) {
				logger.Error("pruning policy chose to destroy the newest verified snapshot; kept", "snapshot", d.Name, "reasons", d.Reasons[:len(d.Reasons)-1])
			}
		case opts.DryRun:
		default:
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if err := st.Delete(ctx, d.Name); err != nil {
				logger.Error("pruning: cannot destroy snapshot", "snapshot", d.Name, "err", err)
				res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", d.Name, err))
				d.Keep = true
				d.Reasons = append(slices.Clip(d.Reasons), ReasonDeleteFailed)
				break
			}
			logger.Info("pruning: destroyed snapshot", "snapshot", d.Name, "created_at", d.Created, "index", d.Index, "reasons", d.Reasons)
		}
		res.Decisions = append(res.Decisions, d)
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("pruning could not destroy %d snapshot(s); see the pruning errors", len(res.Errors))
	}
	return res, nil
}

// reverifyProtected verifies again each protected snapshot whose job loses
// a snapshot in this plan, unless it is justVerified.
func reverifyProtected(ctx context.Context, st store.Store, plan Plan, justVerified string, logger *slog.Logger, res *Result) error {
	for _, p := range plan.Protected {
		if p.Name == justVerified || !slices.ContainsFunc(plan.Decisions, func(d Decision) bool { return !d.Keep && d.Job == p.Job }) {
			continue
		}
		_, _, err := store.Verify(ctx, st, p.Name, snapshot.VerifyOptions{}, logger)
		if err == nil {
			continue
		}
		var bad *store.VerificationError
		if !errors.As(err, &bad) {
			return fmt.Errorf("pruning stopped, nothing destroyed: cannot re-verify the newest verified snapshot %s: %w", p.Name, err)
		}
		logger.Error("pruning: the newest verified snapshot fails verification now; nothing destroyed in this pass",
			"snapshot", p.Name, "err", bad.Err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: fails verification now (%v); marked unverified, nothing destroyed", p.Name, bad.Err))
		return fmt.Errorf("pruning stopped, nothing destroyed: the newest verified snapshot %s fails verification now (%v); it is marked unverified, and the next pass protects the newest snapshot that verifies", p.Name, bad.Err)
	}
	return nil
}
