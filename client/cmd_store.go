package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

func newStoreCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "List, fetch, verify and add the snapshots of a store, without the daemon",
		Long: `Work on a store directly: a local directory or an object store (s3://,
azblob://, gs://), named by --store, or a job's store(s) read from the
configuration file (--config FILE --job NAME). No daemon and no local state
are needed, which is what disaster recovery on another machine takes (see
docs/storage-recovery.md). Object store credentials come only from each
cloud's standard chain (environment, shared files, instance identity) and
are never printed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError(fmt.Errorf("%s needs a subcommand: list, get, verify or put", cmd.CommandPath()))
		},
	}
	cmd.AddCommand(
		newStoreListCommand(g),
		newStoreGetCommand(g),
		newStoreVerifyCommand(g),
		newStorePutCommand(g),
	)
	return cmd
}

// storeOptions say which store a store subcommand works on.
type storeOptions struct {
	configPath string
	configSet  bool // --config was given
	job        string
	store      string
	jobFilter  string
	// identityFile is --identity-file: the key that decrypts an encrypted
	// store's snapshots (with --config: instead of the job's identity_file).
	identityFile string
}

// addIdentityFlag registers --identity-file on a store subcommand.
func addIdentityFlag(cmd *cobra.Command, opts *storeOptions) {
	cmd.Flags().StringVar(&opts.identityFile, "identity-file", "", identityFlagUsage+"; with --config, the job's identity_file is used when it is not given")
}

const storeFlagHelp = `the store: a directory or a store URL such as s3://BUCKET/PREFIX/?region=R (endpoint=URL, path_style=true for S3-compatible servers), azblob://CONTAINER/PREFIX/, gs://BUCKET/PREFIX/; with --config: the name or location of one of the job's stores (default: all of them)`

// addStoreFlags registers the flags that pick the store; jobHelp says what
// --job means to the command.
func addStoreFlags(cmd *cobra.Command, opts *storeOptions, jobHelp string, filter bool) {
	cmd.Flags().StringVar(&opts.configPath, "config", config.DefaultPath, "configuration file to read the job's stores from (used with --job when no --store URL or directory is given)")
	cmd.Flags().StringVar(&opts.job, "job", "", jobHelp)
	_ = cmd.RegisterFlagCompletionFunc("job", configJobNames(&opts.configPath))
	cmd.Flags().StringVar(&opts.store, "store", "", storeFlagHelp)
	if filter {
		cmd.Flags().StringVar(&opts.jobFilter, "job-filter", "", "only the snapshots this job wrote (default with --config: the job's own, for a snapshot job)")
	}
}

// storeRunE records which flags were set before calling run.
func storeRunE(opts *storeOptions, run func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		opts.configSet = cmd.Flags().Changed("config")
		return run(cmd.Context(), args)
	}
}

// openMode is what a command does with the stores it opens.
type openMode int

const (
	// openRead only reads: a local store is opened read-only, beside a
	// daemon that may be writing to it.
	openRead openMode = iota
	// openRecord reads and records verdicts: a local store is opened for
	// writing, or read-only (verdicts not recorded) while a daemon holds it.
	openRecord
	// openWrite writes snapshots.
	openWrite
)

// namedStore is one opened store and the name output gives it.
type namedStore struct {
	label string
	st    store.Store
}

// storeSet is the stores a store subcommand works on.
type storeSet struct {
	stores []namedStore
	// job is the configuration's job (--config mode), nil with --store.
	job *config.Job
	// filter is the job whose snapshots to consider, "" for all.
	filter string
}

func (s *storeSet) Close() {
	for _, ns := range s.stores {
		ns.st.Close()
	}
}

// labels names the stores, for messages.
func (s *storeSet) labels() string {
	var names []string
	for _, ns := range s.stores {
		names = append(names, ns.label)
	}
	return strings.Join(names, ", ")
}

// labelOf is the label of st, one of the set's stores.
func (s *storeSet) labelOf(st store.Store) string {
	for _, ns := range s.stores {
		if ns.st == st {
			return ns.label
		}
	}
	return st.Location()
}

// union reads the set as one store, the first store preferred.
func (s *storeSet) union() *store.Union {
	var list []store.Store
	for _, ns := range s.stores {
		list = append(list, ns.st)
	}
	return store.NewUnion(list...)
}

// openStores opens the stores opts name: --store LOCATION alone, or the
// job's stores from the configuration (--config FILE --job NAME, where
// --store picks one of them by name or location).
func openStores(g *globalOptions, opts *storeOptions, mode openMode) (*storeSet, error) {
	fromConfig := opts.configSet || (opts.store == "" && opts.job != "")
	if opts.identityFile != "" {
		// A bad file fails here, before anything is read.
		if _, err := loadIdentities(opts.identityFile); err != nil {
			return nil, err
		}
	}
	if !fromConfig {
		if opts.store == "" {
			return nil, usageError(errors.New("no store given: name it with --store DIR|URL, or read a job's stores with --config FILE --job NAME"))
		}
		cs, err := config.ParseStoreLocation(opts.store)
		if err != nil {
			return nil, usageError(fmt.Errorf("--store: %w", err))
		}
		ns, err := openStore(g, cs, cs.Location(), mode)
		if err != nil {
			return nil, err
		}
		if ns.st, err = config.EncryptedStore(cs, ns.st, false, opts.identityFile); err != nil {
			ns.st.Close()
			return nil, err
		}
		filter := opts.jobFilter
		if filter == "" {
			filter = opts.job
		}
		return &storeSet{stores: []namedStore{ns}, filter: filter}, nil
	}
	if opts.job == "" {
		return nil, usageError(fmt.Errorf("--config %s needs --job NAME: the job whose stores to use", opts.configPath))
	}
	// Directories are not checked at load: on another machine a job's
	// local store may be gone while its bucket is what matters. Each store
	// is checked when it is opened.
	cfg, err := loadConfig(g, opts.configPath, config.Options{UID: os.Geteuid(), SkipDirChecks: true})
	if err != nil {
		return nil, err
	}
	job, err := findStoreJob(cfg, opts.job)
	if err != nil {
		return nil, usageError(err)
	}
	list := job.StoreList()
	if opts.store != "" {
		i := slices.IndexFunc(list, func(cs *config.Store) bool { return cs.Label() == opts.store || cs.Location() == opts.store })
		if i < 0 {
			var names []string
			for _, cs := range list {
				names = append(names, cs.Label())
			}
			return nil, usageError(fmt.Errorf("job %s has no store %q; its stores: %s", job.Name, opts.store, strings.Join(names, ", ")))
		}
		list = list[i : i+1]
	}
	set := &storeSet{job: job, filter: opts.jobFilter}
	if set.filter == "" {
		set.filter = defaultJobFilter(job)
	}
	identity := opts.identityFile
	if identity == "" {
		identity = job.IdentityFile
	}
	var errs []error
	for _, cs := range list {
		ns, err := openStore(g, cs, cs.Label(), mode)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// As the daemon uses it: a put encrypts where the store's encrypt
		// block says; reads decrypt with the identity, if any.
		wrapped, err := config.EncryptedStore(cs, ns.st, mode == openWrite, identity)
		if err != nil {
			ns.st.Close()
			errs = append(errs, fmt.Errorf("job %s: %w", job.Name, err))
			continue
		}
		ns.st = wrapped
		set.stores = append(set.stores, ns)
	}
	if len(set.stores) == 0 || (mode == openWrite && len(errs) > 0) {
		// A put goes where it was asked to, or nowhere.
		set.Close()
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		g.logger.Warn("store left out: it cannot be opened", "err", err)
	}
	return set, nil
}

// findStoreJob returns the named job if it has a store.
func findStoreJob(cfg *config.Config, name string) (*config.Job, error) {
	var names []string
	for i := range cfg.Jobs {
		job := &cfg.Jobs[i]
		if len(job.StoreList()) == 0 {
			continue
		}
		if job.Name == name {
			return job, nil
		}
		names = append(names, job.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no job named %s, and no job in the configuration has a store", name)
	}
	return nil, fmt.Errorf("no job named %s with a store; jobs with a store: %s", name, strings.Join(names, ", "))
}

// defaultJobFilter is whose snapshots a job's stores are read for by
// default: a snapshot job's own, a restore or scrub job's from_job, a
// prune job's one owner; else everyone's.
func defaultJobFilter(job *config.Job) string {
	switch {
	case job.Type == config.JobSnapshot:
		return job.Name
	case job.FromJob != "":
		return job.FromJob
	case len(job.Owners) == 1:
		return job.Owners[0]
	}
	return ""
}

// openStore opens one store block.
func openStore(g *globalOptions, cs *config.Store, label string, mode openMode) (namedStore, error) {
	if cs.IsRemote() {
		st, err := openBucket(cs, label, g.logger)
		if err != nil {
			return namedStore{}, err
		}
		return namedStore{label: label, st: st}, nil
	}
	if _, err := os.Stat(cs.Path); mode != openWrite && err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return namedStore{}, fmt.Errorf("store %s does not exist", cs.Path)
		}
		return namedStore{}, fmt.Errorf("store %s: %w", cs.Path, err)
	}
	var st store.Store
	var err error
	switch mode {
	case openRead:
		st, err = store.OpenReadOnly(cs.Path)
	case openRecord:
		st, err = store.Open(cs.Path, g.logger)
		var inUse *store.InUseError
		if errors.As(err, &inUse) {
			g.logger.Warn("the store is in use by a running raftsnap: verifying without recording the verdicts", "store", cs.Path)
			st, err = store.OpenReadOnly(cs.Path)
		}
	case openWrite:
		st, err = store.Open(cs.Path, g.logger)
	}
	if err != nil {
		return namedStore{}, err
	}
	return namedStore{label: label, st: st}, nil
}

// storeListing is what the set's stores list: every copy of every
// snapshot (filtered by job), grouped by name, and what is not a snapshot.
type storeListing struct {
	// snapshots are newest first (store.CompareNewestFirst); each has its
	// copies, the preferred first (verified, then in store order).
	snapshots []listedSnapshot
	foreign   []store.Foreign
	// failed are the stores that could not be listed.
	failed map[string]error
	jobs   []string // the jobs of the snapshots listed, sorted
}

type listedSnapshot struct {
	store.Entry // the preferred copy
	copies      []store.Entry
}

// list lists every store of the set. A store that cannot be listed is
// reported (failed) as long as another could be.
func (s *storeSet) list(ctx context.Context) (*storeListing, error) {
	l := &storeListing{failed: map[string]error{}}
	at := map[string]int{}
	var errs []error
	for _, ns := range s.stores {
		entries, foreign, err := ns.st.List(ctx)
		if err != nil {
			l.failed[ns.label] = err
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if s.filter != "" && e.Job != s.filter {
				continue
			}
			e.Store = ns.label
			i, ok := at[e.Name]
			if !ok {
				at[e.Name] = len(l.snapshots)
				l.snapshots = append(l.snapshots, listedSnapshot{Entry: e, copies: []store.Entry{e}})
				continue
			}
			l.snapshots[i].copies = append(l.snapshots[i].copies, e)
			if !l.snapshots[i].Verified && e.Verified {
				l.snapshots[i].Entry = e
			}
		}
		for _, f := range foreign {
			f.Store = ns.label
			l.foreign = append(l.foreign, f)
		}
	}
	if len(errs) == len(s.stores) {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(l.snapshots, func(a, b listedSnapshot) int {
		return store.CompareNewestFirst(a.Position(), b.Position())
	})
	for _, snap := range l.snapshots {
		if !slices.Contains(l.jobs, snap.Job) {
			l.jobs = append(l.jobs, snap.Job)
		}
	}
	slices.Sort(l.jobs)
	return l, nil
}

// entries are the preferred copies, newest first.
func (l *storeListing) entries() []store.Entry {
	entries := make([]store.Entry, len(l.snapshots))
	for i := range l.snapshots {
		entries[i] = l.snapshots[i].Entry
	}
	return entries
}

// warnFailed logs the stores that could not be listed.
func (l *storeListing) warnFailed(logger *slog.Logger) {
	for label, err := range l.failed {
		logger.Warn("store left out: it cannot be listed", "store", label, "err", err)
	}
}
