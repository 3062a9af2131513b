package source

import (
	"errors"
	"fmt"

	"github.com/raftsnap/raftsnap/snapshot"
)

// CheckFlavor refuses an archive that src's servers cannot restore: a
// Consul target takes Consul snapshots only, Nomad Nomad's, Vault Vault's
// (sealed); a raft target (a Go service's own state machine, whose format
// raftsnap cannot read) takes any. A server handed a state it cannot read
// does not merely fail: hashicorp/raft panics when the state machine fails
// to restore a user snapshot, which stops the leader.
//
// got is the archive's flavour and reason what its head said of it
// (snapshot.Head.FlavorReason). whole is false while only the archive's
// head is known: a Vault archive is told apart by its last member only, so
// a head is never refused for a Vault target, and a head that looks like
// Consul's or Nomad's may still prove Vault's at the end. The refusal
// wraps a *snapshot.FlavorError.
func CheckFlavor(src Source, got snapshot.Flavor, reason string, whole bool) error {
	spec, ok := Lookup(src.Kind())
	switch {
	case !ok || spec.Flavor == "" || got == spec.Flavor:
		return nil
	case !whole && spec.Flavor == snapshot.FlavorVault:
		return nil
	}
	return fmt.Errorf("%w: %s cannot read its state, and raft stops a leader whose state machine fails to restore a snapshot",
		&snapshot.FlavorError{Want: spec.Flavor, Got: got, Reason: reason}, spec.Title)
}

// ErrChangedSinceRead is wrapped by the error of a restore whose archive
// no longer has the meta.json it had when it was first read (the head an
// operator confirmed).
var ErrChangedSinceRead = errors.New("the archive changed after it was first read")

// SendOptions are what a one-pass restore into src checks while the
// archive streams (see snapshot.Send and snapshot.SendReader): the archive
// itself (without Vault's sealed member, which the flavour covers: a
// failed check there says nothing against the file) and, unless force,
// its flavour against src (CheckFlavor), at the head and at the end.
// expect, when set, is the head read before the restore began (what an
// operator was shown and confirmed): the archive sent must carry the same
// meta.json, or the stream is cut with ErrChangedSinceRead.
func SendOptions(src Source, force bool, expect *snapshot.Head) snapshot.SendOptions {
	verify := src.VerifyOptions()
	verify.RequireSealed = false
	opts := snapshot.SendOptions{Verify: verify}
	var seen *snapshot.Head
	opts.Head = func(head *snapshot.Head) error {
		seen = head
		if expect != nil {
			was, is := expect.Meta, head.Meta
			if was.ID != is.ID || was.Index != is.Index || was.Term != is.Term || was.Size != is.Size {
				return fmt.Errorf("%w: its meta.json now says snapshot %q (index %d, term %d), not %q (index %d, term %d)",
					ErrChangedSinceRead, is.ID, is.Index, is.Term, was.ID, was.Index, was.Term)
			}
		}
		if force {
			return nil
		}
		return CheckFlavor(src, head.Flavor, head.FlavorReason, false)
	}
	if !force {
		opts.Check = func(_ *snapshot.Report, flavor snapshot.Flavor) error {
			return CheckFlavor(src, flavor, seen.FlavorReason, true)
		}
	}
	return opts
}
