package config

import (
	"fmt"
	"strings"
)

// Job types, as written in `type:`.
const (
	JobSnapshot = "snapshot"
	JobPrune    = "prune"
	JobRestore  = "restore"
	JobScrub    = "scrub"
	JobDrill    = "drill"
)

// JobType is everything the configuration knows of one job type: the keys
// that apply to it, its defaults and its checks. It is the one place a type
// is described; the daemon keys its builders by Name, and the docs and the
// CLI's completion list JobTypes.
type JobType struct {
	Name string
	// Summary says what a job of this type does, in one line.
	Summary string
	// Keys are the job keys that apply to this type, besides name, type
	// and timeout (which apply to all).
	Keys []string
	// Scheduled types run on an interval (and on wakeup); the others only
	// on wakeup.
	Scheduled bool
	// Prunes is true for types with a pruning policy.
	Prunes bool
	// refused are keys of other types that this type refuses with a
	// message of its own rather than "does not apply".
	refused map[string]string

	defaults func(job *Job, g *Global, path string, isSet func(string) bool)
	validate func(v *validator, path string, job *Job, names map[string]int)
}

var jobTypes = []*JobType{
	{
		Name:      JobSnapshot,
		Summary:   "takes snapshots from a source into one store or several on a schedule, verifies them while they stream, then prunes",
		Keys:      []string{"source", "interval", "jitter", "retries", "on_cluster_change", "store", "stores", "pruning", "hooks", "ha"},
		Scheduled: true,
		Prunes:    true,
		defaults: func(job *Job, g *Global, path string, isSet func(string) bool) {
			if job.Retries == nil {
				r := g.Defaults.Retries
				job.Retries = &r
			} else {
				fillRetries(job.Retries, g.Defaults.Retries, path+".retries", isSet)
			}
			setString(&job.OnClusterChange, DefaultOnClusterChange)
		},
		validate: func(v *validator, path string, job *Job, _ map[string]int) {
			v.requireSource(path+".source", job.Source, "source", "a snapshot job needs the source to snapshot")
			v.validateSchedule(path, job)
			if job.Retries != nil && v.checkable(path+".retries") {
				v.validateRetries(path+".retries", job.Retries)
			}
			v.validateJobStores(path, job)
			v.storeOutsideSource(path, job)
			v.validateHooks(path, job.Hooks)
			if p := path + ".on_cluster_change"; v.checkable(p) && job.OnClusterChange != "fail" && job.OnClusterChange != "warn" {
				v.errorf(p, "%s is not a choice: use fail (refuse the snapshot) or warn (store it and report the change)", quote(job.OnClusterChange))
			}
		},
	},
	{
		Name:      JobPrune,
		Summary:   "applies a retention policy to a store on its own schedule (also to snapshots other jobs wrote)",
		Keys:      []string{"interval", "jitter", "store", "pruning", "owners", "ha"},
		Scheduled: true,
		Prunes:    true,
		validate: func(v *validator, path string, job *Job, _ map[string]int) {
			v.validateSchedule(path, job)
			v.requireStore(path+".store", job.Store)
			v.requirePruning(path+".pruning", job.Pruning, job.Owners)
			v.validateOwners(path, job)
		},
	},
	{
		Name:    JobRestore,
		Summary: "restores the latest or a named snapshot of a store into a target, only when woken up",
		Keys:    []string{"store", "from_job", "snapshot", "target", "allow_overwrite", "skip_flavor_check", "identity_file"},
		refused: map[string]string{
			"ha": "restore jobs are never gated by ha: a restore runs on the agent that is signalled (docs/ha.md); remove ha",
		},
		defaults: func(job *Job, _ *Global, _ string, _ func(string) bool) {
			setString(&job.Snapshot, DefaultRestoreSnapshot)
		},
		validate: func(v *validator, path string, job *Job, names map[string]int) {
			v.validateRestore(path, job, names)
			v.validateIdentityFile(path+".identity_file", job.IdentityFile)
		},
	},
	{
		Name: JobScrub,
		Summary: "reads stored snapshots again on a schedule and checks them against their records (all, or a sample per run); " +
			"a snapshot that rotted is marked unverified",
		Keys:      []string{"interval", "jitter", "store", "from_job", "owners", "sample"},
		Scheduled: true,
		defaults: func(job *Job, _ *Global, _ string, _ func(string) bool) {
			setString(&job.Sample, "all")
		},
		validate: func(v *validator, path string, job *Job, names map[string]int) {
			v.validateSchedule(path, job)
			v.validateStoreOrFromJob(path, job, names, "a scrub job needs the store to check, or from_job naming the snapshot job whose stores to check")
			v.validateOwners(path, job)
			if p := path + ".sample"; v.checkable(p) {
				if _, err := ParseScrubSample(job.Sample); err != nil {
					v.errorf(p, "%v", err)
				}
			}
		},
	},
	{
		Name:    JobDrill,
		Summary: "restores the newest verified snapshot of a store into a throwaway server it starts itself, and checks what the server reports against the archive",
		// Not Scheduled: the interval is optional (without it, only on
		// wakeup).
		Keys: []string{"store", "from_job", "binary", "interval", "jitter", "after_snapshots", "identity_file"},
		refused: map[string]string{
			"target": "a drill never restores into a configured server: it starts its own throwaway server from binary, " +
				"on loopback ports nothing else uses, so that it cannot touch a live cluster; remove target",
			"source": "a drill reads snapshots from a store (store or from_job), never from a server; remove source",
		},
		validate: func(v *validator, path string, job *Job, names map[string]int) {
			v.validateDrill(path, job, names)
			v.validateIdentityFile(path+".identity_file", job.IdentityFile)
		},
	},
}

// JobTypes lists the job types, in the order the docs give them.
func JobTypes() []*JobType { return jobTypes }

// LookupJobType returns the job type called name.
func LookupJobType(name string) (*JobType, bool) {
	for _, t := range jobTypes {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// JobTypeNames lists the job types' names.
func JobTypeNames() []string {
	names := make([]string, len(jobTypes))
	for i, t := range jobTypes {
		names[i] = t.Name
	}
	return names
}

// jobKeyTypes maps each type-specific job key to the types it applies to,
// in JobTypes order.
func jobKeyTypes() map[string][]string {
	keys := map[string][]string{}
	for _, t := range jobTypes {
		for _, k := range t.Keys {
			keys[k] = append(keys[k], t.Name)
		}
	}
	return keys
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// validateOwners checks a job's owners list.
func (v *validator) validateOwners(path string, job *Job) {
	for k, owner := range job.Owners {
		p := fmt.Sprintf("%s.owners[%d]", path, k)
		if v.checkable(p) && (!jobNamePattern.MatchString(owner) || strings.HasPrefix(owner, "_")) {
			v.errorf(p, "%s is not a job name", quote(owner))
		}
	}
}
