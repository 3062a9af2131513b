package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/atomicfile"
	"github.com/raftsnap/raftsnap/snapshot/store"
)

// TestStoreMetricsOncePerStore: a bucket that a snapshot job writes, a
// prune job prunes and a scrub job reads has one series per metric: its
// counts from the last listing, whichever job listed it; its errors and
// copies behind from the snapshot job alone. A directory only a prune job
// uses is reported by it. Building the jobs opens the bucket without
// contacting it.
func TestStoreMetricsOncePerStore(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	bucketBlock := `{name: offsite, type: s3, bucket: snapshots, prefix: snap/, endpoint: "http://127.0.0.1:9"}`
	yaml := fmt.Sprintf(`jobs:
  - {name: prune, type: prune, interval: 1h, store: %[3]s, pruning: {keep: [{last_n: {count: 9}}]}}
  - name: snap
    type: snapshot
    source: {type: raft, address: "http://127.0.0.1:9"}
    interval: 1h
    pruning: {keep: [{last_n: {count: 3}}]}
    stores: [{path: %[1]s}, %[3]s]
  - {name: scrub, type: scrub, interval: 24h, from_job: snap}
  - {name: other, type: prune, interval: 1h, store: {path: %[2]s}, pruning: {keep: [{last_n: {count: 3}}]}}
`, dir, other, bucketBlock)
	cfg, err := config.ParseWith([]byte(yaml), "t.yml", config.Options{SkipDirChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(testVersion)
	b := newJobBuilder(slog.New(slog.DiscardHandler), m)
	plan, err := b.plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.commit(plan)

	bucketLoc := "offsite" // a named bucket store's Location is its name
	entries := func(n, unverified int) []store.Entry {
		var es []store.Entry
		for i := range n {
			es = append(es, store.Entry{Name: fmt.Sprintf("snap-20260101T00000%dZ-%d.snap", i, i+1), Index: uint64(i + 1), Size: 10, Verified: i >= unverified})
		}
		return es
	}
	m.StoreListed(bucketLoc, entries(3, 0), nil)
	m.StoreListed(dir, entries(2, 0), nil)
	m.StoreListed(bucketLoc, entries(3, 1), nil) // a scrub's listing after a rot: seen at once
	m.StoreListed(other, nil, errors.New("denied"))
	m.StoreListed("/not/a/store/of/this/daemon", entries(9, 0), nil)
	for _, report := range []struct {
		job  string
		sums []controlapi.StoreSummary
	}{
		{"prune", []controlapi.StoreSummary{{Path: bucketLoc, Behind: 7, LastError: "ignored: not the reporter"}}},
		{"snap", []controlapi.StoreSummary{{Path: dir}, {Path: bucketLoc, Behind: 1}}},
		{"scrub", []controlapi.StoreSummary{{Path: dir, Behind: 5, LastError: "ignored"}}},
	} {
		m.JobStores(report.job, report.sums)
	}
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			if values[f.GetName()] == nil {
				values[f.GetName()] = map[string]float64{}
			}
			values[f.GetName()][labelOf(metric, "store")+"/"+labelOf(metric, "type")] = metric.GetGauge().GetValue()
		}
	}
	want := map[string]map[string]float64{
		"raftsnap_stored_snapshots":            {dir + "/local": 2, "offsite/s3": 3},
		"raftsnap_stored_unverified_snapshots": {dir + "/local": 0, "offsite/s3": 1},
		"raftsnap_stored_bytes":                {dir + "/local": 20, "offsite/s3": 30},
		"raftsnap_store_behind_snapshots":      {dir + "/local": 0, "offsite/s3": 1},
		"raftsnap_store_up":                    {dir + "/local": 1, "offsite/s3": 1, other + "/local": 0},
	}
	for name, series := range want {
		if fmt.Sprint(values[name]) != fmt.Sprint(series) {
			t.Errorf("%s = %v, want %v", name, values[name], series)
		}
	}
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestReloadClosesStoresNoJobUses: a store whose only job a reload
// removed is closed, its directory lock released for whoever takes it
// over; a store a remaining job uses stays open (and locked).
func TestReloadClosesStoresNoJobUses(t *testing.T) {
	kept, removed := t.TempDir(), t.TempDir()
	job := func(name, dir string) string {
		return fmt.Sprintf("  - {name: %s, type: prune, interval: 1h, store: {path: %s}, pruning: {keep: [{last_n: {count: 3}}]}}\n", name, dir)
	}
	b := newJobBuilder(slog.New(slog.DiscardHandler), newMetrics(testVersion))
	for _, yaml := range []string{"jobs:\n" + job("a", kept) + job("b", removed), "jobs:\n" + job("a", kept)} {
		cfg, err := config.ParseWith([]byte(yaml), "t.yml", config.Options{SkipDirChecks: true})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := b.plan(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b.commit(plan)
		b.closeUnused()
	}
	// The lock is a flock: a second open file of the lock file (this
	// process's too) cannot take it while the store holds it.
	lock, err := atomicfile.TryLock(filepath.Join(removed, store.LockName))
	if err != nil {
		t.Fatalf("the removed job's store still holds its lock: %v", err)
	}
	lock.Release()
	if lock, err := atomicfile.TryLock(filepath.Join(kept, store.LockName)); err == nil {
		lock.Release()
		t.Fatal("the remaining job's store was closed under it")
	}
	for _, st := range b.stores {
		st.Close()
	}
}
