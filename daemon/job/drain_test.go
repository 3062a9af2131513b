package job

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// TestStopLetsTheRunFinish: when the job is asked to stop (the daemon got
// SIGTERM), the run in progress finishes and is recorded as it ends; no new
// run starts, and Run returns once it has.
func TestStopLetsTheRunFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	r := newRunner("drain", "snapshot", nil, nil, nil)
	r.execute = func(ctx context.Context, run *activeRun) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() { r.Run(ctx); close(returned) }()
	done, _, err := r.Wakeup()
	if err != nil {
		t.Fatal(err)
	}
	<-started
	stop()
	select {
	case <-returned:
		t.Fatal("Run returned while its run was still going")
	default:
	}
	close(release)
	if rep := awaitReport(t, done); rep.Result != controlapi.ResultSuccess {
		t.Fatalf("the run let finish ended %+v", rep)
	}
	<-returned
	if _, _, err := r.Wakeup(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wakeup after the stop = %v, want ErrStopped", err)
	}
}

// TestStopEndsTheRetries: a run waiting to retry does not start another
// attempt once the job is asked to stop; it ends with its last error.
func TestStopEndsTheRetries(t *testing.T) {
	attempts := make(chan int, 10)
	r := newRunner("drain", "snapshot", nil, nil, nil)
	r.execute = func(ctx context.Context, run *activeRun) error {
		for n := 1; ; n++ {
			attempts <- n
			if !r.backoff(ctx, run, time.Hour) {
				return errors.New("attempt failed")
			}
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	go r.Run(ctx)
	done, _, _ := r.Wakeup()
	<-attempts
	stop()
	rep := awaitReport(t, done)
	if rep.Result != controlapi.ResultFailure || rep.Error != "attempt failed" {
		t.Fatalf("run in backoff at the stop: %+v", rep)
	}
	if len(attempts) != 0 {
		t.Fatalf("%d more attempts after the stop", len(attempts))
	}
}
