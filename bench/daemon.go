package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

type daemonProc struct {
	*child
	socket string
	client *http.Client
}

// jobSpec is one job of a generated daemon config, as YAML.
type jobSpec string

func snapshotJob(name, consulAddr, storeDir, interval string) jobSpec {
	return jobSpec(fmt.Sprintf(`  - name: %s
    type: snapshot
    source: {type: consul, address: %q}
    interval: %s
    timeout: 1h
    store: {path: %q}
    pruning:
      keep:
        - last_n: {count: 1}
`, name, consulAddr, interval, storeDir))
}

func restoreJob(name, fromJob, consulAddr string) jobSpec {
	return jobSpec(fmt.Sprintf(`  - name: %s
    type: restore
    from_job: %s
    snapshot: latest
    timeout: 1h
    target: {type: consul, address: %q}
    allow_overwrite: true
`, name, fromJob, consulAddr))
}

// startDaemon writes a config with jobs under dir and runs `raftsnap daemon`.
func startDaemon(bin, dir string, jobs []jobSpec) (*daemonProc, error) {
	return startDaemonEnv(bin, dir, nil, jobs)
}

// startDaemonEnv is startDaemon with env added to the daemon's environment
// (an object store's credentials).
func startDaemonEnv(bin, dir string, env []string, jobs []jobSpec) (*daemonProc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "run", "control")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  logging: {level: warn}\n  control: {sockpath: %q}\njobs:\n", socket)
	for _, j := range jobs {
		cfg.WriteString(string(j))
	}
	configPath := filepath.Join(dir, "raftsnap.yml")
	if err := os.WriteFile(configPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	c, err := startChild("raftsnap daemon", filepath.Join(dir, "daemon.log"), env, bin, "daemon", "--config", configPath)
	if err != nil {
		return nil, err
	}
	d := &daemonProc{child: c, socket: socket, client: unixClient(socket)}
	err = c.waitFor("the control socket", 30*time.Second, func() bool {
		resp, err := d.client.Get("http://raftsnap/version")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func unixClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			MaxIdleConnsPerHost: 64,
		},
	}
}

// wakeup is the command that runs a daemon job now and waits for it.
func (d *daemonProc) wakeup(bin, job string) []string {
	return []string{bin, "signal", "wakeup", job, "--wait", "--socket", d.socket}
}

// daemonRun is a timed daemon job run with the daemon's peak RSS (VmHWM
// reset before, read after).
// RssAnon (anonymous memory: heap, stacks, buffers, without the mapped
// binary's pages) has no high-water mark: it is sampled every 10 ms.
func (d *daemonProc) daemonRun(s *series, bin, job string) *tool {
	var stop chan struct{}
	var sampled chan int64
	return &tool{s: s, argv: d.wakeup(bin, job),
		before: func() error {
			if err := resetPeakRSS(d.pid()); err != nil {
				return err
			}
			stop, sampled = make(chan struct{}), make(chan int64, 1)
			go func() {
				var peak int64
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					if anon, err := procStatusBytes(d.pid(), "RssAnon"); err == nil {
						peak = max(peak, anon)
					}
					select {
					case <-stop:
						sampled <- peak
						return
					case <-tick.C:
					}
				}
			}()
			return nil
		},
		after: func(r *result) error {
			close(stop)
			r.anonPeak = <-sampled
			hwm, err := procStatusBytes(d.pid(), "VmHWM")
			r.maxRSS = hwm
			return err
		}}
}

// anonLine says the daemon's sampled RssAnon peaks of the series.
func anonLine(rows ...*series) string {
	var parts []string
	for _, s := range rows {
		var peak int64
		for _, r := range s.runs {
			peak = max(peak, r.anonPeak)
		}
		if peak > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", s.tool, mib(peak)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "\nThe daemon's anonymous memory (RssAnon, sampled every 10 ms; VmHWM above adds the mapped binary's file-backed pages), peak over the runs: " + strings.Join(parts, "; ") + ".\n"
}

// warmUp runs each job once, untimed: Consul's and the page cache's first
// run, and the store's first listing.
func (d *daemonProc) warmUp(ctx context.Context, bin string, jobs ...string) error {
	for _, job := range jobs {
		logf("warm-up: %s", job)
		if _, err := runTimed(ctx, nil, d.wakeup(bin, job)...); err != nil {
			return err
		}
	}
	return nil
}

// statusDoc is the part of /status the bench reads.
type statusDoc struct {
	Jobs []struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		State   string `json:"state"`
		LastRun *struct {
			Result string `json:"result"`
			Error  string `json:"error"`
		} `json:"last_run"`
	} `json:"jobs"`
}

func (d *daemonProc) status() (*statusDoc, int, error) {
	resp, err := d.client.Get("http://raftsnap/status")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	var doc statusDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("decoding /status: %w", err)
	}
	return &doc, len(data), nil
}

// waitSettled waits until no job is running and, when firstRun, every
// snapshot job has finished its start-up run successfully.
func (d *daemonProc) waitSettled(timeout time.Duration, firstRun bool) error {
	var lastProblem string
	var failed error
	err := d.waitFor("all jobs waiting", timeout, func() bool {
		doc, _, err := d.status()
		if err != nil {
			lastProblem = err.Error()
			return false
		}
		for _, j := range doc.Jobs {
			if j.State == "running" || (firstRun && j.Type == "snapshot" && j.LastRun == nil) {
				lastProblem = j.Name + " is " + j.State
				return false
			}
			if j.Type == "snapshot" && j.LastRun != nil && j.LastRun.Result != "success" {
				failed = fmt.Errorf("%s: run %s: %s", j.Name, j.LastRun.Result, j.LastRun.Error)
				return true
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, lastProblem)
	}
	return failed
}

// seedStores gives each job's store one fresh, verified snapshot of the
// small Consul (saved once by raftsnap, committed through the store
// package), so that the jobs wait for their next interval instead of all
// asking Consul at once at start-up: Consul answers concurrent snapshot
// requests with 500 "failed to open snapshot" (its snapshot store keeps
// only the newest two), which we saw with 100 jobs.
func seedStores(ctx context.Context, bin, consulAddr, dir string, jobs int) error {
	seed := filepath.Join(dir, "seed.snap")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "snapshot", "save", "--source", "consul", "--address", consulAddr, "--format", "json", seed).CombinedOutput()
	if err != nil {
		return fmt.Errorf("seeding: raftsnap snapshot save: %w\n%s", err, out)
	}
	var saved struct {
		Source string `json:"source"`
		Index  uint64 `json:"index"`
		Term   uint64 `json:"term"`
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(out, &saved); err != nil {
		return fmt.Errorf("seeding: %w in %s", err, out)
	}
	for i := range jobs {
		name := jobName(i)
		st, err := store.Open(filepath.Join(dir, "stores", name), nil)
		if err != nil {
			return err
		}
		now := time.Now()
		pending, err := st.Create(context.Background(), name, store.NewName(name, now, saved.Index, 1))
		if err != nil {
			return err
		}
		f, err := os.Open(seed)
		if err != nil {
			return err
		}
		_, err = io.Copy(pending, f)
		f.Close()
		if err != nil {
			pending.Abort()
			return err
		}
		if _, err := pending.Commit(context.Background(), store.Entry{Source: saved.Source, CreatedAt: now, SHA256: saved.SHA256,
			Index: saved.Index, Term: saved.Term, RaftID: saved.ID, Verified: true, VerifiedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

func jobName(i int) string { return fmt.Sprintf("job-%03d", i) }
