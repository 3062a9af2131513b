package store

import (
	"errors"
	"fmt"
)

// ErrDamaged is a name that exists in a store but is not a snapshot that
// can be trusted (a corrupt record, a size mismatch): it is not listed, and
// its name is not reused.
var ErrDamaged = errors.New("exists but cannot be trusted")

// ErrorKind classifies a remote store's failures, so that a job knows
// whether trying again can help.
type ErrorKind string

const (
	// KindDenied: the credentials were refused or lack a permission (HTTP
	// 401/403). Permanent: retrying sends the same credentials.
	KindDenied ErrorKind = "denied"
	// KindNoBucket: the bucket or container does not exist. Permanent.
	KindNoBucket ErrorKind = "no_bucket"
	// KindConfig: the store's settings cannot work (a bad endpoint URL, no
	// credentials found). Permanent.
	KindConfig ErrorKind = "config"
	// KindUnavailable: the service could not be reached or answered 5xx,
	// 429 or timed out. Retried.
	KindUnavailable ErrorKind = "unavailable"
	// KindStalled: the store accepted no byte for too long. Retried.
	KindStalled ErrorKind = "stalled"
	// KindOther: anything else. Retried.
	KindOther ErrorKind = "other"
)

// Error is a failure of a store's operation, naming the store, the
// operation and the object; it never quotes a credential.
type Error struct {
	Store string // the store's String()
	Op    string // list, read, write, commit, delete, update, clean
	Key   string // the object, "" for the store as a whole
	Kind  ErrorKind
	Err   error
}

func (e *Error) Error() string {
	what := e.Op
	if e.Key != "" {
		what += " " + e.Key
	}
	return fmt.Sprintf("%s: %s: %v", e.Store, what, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent tells whether retrying cannot help.
func (e *Error) Permanent() bool {
	return e.Kind == KindDenied || e.Kind == KindNoBucket || e.Kind == KindConfig
}

// KindOf is the kind of the first *Error in err's chain, "" when none.
func KindOf(err error) ErrorKind {
	var se *Error
	if errors.As(err, &se) {
		return se.Kind
	}
	return ""
}

// IsPermanent tells whether err is a store failure that retrying cannot fix.
func IsPermanent(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Permanent()
}
