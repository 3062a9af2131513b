package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func haConfig(dir, global, jobHA string) string {
	return fmt.Sprintf(`global:
  control: {sockpath: %s/control}
%s
jobs:
  - name: main
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1m
    store: {path: %s/store}
    pruning: {keep: [{last_n: {count: 3}}]}
%s
  - name: again
    type: restore
    store: {path: %s/store}
    target: {type: consul, address: http://127.0.0.1:8500}
    allow_overwrite: true
`, dir, global, dir, jobHA, dir)
}

// TestHADefaultsAndInheritance: a job's effective block is global.ha with
// its own keys on top, built-in defaults under both; restore jobs are not
// gated.
func TestHADefaultsAndInheritance(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse([]byte(haConfig(dir, `  ha:
    mode: consul_lock
    consul: {address: http://127.0.0.1:8500}
    session_ttl: 20s`, `    ha: {max_failures: 5}`)), "ha.yml")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Jobs[0].HA
	if h == nil || h.Mode != HAConsulLock || h.LockKey != DefaultHALockKey || h.SessionTTL.Std() != 20*time.Second ||
		h.LockDelay.Std() != DefaultHALockDelay || h.MaxFailures != 5 || h.Consul == nil || h.Consul.Kind != "consul" {
		t.Fatalf("effective ha = %+v", h)
	}
	if cfg.Global.HA.MaxFailures != DefaultHAMaxFailure {
		t.Errorf("global max_failures = %d", cfg.Global.HA.MaxFailures)
	}
	if cfg.Jobs[1].HA != nil {
		t.Errorf("restore job got ha %+v", cfg.Jobs[1].HA)
	}

	cfg, err = Parse([]byte(haConfig(dir, "", `    ha: {mode: leader_local, poll_interval: 2s}`)), "ha.yml")
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.Jobs[0].HA; h.Mode != HALeaderLocal || h.PollInterval.Std() != 2*time.Second {
		t.Fatalf("leader_local = %+v", h)
	}
	cfg, err = Parse([]byte(haConfig(dir, `  ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500}}`, `    ha: {mode: none}`)), "ha.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jobs[0].HA.Gated() {
		t.Fatalf("mode none is gated: %+v", cfg.Jobs[0].HA)
	}
}

// TestHAValidation: each mistake is named at its key.
func TestHAValidation(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ global, job, want string }{
		"unknown mode":     {`  ha: {mode: raft}`, "", `global.ha.mode: "raft" is not an ha mode`},
		"no consul":        {`  ha: {mode: consul_lock}`, "", "global.ha.consul: missing"},
		"short ttl":        {`  ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500}, session_ttl: 5s}`, "", "global.ha.session_ttl: must be between 10s and 24h"},
		"long delay":       {`  ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500}, lock_delay: 2m}`, "", "global.ha.lock_delay: must be between 0s and 60s"},
		"bad key":          {`  ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500}, lock_key: /x/}`, "", "global.ha.lock_key"},
		"negative fails":   {"", `    ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500}, max_failures: -1}`, "jobs[0].ha.max_failures: must be 0"},
		"not consul":       {`  ha: {mode: consul_lock, consul: {type: nomad, address: http://127.0.0.1:4646}}`, "", "global.ha.consul.type: the lock lives in Consul"},
		"token in yaml":    {`  ha: {mode: consul_lock, consul: {address: http://127.0.0.1:8500, token: x}}`, "", "tokens must not be written"},
		"leader_local ttl": {`  ha: {mode: leader_local, session_ttl: 15s}`, "", "global.ha.session_ttl: applies to mode consul_lock only"},
		"restore ha":       {"", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			text := haConfig(dir, c.global, c.job)
			if name == "restore ha" {
				text += "    ha: {mode: none}\n"
				c.want = "jobs[1].ha: restore jobs are never gated"
			}
			_, err := Parse([]byte(text), "ha.yml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
		})
	}
}
