package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Options configure Start.
type Options struct {
	// Nodes is the number of raft servers: 1, 3 or 5; 0 means 1.
	Nodes int
	// Dir holds each node's raft data (node-N/raft.db, node-N/snapshots).
	// "" means a temporary directory removed by Close. State left in Dir by
	// an earlier run is reused: the nodes keep their data and the stored
	// configuration is rewritten to this run's addresses.
	Dir string
	// Logger receives cluster events and raft's WARN+ output; nil discards.
	Logger *slog.Logger
	// WriteInterval, when positive, starts a background writer that changes
	// a key through the leader at this interval (see StopWriter).
	WriteInterval time.Duration
	// Token, when non-empty, is required by every node's snapshot handler
	// in the X-Raft-Token header.
	Token string
	// MaxRestoreBytes caps a restore through the snapshot handler (see
	// snapshot.HandlerOptions).
	MaxRestoreBytes int64
	// NodeIDPrefix names the raft servers <prefix>-0, <prefix>-1...;
	// "" means "node". Two clusters with different prefixes have disjoint
	// server IDs, as two real clusters do (tests of cluster identity).
	NodeIDPrefix string
}

// Raft timing for loopback: elections in well under a second instead of
// raft's WAN-friendly defaults of seconds. Not shorter: on a loaded 2-core
// machine 200ms made leadership flap for seconds at a time.
const (
	heartbeatTimeout   = 400 * time.Millisecond
	electionTimeout    = 400 * time.Millisecond
	leaderLeaseTimeout = 200 * time.Millisecond
	commitTimeout      = 5 * time.Millisecond
	snapshotsRetained  = 3
)

// Cluster is a running in-process raft cluster.
type Cluster struct {
	nodes     []*Node
	dir       string
	removeDir bool
	logger    *slog.Logger

	writerStop context.CancelFunc
	writerDone chan struct{}
	writes     atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// Start creates the nodes, bootstraps them as one cluster and waits, bounded
// by ctx, until a leader is elected.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	n := opts.Nodes
	if n == 0 {
		n = 1
	}
	if n != 1 && n != 3 && n != 5 {
		return nil, fmt.Errorf("devcluster: Nodes must be 1, 3 or 5, got %d", opts.Nodes)
	}
	if opts.WriteInterval < 0 {
		return nil, fmt.Errorf("devcluster: WriteInterval must not be negative, got %s", opts.WriteInterval)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{logger: logger, dir: opts.Dir}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "raftsnap-devcluster-")
		if err != nil {
			return nil, fmt.Errorf("devcluster: %w", err)
		}
		c.dir, c.removeDir = dir, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}

	prefix := opts.NodeIDPrefix
	if prefix == "" {
		prefix = "node"
	}
	for i := range n {
		node, err := newNode(c, raft.ServerID(fmt.Sprintf("%s-%d", prefix, i)), filepath.Join(c.dir, fmt.Sprintf("node-%d", i)), opts)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, node)
	}
	var configuration raft.Configuration
	for _, node := range c.nodes {
		configuration.Servers = append(configuration.Servers, raft.Server{
			Suffrage: raft.Voter, ID: node.ID, Address: node.RaftAddr,
		})
	}
	for _, node := range c.nodes {
		if err := node.startRaft(configuration); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, node := range c.nodes {
		node.startHTTP()
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	logger.Info("dev cluster started", "nodes", n, "leader", leader.ID, "dir", c.dir)
	if opts.WriteInterval > 0 {
		c.startWriter(opts.WriteInterval)
	}
	return c, nil
}

// Nodes returns every node, stopped ones included, in ID order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Dir is where the nodes keep their data.
func (c *Cluster) Dir() string { return c.dir }

// Leader waits, bounded by ctx, until a running node is the leader and
// has applied every entry before its term's first (a barrier): a new
// leader refuses a restore until its configuration entry is applied
// ("cannot restore snapshot now"), which made restores right after a
// start fail at random.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	for {
		leader, err := c.elected(ctx)
		if err != nil || leader.Raft.Barrier(timeoutFrom(ctx)).Error() == nil {
			return leader, err
		}
		if err := pause(ctx); err != nil {
			return nil, fmt.Errorf("devcluster: no leader ready: %w", err)
		}
	}
}

// elected waits, bounded by ctx, until a running node is the leader.
func (c *Cluster) elected(ctx context.Context) (*Node, error) {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		if leader := c.currentLeader(); leader != nil {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devcluster: no leader elected: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}

func (c *Cluster) currentLeader() *Node {
	for _, node := range c.nodes {
		if !node.Stopped() && node.Raft != nil && node.Raft.State() == raft.Leader {
			return node
		}
	}
	return nil
}

func (c *Cluster) node(id raft.ServerID) *Node {
	for _, node := range c.nodes {
		if node.ID == id {
			return node
		}
	}
	return nil
}

// Put sets key to value through raft on the leader.
func (c *Cluster) Put(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("devcluster: key must not be empty")
	}
	return c.apply(ctx, Command{Op: OpSet, Key: key, Value: value})
}

// Delete removes key through raft on the leader.
func (c *Cluster) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("devcluster: key must not be empty")
	}
	return c.apply(ctx, Command{Op: OpDelete, Key: key})
}

// Get reads key on the leader after a barrier, so it sees every write
// committed before the call.
func (c *Cluster) Get(ctx context.Context, key string) (string, bool, error) {
	for {
		leader, err := c.elected(ctx)
		if err != nil {
			return "", false, err
		}
		err = leader.Raft.Barrier(timeoutFrom(ctx)).Error()
		if err == nil {
			v, ok := leader.FSM.Get(key)
			return v, ok, nil
		}
		if !retryable(err) || pause(ctx) != nil {
			return "", false, fmt.Errorf("devcluster: get %q: %w", key, err)
		}
	}
}

// apply retries through leader changes until ctx ends.
func (c *Cluster) apply(ctx context.Context, cmd Command) error {
	data, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	for {
		leader, err := c.elected(ctx)
		if err != nil {
			return err
		}
		future := leader.Raft.Apply(data, timeoutFrom(ctx))
		err = future.Error()
		if err == nil {
			if resp, ok := future.Response().(error); ok && resp != nil {
				return fmt.Errorf("devcluster: %s %q: %w", cmd.Op, cmd.Key, resp)
			}
			return nil
		}
		if !retryable(err) || pause(ctx) != nil {
			return fmt.Errorf("devcluster: %s %q: %w", cmd.Op, cmd.Key, err)
		}
	}
}

// pause backs off briefly between retries while leadership settles.
func pause(ctx context.Context) error {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrEnqueueTimeout)
}

func timeoutFrom(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return max(time.Until(deadline), time.Millisecond)
	}
	return 10 * time.Second
}

// Writes counts the background writer's successful writes.
func (c *Cluster) Writes() uint64 { return c.writes.Load() }

func (c *Cluster) startWriter(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	c.writerStop, c.writerDone = cancel, make(chan struct{})
	go func() {
		defer close(c.writerDone)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			leader := c.currentLeader()
			if leader == nil {
				continue // an election is running; the next tick retries
			}
			// A small rotating key set: the state changes on every write
			// without growing without bound.
			data, _ := json.Marshal(Command{Op: OpSet, Key: fmt.Sprintf("writer/%02d", seq%16), Value: fmt.Sprint(seq)})
			if err := leader.Raft.Apply(data, interval).Error(); err != nil {
				c.logger.Debug("dev cluster writer: write failed", "error", err)
				continue
			}
			c.writes.Add(1)
		}
	}()
}

// StopWriter stops the background writer, if any, and waits for it.
func (c *Cluster) StopWriter() {
	if c.writerStop != nil {
		c.writerStop()
		<-c.writerDone
	}
}

// Close stops the writer and every node, then removes the directory if
// Start created it. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.StopWriter()
		var errs []error
		for _, node := range c.nodes {
			errs = append(errs, node.Stop())
		}
		if c.removeDir {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
