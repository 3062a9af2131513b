package daemon

import (
	"fmt"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/daemon/ha"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// jobStores opens a job's stores, each with its own retention when it has
// one and encrypted when its block says so, and builds the job's gate when
// its effective ha block gates it (docs/ha.md). A gated job's stores are
// fenced (ha.Store): a local directory is then opened for writing, and
// locked, only while this agent is active, so that the agents of one host
// can share it, and a standby never cleans the active agent's writes in
// progress.
func (b *jobBuilder) jobStores(c *config.Job) (job.Gate, []job.JobStore, error) {
	gate, err := ha.New(ha.Options{Job: c.Name, HA: c.HA, Source: c.Source, UserAgent: buildinfo.UserAgent(), Logger: b.logger, Metrics: b.metrics})
	if err != nil {
		return nil, nil, err
	}
	var out []job.JobStore
	for _, s := range c.StoreList() {
		var st store.Store
		if gate == nil {
			st, err = b.openStore(s)
		} else {
			st, err = b.fencedStore(gate, s)
		}
		if err != nil {
			return nil, nil, err
		}
		if st, err = encryptedStore(c, s, st); err != nil {
			return nil, nil, err
		}
		js := job.JobStore{Store: st, Type: storeType(s)}
		if s.Pruning != nil {
			policy, err := s.Pruning.Policy()
			if err != nil {
				return nil, nil, fmt.Errorf("store %s: %w", s.Label(), err)
			}
			js.Policy = policy
		}
		out = append(out, js)
	}
	return gate, out, nil
}

// fencedStore is a gated job's store: every write checks the role first.
func (b *jobBuilder) fencedStore(gate job.Gate, s *config.Store) (store.Store, error) {
	opts := ha.StoreOptions{Gate: gate, Name: "local store " + s.Location(), Location: s.Location()}
	if s.IsRemote() {
		st, err := b.openStore(s)
		if err != nil {
			return nil, err
		}
		opts.Name = st.String()
		opts.Open = func() (store.Store, error) { return st, nil }
	} else {
		path := s.Path
		opts.Open = func() (store.Store, error) { return store.Open(path, b.logger) }
		opts.View = func() (store.Store, error) { return store.OpenReadOnly(path) }
		b.metrics.storeOpened(s.Location(), s.Label(), storeType(s))
	}
	return ha.NewStore(opts), nil
}
