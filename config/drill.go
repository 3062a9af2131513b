package config

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// validateDrill checks a drill job: where its snapshots come from (store
// or from_job), the server binary it starts, and its optional schedule.
//
// A drill never takes an address: it restores only into the throwaway
// server it starts itself, on loopback ports it picked free, and checks
// that server's identity before sending a byte. The keys that would name
// a live server (target, source) are refused (JobType.refused).
func (v *validator) validateDrill(path string, job *Job, names map[string]int) {
	v.validateStoreOrFromJob(path, job, names, "a drill job needs the store whose newest verified snapshot it drills, "+
		"or from_job naming the snapshot job whose store to use")
	if i, ok := names[job.FromJob]; ok && v.usable(path+".from_job") && v.cfg.Jobs[i].Type == JobSnapshot && v.cfg.Jobs[i].Source != nil {
		v.checkDrillable(path+".from_job", job.FromJob, v.cfg.Jobs[i].Source.Kind)
	}

	if p := path + ".after_snapshots"; v.isSet(p) && v.checkable(p) {
		switch {
		case job.AfterSnapshots < 1:
			v.errorf(p, "must be 1 or more (drill after every Nth snapshot of from_job), got %d", job.AfterSnapshots)
		case !v.isSet(path + ".from_job"):
			v.errorf(p, "counts the snapshots of from_job: name the snapshot job with from_job instead of store")
		}
	}
	if v.isSet(path + ".interval") {
		v.validateSchedule(path, job)
	} else if p := path + ".jitter"; v.usable(p) {
		v.errorf(p, "applies to a drill job with an interval; without one the job drills only when woken up")
	}

	p := path + ".binary"
	if !v.absolutePath(p, job.Binary, "the consul or nomad binary the drill starts its throwaway server from, e.g. binary: /usr/bin/consul") {
		return
	}
	// Like a token file: a binary not installed yet fails that job's
	// drills (clearly), not the daemon.
	info, err := os.Stat(job.Binary)
	switch {
	case err != nil:
		v.warnf(p, "cannot use %s (%v): this job's drills fail until it can", job.Binary, unwrapPathError(err))
	case info.IsDir():
		v.errorf(p, "%s is a directory; give the server binary itself", job.Binary)
	case unix.Access(job.Binary, unix.X_OK) != nil:
		v.warnf(p, "%s is not executable by this user: this job's drills fail until it is", job.Binary)
	}
}

// checkDrillable refuses a drill of snapshots no throwaway server can
// take here.
func (v *validator) checkDrillable(path, fromJob string, kind source.Kind) {
	switch kind {
	case source.Vault:
		v.errorf(path, "%s snapshots Vault, which cannot be drilled yet: a throwaway Vault could only read the snapshot "+
			"with the source cluster's unseal keys (see docs/drills.md#vault)", quote(fromJob))
	case source.Raft:
		v.errorf(path, "%s snapshots a Go service embedding hashicorp/raft, which has no server binary a drill could start "+
			"(see docs/drills.md)", quote(fromJob))
	}
}

// warnUndrilledLastDrilled warns about a last_drilled rule (a job's, or
// one store's of a job with several) over snapshots no drill job of the
// file drills: it keeps nothing until one does (a drill run by another
// agent on the same store may, so it is no error). A drill job drills the
// snapshots of its from_job, or of the stores it names (local or remote,
// compared by identity).
func (v *validator) warnUndrilledLastDrilled() {
	drilled := map[string]bool{} // snapshot job names, and store identities
	for i := range v.cfg.Jobs {
		j := &v.cfg.Jobs[i]
		if j.Type != JobDrill {
			continue
		}
		if j.FromJob != "" {
			drilled[j.FromJob] = true
		}
		for _, st := range j.StoreList() {
			drilled[st.Identity()] = true
		}
	}
	for i := range v.cfg.Jobs {
		j := &v.cfg.Jobs[i]
		if j.Type == JobDrill || drilled[j.Name] || slices.ContainsFunc(j.StoreList(), func(st *Store) bool { return drilled[st.Identity()] }) {
			continue
		}
		warn := func(prefix string, p *Pruning) {
			if p == nil {
				return
			}
			for k, rule := range p.Keep {
				if path := fmt.Sprintf("%s.keep[%d].last_drilled", prefix, k); rule.LastDrilled != nil && v.usable(path) {
					v.warnf(path, "no drill job of this file drills the snapshots of %s: this rule keeps nothing until one does (docs/drills.md)", j.Name)
				}
			}
		}
		warn(fmt.Sprintf("jobs[%d].pruning", i), j.Pruning)
		for k := range j.Stores {
			warn(fmt.Sprintf("jobs[%d].stores[%d].pruning", i, k), j.Stores[k].Pruning)
		}
	}
}
