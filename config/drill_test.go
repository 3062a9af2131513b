package config

import (
	"slices"
	"strings"
	"testing"
)

func TestDrillJobs(t *testing.T) {
	const snap = `
  - name: consul-main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    store: {path: /var/lib/raftsnap/consul-main}
    pruning: {keep: [{last_n: {count: 3}}, {last_drilled: {count: 1}}]}
`
	cfg, err := ParseWith([]byte("jobs:"+snap), "x.yml", Options{SkipDirChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "no drill job of this file drills the snapshots of consul-main") {
		t.Errorf("warnings without a drill job: %q", cfg.Warnings)
	}
	cfg, err = ParseWith([]byte("jobs:"+snap+`
  - name: consul-drill
    type: drill
    from_job: consul-main
    binary: /nonexistent/consul
`), "x.yml", Options{SkipDirChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Jobs[1]
	if d.Store == nil || d.Store.Path != "/var/lib/raftsnap/consul-main" || d.Interval != 0 || d.Timeout.Std() != DefaultJobTimeout {
		t.Errorf("drill job after loading: %+v (store %+v)", d, d.Store)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "jobs[1].binary: cannot use /nonexistent/consul") {
		t.Errorf("warnings: %q", cfg.Warnings)
	}
	if jt, _ := LookupJobType(JobDrill); jt.Scheduled || jt.Prunes {
		t.Error("drill jobs are neither scheduled (the interval is optional) nor pruning")
	}
}

// TestLastDrilledWarningOverStores: the warning about a last_drilled rule
// no drill job serves understands jobs with several stores, per-store
// rules and buckets: a drill job of the job or of one of its stores
// silences it.
func TestLastDrilledWarningOverStores(t *testing.T) {
	const snap = `
  - name: consul-main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    pruning: {keep: [{last_n: {count: 3}}]}
    stores:
      - {path: /var/lib/raftsnap/consul-main}
      - {name: offsite, type: s3, bucket: snaps, region: us-east-1, pruning: {keep: [{last_drilled: {count: 1}}]}}
`
	for _, c := range []struct {
		why, drill string
		warned     bool
	}{
		{"no drill job", "", true},
		{"a drill of the job", "\n  - {name: d, type: drill, from_job: consul-main, binary: /bin/true}", false},
		{"a drill of the bucket", "\n  - {name: d, type: drill, store: {type: s3, bucket: snaps, region: us-east-1}, binary: /bin/true}", false},
		{"a drill of another bucket", "\n  - {name: d, type: drill, store: {type: s3, bucket: other, region: us-east-1}, binary: /bin/true}", true},
	} {
		cfg, err := ParseWith([]byte("jobs:"+snap+c.drill), "x.yml", Options{SkipDirChecks: true})
		if err != nil {
			t.Fatalf("%s: %v", c.why, err)
		}
		warned := slices.ContainsFunc(cfg.Warnings, func(w string) bool {
			return strings.Contains(w, "jobs[0].stores[1].pruning.keep[0].last_drilled: no drill job of this file drills the snapshots of consul-main")
		})
		if warned != c.warned {
			t.Errorf("%s: warned %v, want %v (%q)", c.why, warned, c.warned, cfg.Warnings)
		}
	}
}
