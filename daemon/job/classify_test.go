package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

func TestFailureReasonAndRetry(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return fmt.Errorf("saving snapshot: writing after 10 bytes: %w", &StoreError{Err: &fs.PathError{Op: "write", Path: "x.part", Err: errno}})
	}
	archiveErr := func(kind error) error {
		return fmt.Errorf("snapshot from raft failed verification: %w", &snapshot.Error{Kind: kind, Msg: kind.Error()})
	}
	cases := []struct {
		name   string
		err    error
		reason string
		retry  bool
	}{
		{"disk full", pathErr(syscall.ENOSPC), ReasonStoreFull, false},
		{"quota", pathErr(syscall.EDQUOT), ReasonStoreFull, false},
		{"read-only", pathErr(syscall.EROFS), ReasonStoreIO, false},
		{"permission", pathErr(syscall.EACCES), ReasonStoreIO, false},
		{"io error", pathErr(syscall.EIO), ReasonStoreIO, true},
		{"truncated", archiveErr(snapshot.ErrTruncated), ReasonVerification, true},
		{"checksum", archiveErr(snapshot.ErrChecksum), ReasonVerification, true},
		{"html page", archiveErr(snapshot.ErrNotGzip), ReasonVerification, false},
		{"unknown member", archiveErr(snapshot.ErrUnknownMember), ReasonVerification, false},
		{"config", &source.ConfigError{Kind: source.Consul, Field: "Address", Reason: "empty"}, ReasonPermanent, false},
		{"timeout", &TimeoutError{Timeout: time.Second, Err: context.DeadlineExceeded}, ReasonTimeout, true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), ReasonCanceled, false},
		{"stored archive rotted", &store.VerificationError{Name: "a.snap", Err: errors.New("differs")}, ReasonVerification, true},
		{"other", errors.New("something"), ReasonOther, true},
	}
	for _, c := range cases {
		if got := FailureReason(c.err); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
		}
		if got := retryable(c.err); got != c.retry {
			t.Errorf("%s: retryable %v, want %v", c.name, got, c.retry)
		}
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Max: 5, Initial: 100 * time.Millisecond, MaxBackoff: time.Second}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		if got := p.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}
