package store

import "context"

type commitCheckKey struct{}

// WithCommitCheck returns ctx carrying check. A Pending's Commit given
// such a context runs check once the bytes are stored, right before its
// commit point (the record that makes the snapshot listed: a sidecar, a
// manifest), and commits nothing when it fails. High availability's fence
// (daemon/ha) is such a check: made before Commit instead, it would leave
// the whole rest of the write between the check and the commit point (an
// object store uploads its last part, or all of an archive smaller than a
// part, when the upload is closed), a window in which another agent could
// take over, see no snapshot yet, and take a second one for the interval.
func WithCommitCheck(ctx context.Context, check func(context.Context) error) context.Context {
	return context.WithValue(ctx, commitCheckKey{}, check)
}

// CheckCommit runs ctx's commit check, if any (WithCommitCheck): stores
// call it in Commit right before their commit point.
func CheckCommit(ctx context.Context) error {
	if check, ok := ctx.Value(commitCheckKey{}).(func(context.Context) error); ok && check != nil {
		return check(ctx)
	}
	return nil
}
