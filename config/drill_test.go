package config

import (
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
