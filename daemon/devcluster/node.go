package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/raftsnap/raftsnap/snapshot"
)

// SnapshotPath is where each node serves snapshot.NewHandler.
const SnapshotPath = "/v1/snapshot"

// Node is one raft server of the cluster.
type Node struct {
	ID       raft.ServerID
	RaftAddr raft.ServerAddress
	// HTTPAddr is the base URL of the node's API, "http://127.0.0.1:port";
	// the snapshot handler is at HTTPAddr+SnapshotPath.
	HTTPAddr string
	Raft     *raft.Raft
	// FSM is the node's local copy of the KV state.
	FSM *FSM

	cluster   *Cluster
	dir       string
	logger    *slog.Logger
	store     *raftboltdb.BoltStore
	snapshots *raft.FileSnapshotStore
	transport *raft.NetworkTransport
	listener  net.Listener
	server    *http.Server
	serveDone chan struct{}

	handlerOpts snapshot.HandlerOptions

	stopped  atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

func newNode(c *Cluster, id raft.ServerID, dir string, opts Options) (node *Node, err error) {
	n := &Node{ID: id, FSM: newFSM(), cluster: c, dir: dir, logger: c.logger.With("node", string(id))}
	defer func() {
		if err != nil {
			n.Stop()
			err = fmt.Errorf("devcluster: node %s: %w", id, err)
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A timeout turns "another process holds raft.db" into an error instead
	// of a hang.
	n.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft.db: %w", err)
	}
	raftLogger := newRaftLogger(n.logger, "raft")
	n.snapshots, err = raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, raftLogger)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	n.transport, err = raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, raftLogger)
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	n.RaftAddr = n.transport.LocalAddr()
	n.listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	n.HTTPAddr = "http://" + n.listener.Addr().String()
	n.handlerOpts = snapshot.HandlerOptions{
		Token:           opts.Token,
		MaxRestoreBytes: opts.MaxRestoreBytes,
		Logger:          n.logger,
		LeaderURL:       c.leaderURL,
	}
	return n, nil
}

// startRaft bootstraps a fresh node, or rewrites the stored configuration
// of a reused one (its peers listen on new ports), then starts raft.
func (n *Node) startRaft(configuration raft.Configuration) error {
	conf := raft.DefaultConfig()
	conf.LocalID = n.ID
	conf.HeartbeatTimeout = heartbeatTimeout
	conf.ElectionTimeout = electionTimeout
	conf.LeaderLeaseTimeout = leaderLeaseTimeout
	conf.CommitTimeout = commitTimeout
	conf.Logger = newRaftLogger(n.logger, "raft")

	existing, err := raft.HasExistingState(n.store, n.store, n.snapshots)
	if err != nil {
		return fmt.Errorf("devcluster: node %s: check existing state: %w", n.ID, err)
	}
	if existing {
		err = raft.RecoverCluster(conf, newFSM(), n.store, n.store, n.snapshots, n.transport, configuration)
	} else {
		err = raft.BootstrapCluster(conf, n.store, n.store, n.snapshots, n.transport, configuration)
	}
	if err != nil {
		return fmt.Errorf("devcluster: node %s: prepare raft state: %w", n.ID, err)
	}
	n.Raft, err = raft.NewRaft(conf, n.FSM, n.store, n.store, n.snapshots, n.transport)
	if err != nil {
		return fmt.Errorf("devcluster: node %s: start raft: %w", n.ID, err)
	}
	return nil
}

func (n *Node) startHTTP() {
	n.server = &http.Server{Handler: n.routes(), ReadHeaderTimeout: 10 * time.Second}
	n.serveDone = make(chan struct{})
	go func() {
		defer close(n.serveDone)
		if err := n.server.Serve(n.listener); !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("dev cluster http server failed", "error", err)
		}
	}()
}

// Stopped reports whether Stop was called.
func (n *Node) Stopped() bool { return n.stopped.Load() }

// Stop shuts the node down: its HTTP API, raft, transport and stores. The
// rest of the cluster keeps running (stop the leader to force an election).
// It is safe to call more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.stopped.Store(true)
		var errs []error
		if n.serveDone != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := n.server.Shutdown(ctx); err != nil {
				errs = append(errs, n.server.Close())
			}
			cancel()
			<-n.serveDone
		} else if n.listener != nil {
			errs = append(errs, n.listener.Close())
		}
		if n.Raft != nil {
			errs = append(errs, n.Raft.Shutdown().Error())
		}
		if n.transport != nil {
			// Close does not close pooled outbound connections, which would
			// keep the peers' connection handlers blocked in a read forever.
			n.transport.CloseStreams()
			errs = append(errs, n.transport.Close())
		}
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if err := errors.Join(errs...); err != nil {
			n.stopErr = fmt.Errorf("devcluster: stop node %s: %w", n.ID, err)
		}
	})
	return n.stopErr
}
