package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/devcluster"
)

// DevEnvironment is what `raftsnap daemon --dev` runs: two embedded Raft
// clusters (a 3-node one to back up, a 1-node one to restore into) and a
// built-in configuration pointing at them.
type DevEnvironment struct {
	Dir    string
	Config *config.Config
	// YAML is the built-in configuration, written to ConfigPath by WriteConfig.
	YAML   []byte
	Source *devcluster.Cluster
	Target *devcluster.Cluster

	clusterDir string
}

// devConfigTemplate is the embedded default configuration. It goes through
// the same loader and validation as any user's file.
const devConfigTemplate = `# raftsnap --dev: the built-in configuration, written here for reference.
# Addresses change on every start.
global:
  logging:
    level: info
  control:
    sockpath: %[1]s/control/sock
  monitoring:
    listen: 127.0.0.1:0
  shutdown_timeout: 10s

jobs:
  # Every 10 seconds, a verified snapshot of the 3-node dev cluster.
  - name: dev-snapshot
    type: snapshot
    source:
      type: raft
      address: %[2]s
      stale: true        # any node may answer, so a leader change does not fail a run
    interval: 10s
    timeout: 30s
    store:
      path: %[1]s/store
    pruning:
      keep:
        - last_n: {count: 6}
        - grid: "1x1m(keep=all) | 10x1m | 24x1h"

  # Applies a looser policy on its own schedule to dev-snapshot's
  # snapshots. Files without a record (a plain "raftsnap snapshot save"
  # into the directory) are never pruned: they are counted as foreign.
  - name: dev-prune
    type: prune
    store:
      path: %[1]s/store
    interval: 1m
    owners: [dev-snapshot]
    pruning:
      keep:
        - last_n: {count: 20}

  # Restores the newest verified snapshot into the second (1-node) cluster;
  # runs only when signalled: raftsnap signal wakeup dev-restore
  - name: dev-restore
    type: restore
    from_job: dev-snapshot
    snapshot: latest
    target:
      type: raft
      address: %[3]s
`

// StartDev starts the dev clusters under dir and builds the configuration.
// Close releases everything it started.
func StartDev(ctx context.Context, dir string, logger *slog.Logger) (*DevEnvironment, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	// Raft data is per run (fresh clusters each start); the store persists
	// in dir/store so snapshots survive a restart of the daemon.
	clusterDir, err := os.MkdirTemp(abs, "clusters-")
	if err != nil {
		return nil, err
	}
	env := &DevEnvironment{Dir: abs, clusterDir: clusterDir}
	fail := func(err error) (*DevEnvironment, error) {
		env.Close()
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	env.Source, err = devcluster.Start(startCtx, devcluster.Options{
		Nodes: 3, Dir: filepath.Join(clusterDir, "source"), Logger: logger, WriteInterval: 200 * time.Millisecond,
	})
	if err != nil {
		return fail(fmt.Errorf("starting the dev source cluster: %w", err))
	}
	env.Target, err = devcluster.Start(startCtx, devcluster.Options{
		Nodes: 1, Dir: filepath.Join(clusterDir, "target"), Logger: logger,
	})
	if err != nil {
		return fail(fmt.Errorf("starting the dev restore-target cluster: %w", err))
	}
	leader, err := env.Source.Leader(startCtx)
	if err != nil {
		return fail(err)
	}
	target, err := env.Target.Leader(startCtx)
	if err != nil {
		return fail(err)
	}
	env.YAML = fmt.Appendf(nil, devConfigTemplate, abs, leader.HTTPAddr, target.HTTPAddr)
	// Parsed here, written by WriteConfig only once this daemon holds the
	// control socket: a refused second --dev must not overwrite the file
	// that describes the running one.
	env.Config, err = config.Parse(env.YAML, env.ConfigPath())
	if err != nil {
		return fail(fmt.Errorf("the built-in dev configuration is invalid (a bug): %w", err))
	}
	return env, nil
}

// ConfigPath is where WriteConfig puts the built-in configuration.
func (e *DevEnvironment) ConfigPath() string { return filepath.Join(e.Dir, "raftsnap.yml") }

// WriteConfig writes the built-in configuration to ConfigPath, for the
// operator's reference. Call it once the daemon runs (Options.Ready).
func (e *DevEnvironment) WriteConfig() error {
	return os.WriteFile(e.ConfigPath(), e.YAML, 0o600)
}

// Close stops the dev clusters and removes their data (the store stays).
func (e *DevEnvironment) Close() {
	if e.Source != nil {
		e.Source.Close()
	}
	if e.Target != nil {
		e.Target.Close()
	}
	// Only this run's clusters: another daemon may be using the same dir.
	os.RemoveAll(e.clusterDir)
}
