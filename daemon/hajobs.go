package daemon

import (
	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/ha"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// jobStore opens a job's store, and builds its gate when the job's
// effective ha block gates it (docs/ha.md). A gated job's store is fenced
// (ha.Store); a local directory is then opened for writing, and locked,
// only while this agent is active, so that the agents of one host can
// share it, and a standby never cleans the active agent's writes in
// progress.
func (b *jobBuilder) jobStore(c *config.Job) (job.Gate, store.Store, error) {
	gate, err := ha.New(ha.Options{Job: c.Name, HA: c.HA, Source: c.Source, UserAgent: buildinfo.UserAgent(), Logger: b.logger, Metrics: b.metrics})
	if err != nil || gate == nil {
		if err != nil {
			return nil, nil, err
		}
		st, err := b.openStore(c.Store)
		if err != nil {
			return nil, nil, err
		}
		return nil, st, nil
	}
	opts := ha.StoreOptions{Gate: gate, Name: "local store " + c.Store.Location(), Location: c.Store.Location()}
	if c.Store.IsRemote() {
		st, err := b.openStore(c.Store)
		if err != nil {
			return nil, nil, err
		}
		opts.Name = st.String()
		opts.Open = func() (store.Store, error) { return st, nil }
	} else {
		path := c.Store.Path
		opts.Open = func() (store.Store, error) { return store.Open(path, b.logger) }
		opts.View = func() (store.Store, error) { return store.OpenReadOnly(path) }
	}
	return gate, ha.NewStore(opts), nil
}
