package snapshot

import (
	"errors"
	"fmt"
)

// Kinds of archive failure. Every error returned by Verify, VerifyFile,
// Verifier and Write for a bad archive is an *Error whose Kind is one of
// these, so callers can branch with errors.Is(err, snapshot.ErrTruncated).
var (
	// ErrEmpty: the input had no bytes at all.
	ErrEmpty = errors.New("snapshot archive is empty")
	// ErrNotGzip: the input does not start with the gzip magic bytes (for
	// example an HTML or JSON error page saved instead of a snapshot).
	ErrNotGzip = errors.New("snapshot archive is not gzip data")
	// ErrTruncated: the input, or the tar stream inside it, ended early.
	ErrTruncated = errors.New("snapshot archive is truncated")
	// ErrCorrupt: the gzip stream is damaged (bad header, invalid deflate
	// data, CRC-32 or length in the trailer does not match).
	ErrCorrupt = errors.New("snapshot archive is corrupt")
	// ErrTrailingData: bytes follow the end of the gzip stream (garbage or a
	// second gzip member), or non-zero bytes follow the tar end marker.
	ErrTrailingData = errors.New("snapshot archive has trailing data")
	// ErrInvalidTar: the decompressed data is not a valid tar stream.
	ErrInvalidTar = errors.New("snapshot archive has an invalid tar stream")
	// ErrUnknownMember: a tar member other than meta.json, state.bin,
	// SHA256SUMS and SHA256SUMS.sealed.
	ErrUnknownMember = errors.New("snapshot archive has an unknown member")
	// ErrDuplicateMember: a member appears twice.
	ErrDuplicateMember = errors.New("snapshot archive has a duplicate member")
	// ErrMemberOrder: members are not in the order every writer uses.
	ErrMemberOrder = errors.New("snapshot archive members are out of order")
	// ErrMemberType: a member is not a regular file (directory, symlink...).
	ErrMemberType = errors.New("snapshot archive member is not a regular file")
	// ErrMissingMember: meta.json or state.bin is absent.
	ErrMissingMember = errors.New("snapshot archive is missing a member")
	// ErrMetaTooLarge: meta.json is larger than VerifyOptions.MaxMetaSize.
	ErrMetaTooLarge = errors.New("snapshot meta.json is too large")
	// ErrInvalidMeta: meta.json is not a valid raft.SnapshotMeta.
	ErrInvalidMeta = errors.New("snapshot meta.json is invalid")
	// ErrStateSize: state.bin's size disagrees with meta.json's Size, or the
	// state given to Write has a different length.
	ErrStateSize = errors.New("snapshot state.bin has the wrong size")
	// ErrMissingSums: there is no SHA256SUMS member.
	ErrMissingSums = errors.New("snapshot archive has no SHA256SUMS")
	// ErrInvalidSums: SHA256SUMS is not a list of "<sha256 hex>  <name>" lines.
	ErrInvalidSums = errors.New("snapshot SHA256SUMS is malformed")
	// ErrSumsMismatch: SHA256SUMS does not list exactly meta.json and state.bin.
	ErrSumsMismatch = errors.New("snapshot SHA256SUMS does not match the members")
	// ErrChecksum: a member's SHA-256 differs from the one in SHA256SUMS.
	ErrChecksum = errors.New("snapshot checksum mismatch")
	// ErrMissingSealed: VerifyOptions.RequireSealed and no SHA256SUMS.sealed.
	ErrMissingSealed = errors.New("snapshot archive has no SHA256SUMS.sealed")
	// ErrStateWriter: VerifyOptions.State returned an error (Unwrap gives it).
	ErrStateWriter = errors.New("snapshot state.bin consumer failed")
	// ErrAborted: Verifier.Abort was called.
	ErrAborted = errors.New("snapshot verification aborted")
	// ErrInvalidInput: Write was called with unusable arguments.
	ErrInvalidInput = errors.New("snapshot write: invalid input")
)

// Error describes one archive problem in words an operator can act on.
type Error struct {
	// Kind is one of the Err* sentinels of this package.
	Kind error
	// Member names the archive member concerned, "" when none is.
	Member string
	// Msg is the full, human-readable message.
	Msg string
	// Err is an underlying cause (an I/O error, a State writer error), if any.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrTruncated) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func newError(kind error, member string, format string, args ...any) *Error {
	return &Error{Kind: kind, Member: member, Msg: fmt.Sprintf(format, args...)}
}

// QuoteName quotes a name that came from outside (an archive member, a
// directory entry) as this package's messages do: quoted, escaped, and cut
// to 100 bytes.
func QuoteName(name string) string { return quoteName(name) }

// quoteName quotes an untrusted name and keeps it short, so a hostile
// archive cannot flood logs or inject control characters.
func quoteName(name string) string {
	const max = 100
	if len(name) > max {
		return fmt.Sprintf("%q... (%d bytes)", name[:max], len(name))
	}
	return fmt.Sprintf("%q", name)
}
