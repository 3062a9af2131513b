package ha

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// consulLock is the consul_lock gate: one Consul session lock per job, at
// <lock_key>/<job>, taken and watched by api.Lock (its session, renewal
// and lost-lock channel), and read back at each fence.
type consulLock struct {
	*role
	opts Options
	key  string

	mu     sync.Mutex
	lock   *api.Lock
	client *api.Client
	id     string // this term's nonce, in the lock's value
	cancel context.CancelCauseFunc
	// term counts terms, so that a late lost-lock signal of an old term
	// cannot end a newer one.
	term     int
	failures int
	// notBefore delays the next campaign after a hand-over, so that
	// another agent takes the lock.
	notBefore time.Time
}

// lockValue is what the holder writes into the lock's key: who holds it
// (shown by standbys), and a nonce telling this term from any other.
type lockValue struct {
	Holder string `json:"holder"`
	ID     string `json:"id"`
}

// ErrHandover ends a term after max_failures consecutive failed runs.
var ErrHandover = errors.New("handing the lock over after repeated failures (max_failures)")

func newConsulLock(opts Options) (*consulLock, error) {
	if opts.HA.Consul == nil {
		return nil, fmt.Errorf("job %s: ha consul_lock has no consul block", opts.Job)
	}
	return &consulLock{role: newRole(opts), opts: opts, key: opts.HA.LockKey + "/" + opts.Job}, nil
}

// newClient builds a Consul client from the consul block, reading its
// token now (so that a rotated token file is picked up at each campaign).
// Proxy variables are ignored, as by every source (snapshot/source).
func (g *consulLock) newClient() (*api.Client, error) {
	cfg, err := g.opts.HA.Consul.Resolve(os.LookupEnv, g.logger)
	if err != nil {
		return nil, err
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = source.DefaultConnectTimeout
	}
	ac := &api.Config{
		Address:    cfg.Address,
		Datacenter: cfg.Datacenter,
		Token:      cfg.Token.Reveal(),
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		TLSConfig: api.TLSConfig{
			Address: cfg.TLS.ServerName, CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			InsecureSkipVerify: cfg.TLS.InsecureSkipVerify,
		},
	}
	return api.NewClient(ac)
}

func (g *consulLock) Acquire(ctx context.Context) (context.Context, error) {
	g.mu.Lock()
	wait := time.Until(g.notBefore)
	g.failures = 0
	g.mu.Unlock()
	if wait > 0 {
		g.logger.Info("waiting before campaigning again, so that another agent takes the lock", "wait", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
	for {
		term, err := g.campaign(ctx)
		if err == nil {
			return term, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		g.failed(err)
		if !sleep(ctx, g.opts.HA.PollInterval.Std()) {
			return nil, ctx.Err()
		}
	}
}

// campaign waits for the lock until it is held, ctx ends or Consul fails.
func (g *consulLock) campaign(ctx context.Context) (context.Context, error) {
	client, err := g.newClient()
	if err != nil {
		return nil, err
	}
	id := nonce()
	value, _ := json.Marshal(lockValue{Holder: g.opts.Identity, ID: id})
	lock, err := client.LockOpts(&api.LockOptions{
		Key:         g.key,
		Value:       value,
		SessionName: "raftsnap " + g.opts.Job,
		SessionTTL:  g.opts.HA.SessionTTL.Std().String(),
		LockDelay:   g.opts.HA.LockDelay.Std(),
		// A blocking query bounds how long a stop waits; a few retries
		// ride out a Consul leader election without losing the lock.
		LockWaitTime:     g.opts.HA.PollInterval.Std(),
		MonitorRetries:   3,
		MonitorRetryTime: time.Second,
	})
	if err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	go g.watchHolder(watchCtx, client)
	defer stopWatch()

	// Lock blocks in queries that take no context: it runs on its own,
	// and a stop closes stopCh; a lock it took after ctx ended is given
	// back at once.
	stopCh := make(chan struct{})
	type result struct {
		lost <-chan struct{}
		err  error
	}
	done := make(chan result, 1)
	go func() {
		lost, err := lock.Lock(stopCh)
		done <- result{lost, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		close(stopCh)
		go func() {
			if r := <-done; r.lost != nil {
				_ = lock.Unlock()
			}
		}()
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, fmt.Errorf("consul lock %s: %w", g.key, res.err)
	}
	if res.lost == nil { // stopCh closed: not reached, ctx is checked above
		return nil, ctx.Err()
	}
	term, cancel := context.WithCancelCause(ctx)
	g.mu.Lock()
	g.lock, g.client, g.id, g.cancel = lock, client, id, cancel
	g.term++
	n := g.term
	g.mu.Unlock()
	g.ok()
	g.set(true, g.opts.Identity)
	go func() {
		select {
		case <-res.lost:
			if g.current(n) {
				g.logger.Warn("lost the consul lock", "key", g.key)
				g.lost(ErrNotHeld)
			}
		case <-term.Done():
		}
	}()
	return term, nil
}

// watchHolder keeps the standby's idea of who holds the lock fresh.
func (g *consulLock) watchHolder(ctx context.Context, client *api.Client) {
	for {
		pair, _, err := client.KV().Get(g.key, (&api.QueryOptions{}).WithContext(ctx))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			g.failed(fmt.Errorf("reading consul lock %s: %w", g.key, err))
		default:
			g.setHolder(holderOf(pair))
		}
		if !sleep(ctx, g.opts.HA.PollInterval.Std()) {
			return
		}
	}
}

func holderOf(pair *api.KVPair) string {
	if pair == nil || pair.Session == "" {
		return ""
	}
	var v lockValue
	if json.Unmarshal(pair.Value, &v) != nil || v.Holder == "" {
		return "session " + pair.Session
	}
	return v.Holder
}

// current reports whether term n is the one in progress.
func (g *consulLock) current(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.term == n && g.cancel != nil
}

// lost ends the term: the role is gone.
func (g *consulLock) lost(cause error) { g.endTerm(&g.mu, &g.cancel, cause) }

// Check reads the lock's key, consistently, from Consul: it must still be
// held by a session with this term's nonce. A process that was paused past
// its session's TTL finds the key released or taken by another agent.
func (g *consulLock) Check(ctx context.Context) error {
	g.mu.Lock()
	client, id := g.client, g.id
	g.mu.Unlock()
	if client == nil || !g.isActive() {
		return ErrNotHeld
	}
	pair, _, err := client.KV().Get(g.key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		g.failed(fmt.Errorf("checking consul lock %s: %w", g.key, err))
		return fmt.Errorf("%w: cannot check the consul lock: %v", ErrNotHeld, err)
	}
	var v lockValue
	if pair == nil || pair.Session == "" || json.Unmarshal(pair.Value, &v) != nil || v.ID != id {
		g.lost(ErrNotHeld)
		if h := holderOf(pair); h != "" {
			g.setHolder(h)
			return fmt.Errorf("%w: the consul lock %s is held by %s", ErrNotHeld, g.key, h)
		}
		return fmt.Errorf("%w: the consul lock %s is not held by this agent's session", ErrNotHeld, g.key)
	}
	return nil
}

// Release gives the lock back: api.Lock releases the key and destroys its
// session, so no lock-delay holds up the next agent.
func (g *consulLock) Release() {
	g.mu.Lock()
	lock, cancel := g.lock, g.cancel
	g.lock, g.client, g.id, g.cancel = nil, nil, "", nil
	g.mu.Unlock()
	if cancel != nil {
		cancel(context.Canceled)
	}
	if lock != nil {
		if err := lock.Unlock(); err != nil && !errors.Is(err, api.ErrLockNotHeld) {
			g.failed(fmt.Errorf("releasing consul lock %s: %w", g.key, err))
		}
	}
	g.released()
	g.set(false, "")
}

// RunFinished counts consecutive failed runs; at max_failures the holder
// ends its term and waits session_ttl + lock_delay before campaigning
// again.
func (g *consulLock) RunFinished(failed bool) {
	g.mu.Lock()
	if !failed {
		g.failures = 0
		g.mu.Unlock()
		return
	}
	g.failures++
	n, limit, cancel := g.failures, g.opts.HA.MaxFailures, g.cancel
	handover := limit > 0 && n >= limit && cancel != nil
	if handover {
		g.notBefore = time.Now().Add(g.opts.HA.SessionTTL.Std() + g.opts.HA.LockDelay.Std())
	}
	g.mu.Unlock()
	if handover {
		g.logger.Warn("handing the lock over after consecutive failed runs", "failures", n, "max_failures", limit)
		cancel(ErrHandover)
	}
}

func (g *consulLock) Status() controlapi.HAStatus { return g.role.Status() }

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
