package job

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Failure reasons: a small fixed set, usable as a metric label.
const (
	ReasonTimeout      = "timeout"
	ReasonCanceled     = "canceled"
	ReasonConnection   = "connection"
	ReasonHTTP4xx      = "http_4xx"
	ReasonHTTP5xx      = "http_5xx"
	ReasonVerification = "verification"
	ReasonStoreFull    = "store_full"
	ReasonStoreIO      = "store_io"
	ReasonPermanent    = "permanent"
	ReasonOther        = "other"
	// ReasonNoLeader: the server said the cluster has no leader.
	ReasonNoLeader = "no_leader"
	// ReasonTooLarge: the snapshot passed the source's max_size.
	ReasonTooLarge = "too_large"
	// ReasonClusterChanged: the snapshot came from another cluster than
	// the job's previous ones (on_cluster_change: fail).
	ReasonClusterChanged = "cluster_changed"
	// ReasonWrongFlavor: a restore refused a snapshot its target cannot
	// read (a Nomad snapshot into Consul...).
	ReasonWrongFlavor = "wrong_flavor"
	// ReasonHook: a pre-snapshot hook with err_is_fatal failed.
	ReasonHook = "hook"
	// ReasonStoreDenied: an object store refused the credentials or the
	// permission (HTTP 401/403), or none could be found. Not retried.
	ReasonStoreDenied = "store_denied"
	// ReasonStoreNotFound: the bucket or container does not exist. Not
	// retried.
	ReasonStoreNotFound = "store_not_found"
	// ReasonStoreUnavailable: an object store could not be reached, timed
	// out, stalled or answered 5xx/429. Retried.
	ReasonStoreUnavailable = "store_unavailable"
	// ReasonDrillFailed: a drill's server refused the snapshot or reported
	// other state than the archive holds.
	ReasonDrillFailed = "drill_failed"
	// ReasonDrillServer: a drill's throwaway server could not be used (no
	// binary, a binary of another kind or version, a server that never
	// led).
	ReasonDrillServer = "drill_server"
)

// FailureReasons lists every reason FailureReason can return.
var FailureReasons = []string{ReasonTimeout, ReasonCanceled, ReasonConnection, ReasonHTTP4xx, ReasonHTTP5xx,
	ReasonVerification, ReasonStoreFull, ReasonStoreIO, ReasonPermanent, ReasonOther,
	ReasonNoLeader, ReasonTooLarge, ReasonClusterChanged, ReasonHook, ReasonWrongFlavor, ReasonDrillFailed, ReasonDrillServer,
	ReasonStoreDenied, ReasonStoreNotFound, ReasonStoreUnavailable}

// StoreError marks a failure of the local store (writing the download,
// committing, reading an archive), as opposed to the source's.
type StoreError struct{ Err error }

// Error is the store's own message, which names the store.
func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// TimeoutError is an attempt that ran past the job's timeout.
type TimeoutError struct {
	Timeout time.Duration
	Err     error
}

func (e *TimeoutError) Error() string {
	return "timed out after " + e.Timeout.String() + ": " + e.Err.Error()
}
func (e *TimeoutError) Unwrap() error { return e.Err }

// FailureReason classifies a run's error into one of the Reason* values.
func FailureReason(err error) string {
	var (
		timeoutErr *TimeoutError
		storeErr   *StoreError
		srcErr     *source.Error
		cfgErr     *source.ConfigError
		setErr     *source.SettingsError
		archiveErr *snapshot.Error
		storedErr  *store.VerificationError
		netErr     net.Error
		clusterErr *ClusterChangedError
		flavorErr  *snapshot.FlavorError
		hookErr    *HookError
		drillErr   *DrillError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &drillErr):
		if drillErr.Outcome == controlapi.DrillFailed {
			return ReasonDrillFailed
		}
		if reason := FailureReason(drillErr.Err); reason != ReasonOther {
			return reason
		}
		return ReasonDrillServer
	case errors.As(err, &hookErr):
		return ReasonHook
	case errors.As(err, &timeoutErr), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.As(err, &storedErr):
		return ReasonVerification
	case errors.As(err, &storeErr):
		switch store.KindOf(err) {
		case store.KindDenied, store.KindConfig:
			return ReasonStoreDenied
		case store.KindNoBucket:
			return ReasonStoreNotFound
		case store.KindUnavailable, store.KindStalled:
			return ReasonStoreUnavailable
		}
		if isStoreFull(err) {
			return ReasonStoreFull
		}
		return ReasonStoreIO
	case errors.As(err, &clusterErr):
		return ReasonClusterChanged
	case errors.As(err, &flavorErr):
		return ReasonWrongFlavor
	case errors.As(err, &srcErr):
		switch {
		case errors.Is(err, source.ErrTooLarge):
			return ReasonTooLarge
		case errors.Is(err, source.ErrNotArchive):
			return ReasonVerification
		case source.IsNoLeader(err):
			return ReasonNoLeader
		case srcErr.StatusCode >= 400 && srcErr.StatusCode < 500:
			return ReasonHTTP4xx
		case srcErr.StatusCode >= 500:
			return ReasonHTTP5xx
		case srcErr.Permanent():
			return ReasonPermanent
		case errors.As(err, &netErr) && netErr.Timeout():
			return ReasonTimeout
		default:
			return ReasonConnection
		}
	case errors.As(err, &cfgErr), errors.As(err, &setErr):
		return ReasonPermanent
	case errors.As(err, &archiveErr):
		return ReasonVerification
	}
	return ReasonOther
}

func isStoreFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// retryable says whether another attempt can help. Not retried: the run's
// own cancellation; permanent source errors (4xx but 408/429, TLS, bad
// configuration); a store that is full, read-only or forbidden, an object
// store refusing the credentials or without its bucket (trying
// again cannot free space or change permissions, and the operator must
// know now); an archive that arrived whole but is malformed (not gzip, bad
// tar, missing or unknown members, bad meta or sums: the server would send
// the same again). Retried: connection failures, 5xx, 408, 429, timeouts,
// bodies cut short and archives damaged in transit (truncated, corrupt
// deflate data, checksum mismatch, empty body), other store I/O errors.
func retryable(err error) bool {
	var (
		storeErr   *StoreError
		srcErr     *source.Error
		cfgErr     *source.ConfigError
		setErr     *source.SettingsError
		archiveErr *snapshot.Error
		clusterErr *ClusterChangedError
	)
	var hookErr *HookError
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &setErr), errors.As(err, &hookErr):
		return false
	case errors.As(err, &clusterErr):
		// The same server would send the same cluster's snapshot again.
		return false
	case errors.As(err, &storeErr):
		return !(isStoreFull(err) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) ||
			store.IsPermanent(err))
	case errors.As(err, &srcErr):
		return !srcErr.Permanent()
	case errors.As(err, &cfgErr):
		return false
	case errors.As(err, &archiveErr):
		return errors.Is(err, snapshot.ErrTruncated) || errors.Is(err, snapshot.ErrCorrupt) ||
			errors.Is(err, snapshot.ErrChecksum) || errors.Is(err, snapshot.ErrEmpty)
	}
	return true
}

// retryAfter is the server's requested delay, 0 when none.
func retryAfter(err error) time.Duration {
	var srcErr *source.Error
	if errors.As(err, &srcErr) {
		return srcErr.RetryAfter
	}
	return 0
}
