package client

import (
	"errors"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// Exit codes are an interface: scripts and systemd units depend on them.
// Add new codes; never renumber.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitError: the command failed (source unreachable, I/O error, server
	// refused, ...). Nothing was changed that the message does not mention.
	ExitError = 1
	// ExitUsage: the command line or the configuration is wrong.
	ExitUsage = 2
	// ExitInvalid: a snapshot failed verification.
	ExitInvalid = 3
	// ExitWrongFlavor: a valid snapshot of another system than the one
	// named (inspect --flavor) or targeted (restore refused it; nothing
	// was sent).
	ExitWrongFlavor = 4
	// ExitStandby: the daemon refused the signal because it is a standby
	// for the job (ha); the message names the active agent.
	ExitStandby = 5
)

// exitCodeDocs describes each exit code for the EXIT STATUS section of
// the man pages (cmd_gendocs.go). Keep it in step with the constants.
var exitCodeDocs = []struct {
	code    int
	meaning string
}{
	{ExitOK, "Success: the command did what it was asked."},
	{ExitError, "Failure: a source or the daemon unreachable, an I/O error, a server refusing, a run that failed " +
		"(signal --wait). Nothing was changed that the message does not mention."},
	{ExitUsage, "Usage error: the command line or the configuration file is invalid; for reload, the daemon refused " +
		"the new file and keeps the running configuration. The systemd unit does not restart a daemon that exits 2 " +
		"(RestartPreventExitStatus=2)."},
	{ExitInvalid, "A snapshot failed verification."},
	{ExitWrongFlavor, "A valid snapshot, but of another system than the one named: inspect --flavor, or a restore " +
		"refused before sending anything because the target cannot read it (a Nomad snapshot into Consul...)."},
	{ExitStandby, "signal: this agent is a standby for the job (ha, see docs/ha.md); nothing was run. The message names " +
		"the active agent when it is known: signal it there."},
}

// codedError carries the exit code an error maps to.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// silentError exits with a code without printing anything more, for
// commands that already reported per-item results.
type silentError struct{ code int }

func (e *silentError) Error() string { return "exit" }

func usageError(err error) error   { return &codedError{code: ExitUsage, err: err} }
func invalidError(err error) error { return &codedError{code: ExitInvalid, err: err} }

// fileError maps an error about a snapshot archive to an exit code: it
// was read and is not a valid snapshot, or its state does not decode as
// the flavour named (ExitInvalid); it is a valid snapshot of another
// flavour (ExitWrongFlavor); anything else, such as a file that cannot be
// read or a read that was interrupted, is no verdict on it (ExitError).
func fileError(err error) error {
	var flavorErr *snapshot.FlavorError
	var stateErr *statebin.Error
	switch {
	case errors.As(err, &flavorErr):
		return &codedError{code: ExitWrongFlavor, err: err}
	case snapshot.VerificationFailed(err), errors.As(err, &stateErr):
		return invalidError(err)
	}
	return err
}

func exitCode(err error) int {
	var silent *silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	var coded *codedError
	if errors.As(err, &coded) {
		return coded.code
	}
	// A credential file named on the command line that cannot be read
	// (an AppRole role or secret ID file, read at login) is a usage
	// error, as a missing --token-file is.
	var settings *source.SettingsError
	if errors.As(err, &settings) {
		return ExitUsage
	}
	return ExitError
}
