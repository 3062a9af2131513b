package testkit

import (
	"sync"
	"testing"
	"time"
)

// FakeClock is a clock a test moves by hand. Its NewTimer matches the
// timer hook of daemon/job's Clock, so a job's schedule and retry backoff
// run in microseconds, and the test reads each wait the job asked for.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	// armed logs each NewTimer's duration; NextTimer reads it in order.
	armed   []time.Duration
	read    int
	changed chan struct{}
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
	fired   bool
}

// NewFakeClock returns a clock standing at start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{}, 1)}
}

// Now is the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a channel that receives once the clock has been moved
// d past now, and a function that stops the timer. Each call is announced
// to NextTimer.
func (c *FakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	ft := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		ft.fired = true
		ft.c <- c.now
	} else {
		c.timers = append(c.timers, ft)
	}
	c.armed = append(c.armed, d)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	stop := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		wasActive := !ft.fired && !ft.stopped
		ft.stopped = true
		return wasActive
	}
	return ft.c, stop
}

// Advance moves the clock by d and fires every timer now due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, ft := range c.timers {
		switch {
		case ft.stopped:
		case !ft.at.After(c.now):
			ft.fired = true
			ft.c <- c.now
		default:
			kept = append(kept, ft)
		}
	}
	c.timers = kept
}

// Pending is how many timers are armed and not yet fired or stopped.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ft := range c.timers {
		if !ft.stopped {
			n++
		}
	}
	return n
}

// NextTimer waits until the code under test arms a timer it has not yet
// reported (an event, not a poll) and returns the duration asked for.
func (c *FakeClock) NextTimer(t testing.TB) time.Duration {
	t.Helper()
	deadline := time.After(DefaultWait)
	for {
		c.mu.Lock()
		if c.read < len(c.armed) {
			d := c.armed[c.read]
			c.read++
			c.mu.Unlock()
			return d
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("no timer armed within %s", DefaultWait)
			return 0
		}
	}
}

// NoTimer checks that no timer was armed since the last NextTimer.
func (c *FakeClock) NoTimer(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read < len(c.armed) {
		t.Fatalf("timers of %v were armed, want none", c.armed[c.read:])
	}
}
