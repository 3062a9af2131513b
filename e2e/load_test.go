package e2e

// Load: one daemon, 100 snapshot jobs on 2-second intervals against one
// embedded dev cluster, while a pool of clients polls /status 200 times a
// second over the real control socket. Afterwards: no job missed its
// schedule by more than one interval, every run succeeded, no request
// failed, and the daemon's memory stayed flat. It runs the 2
// minutes, alone (`make unit` runs it after the other tests so that they do
// not compete for the CPU); RAFTSNAP_LOAD_DURATION (`make soak-load`) runs
// longer.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon/job"
)

const (
	loadJobs        = 100
	loadInterval    = 2 * time.Second
	loadPollPerSec  = 200
	loadPollWorkers = 16
	// A run starts at most one interval late: consecutive starts are at
	// most two intervals apart (the jobs have no jitter).
	loadMaxGap = 2 * loadInterval
)

func TestDaemonUnderLoad(t *testing.T) {
	// The two minutes, in CI too: memory can only be judged flat
	// once every job's history ring is full (see warm-up below).
	duration := 2 * time.Minute
	if v := os.Getenv("RAFTSNAP_LOAD_DURATION"); v != "" {
		// For longer soaks than the documented two minutes.
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			t.Fatalf("RAFTSNAP_LOAD_DURATION=%q: want a duration of at least 10s", v)
		}
		duration = d
	}
	cluster := startCluster(t, "")
	ctx := context.Background()
	for i := range 20 {
		if err := cluster.Put(ctx, fmt.Sprintf("load-%02d", i), randomText(t, 4<<10)); err != nil {
			t.Fatal(err)
		}
	}
	addr := leader(t, cluster).HTTPAddr

	dir := shortTempDir(t)
	var jobs []string
	for i := range loadJobs {
		jobs = append(jobs, fmt.Sprintf(`{name: load-%03[1]d, type: snapshot, source: {type: raft, address: %%[2]s}, interval: %%[3]s, retries: {max: 0}, store: {path: %%[1]s/stores/%03[1]d}, pruning: {keep: [{last_n: {count: 3}}]}}`, i))
	}
	d := startDaemon(t, writeConfig(t, dir, `{control: {sockpath: %[1]s/ctl/sock}, logging: {level: info}}`, jobs, addr, loadInterval))
	pid := d.Pid()

	// Every run start seen in any /status, by job and run id: the history
	// holds the last 20 runs, and the pollers look far more often than that.
	var startsMu sync.Mutex
	starts := map[string]map[string]controlapi.RunReport{}
	record := func(st controlapi.DaemonStatus) {
		startsMu.Lock()
		defer startsMu.Unlock()
		for _, j := range st.Jobs {
			if starts[j.Name] == nil {
				starts[j.Name] = map[string]controlapi.RunReport{}
			}
			for _, r := range j.History {
				starts[j.Name][r.ID] = r
			}
			if j.LastRun != nil {
				starts[j.Name][j.LastRun.ID] = *j.LastRun
			}
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: loadPollWorkers,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", d.Sock)
		}}}
	total := int(duration.Seconds()) * loadPollPerSec
	work := make(chan int, total)
	var (
		latMu     sync.Mutex
		latencies = make([]time.Duration, 0, total)
		failures  atomic.Int64
		firstErr  atomic.Value
	)
	poll := func(i int) {
		start := time.Now()
		resp, err := client.Get("http://raftsnap/status")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			} else if i%20 == 0 {
				// Decoding costs the test CPU the daemon needs: 10 a second is
				// plenty to follow the histories.
				var st controlapi.DaemonStatus
				if err = json.NewDecoder(resp.Body).Decode(&st); err == nil {
					record(st)
				}
			} else {
				_, err = io.Copy(io.Discard, resp.Body)
			}
		}
		elapsed := time.Since(start)
		if err != nil {
			failures.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Errorf("request %d: %w", i, err))
			return
		}
		latMu.Lock()
		latencies = append(latencies, elapsed)
		latMu.Unlock()
	}
	var workers sync.WaitGroup
	for range loadPollWorkers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range work {
				poll(i)
			}
		}()
	}

	// RSS once a second, for the whole run.
	var rss []rssSample
	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			kib, err := procStatusKiB(pid, "VmRSS")
			anon, anonErr := procStatusKiB(pid, "RssAnon")
			if err == nil && anonErr == nil {
				rss = append(rss, rssSample{time.Since(begin), kib, anon})
			}
			select {
			case <-tick.C:
			case <-stopSampler:
				return
			}
		}
	}()

	// The pollers get the summary (no histories); a full status every 5 s
	// (history of 20 runs: 40 s) makes sure no run start goes unseen.
	stopHarvest := make(chan struct{})
	harvested := make(chan struct{})
	go func() {
		defer close(harvested)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopHarvest:
				return
			case <-tick.C:
				record(fetchStatus(t, d.Sock))
			}
		}
	}()

	// The dispatcher hands out one request every 5 ms; a queue that grows
	// means the daemon could not keep up, which the achieved rate shows.
	pace := time.NewTicker(time.Second / loadPollPerSec)
	for i := range total {
		work <- i
		<-pace.C
	}
	pace.Stop()
	close(work)
	workers.Wait()
	elapsed := time.Since(begin)
	close(stopSampler)
	<-samplerDone
	close(stopHarvest)
	<-harvested
	final := fetchStatus(t, d.Sock)
	record(final)
	finalJSON, _ := json.Marshal(final)
	summaryResp, err := client.Get("http://raftsnap/status")
	if err != nil {
		t.Fatal(err)
	}
	summaryJSON, _ := io.ReadAll(summaryResp.Body)
	summaryResp.Body.Close()
	// The default answer is a summary: bounded per job whatever the jobs
	// have done (issue 19's target: at most 100 KiB for 100 jobs).
	if len(summaryJSON) > 100<<10 {
		t.Errorf("the default /status is %d KiB for %d jobs, more than 100 KiB", len(summaryJSON)>>10, loadJobs)
	}

	select {
	case <-d.Exited():
		t.Fatalf("the daemon exited under load: %v\n%s", d.WaitErr(), d.Output())
	default:
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d /status requests failed; first: %v", n, total, firstErr.Load())
	}
	rate := float64(total) / elapsed.Seconds()
	// The achieved rate is reported, not asserted: on a shared 2-core
	// machine it measures the neighbours as much as the daemon.
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}

	// Schedules: from each job's run starts, the gaps between consecutive
	// starts, and every run's result.
	startsMu.Lock()
	defer startsMu.Unlock()
	var worstGap time.Duration
	worstJob, runs := "", 0
	minRuns := int(duration/loadInterval) - 2
	for i := range loadJobs {
		name := fmt.Sprintf("load-%03d", i)
		reports := make([]controlapi.RunReport, 0, len(starts[name]))
		for _, r := range starts[name] {
			reports = append(reports, r)
		}
		slices.SortFunc(reports, func(a, b controlapi.RunReport) int { return a.StartedAt.Compare(b.StartedAt) })
		runs += len(reports)
		if len(reports) < minRuns {
			t.Errorf("job %s ran %d times in %s, want at least %d", name, len(reports), duration, minRuns)
		}
		for k, r := range reports {
			if r.Result != controlapi.ResultSuccess {
				t.Errorf("job %s run %s (%s): %s: %s", name, r.ID, r.Trigger, r.Result, r.Error)
			}
			if k == 0 {
				continue
			}
			if gap := r.StartedAt.Sub(reports[k-1].StartedAt); gap > worstGap {
				worstGap, worstJob = gap, name
			}
		}
		if st := jobStatus(t, final, name); st.Store == nil || st.Store.Snapshots == 0 || st.Store.Snapshots > 3 {
			t.Errorf("job %s: store summary %+v, want 1 to 3 snapshots kept", name, st.Store)
		}
	}
	if worstGap > loadMaxGap {
		t.Errorf("job %s missed its schedule: %s between two run starts, more than %s (2 intervals)", worstJob, worstGap, loadMaxGap)
	}

	// Memory: after a warm-up, the last quarter's average RSS within 1.5x
	// of the first quarter's. The warm-up lasts until every job's history
	// ring (job.HistorySize runs) is full: until then the status, and the
	// memory behind it, grow by design.
	warmUp := max(duration/6, job.HistorySize*loadInterval+10*time.Second)
	warm := rss[:0:0]
	for _, s := range rss {
		if s.at >= warmUp {
			warm = append(warm, s)
		}
	}
	if len(warm) < 8 {
		t.Fatalf("only %d RSS samples after warm-up", len(warm))
	}
	q := len(warm) / 4
	first, last := avgKiB(warm[:q]), avgKiB(warm[len(warm)-q:])
	var peak, anonPeak int64
	for _, s := range rss {
		peak, anonPeak = max(peak, s.kib), max(anonPeak, s.anonKiB)
	}
	if float64(last) > 1.5*float64(first) {
		t.Errorf("RSS grew: last-quarter average %d KiB, first-quarter average %d KiB (more than 1.5x)", last, first)
	}
	t.Logf("load: %d jobs every %s for %s: %d runs, worst gap between starts %s (%s)", loadJobs, loadInterval, elapsed.Round(time.Second), runs, worstGap.Round(time.Millisecond), worstJob)
	t.Logf("load: /status %d requests at %.0f/s, %d failed, latency p50 %s p99 %s max %s",
		total, rate, failures.Load(), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	t.Logf("load: the default /status (summary) is %d KiB of JSON; with ?detail=full %d KiB", len(summaryJSON)>>10, len(finalJSON)>>10)
	t.Logf("load: RSS first quarter %d KiB, last quarter %d KiB, peak %d KiB (%d samples)", first, last, peak, len(rss))
	// VmRSS counts the binary's own pages that were read (file-backed,
	// shared, given back under pressure); RssAnon is the daemon's memory.
	var anonLast int64
	for _, s := range warm[len(warm)-q:] {
		anonLast += s.anonKiB
	}
	t.Logf("load: of which anonymous (RssAnon) last quarter %d KiB, peak %d KiB", anonLast/int64(q), anonPeak)
}

// procStatusKiB reads a field in kB (VmRSS, RssAnon) from
// /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssSample is the daemon's VmRSS and RssAnon at some time into the load
// run.
type rssSample struct {
	at           time.Duration
	kib, anonKiB int64
}

func avgKiB(samples []rssSample) int64 {
	var sum int64
	for _, s := range samples {
		sum += s.kib
	}
	return sum / int64(len(samples))
}
