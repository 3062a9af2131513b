package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/retention"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// listRows is issue 14's "listing and planning retention for 100,000
// remote snapshots": a pruning pass (list, plan; a dry run, so nothing is
// deleted) over a versitygw bucket holding cfg.listCount snapshots, made
// through the bucket store as the prune job makes it, three times in one
// process: the first pass reads every manifest, the next ones only list
// (the manifests are cached by object identity). The store's listing TTL
// is set to 1 ns so that each pass lists again, as a pass after the TTL
// would. Requests are counted by a reverse proxy between the store and
// versitygw: every HTTP request the S3 client sends.
func listRows(ctx context.Context, cfg config, work string, rep *strings.Builder, section func(string)) error {
	const bucketName, job = "list", "consul-main"
	s3, err := startVersity(filepath.Join(work, "versitygw-list"), bucketName)
	if err != nil {
		return err
	}
	defer s3.Stop(versityStopTimeout)
	logf("list row: planting %d snapshots into versitygw's posix directory", cfg.listCount)
	now := time.Now().UTC().Truncate(time.Second)
	plantStart := time.Now()
	if err := plantSnapshots(filepath.Join(s3.Dir, "data", bucketName, job), job, cfg.listCount, now); err != nil {
		return err
	}
	plantTime := time.Since(plantStart)

	proxy, err := startCountingProxy(s3.Endpoint)
	if err != nil {
		return err
	}
	defer proxy.close()
	for _, kv := range s3Env(s3) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	st, err := bucket.Open(bucket.Config{Provider: bucket.S3, Bucket: bucketName, Prefix: job + "/", Endpoint: proxy.url, PathStyle: true},
		bucket.Options{ListTTL: time.Nanosecond}, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	grid, err := retention.ParseGrid("1x1h(keep=all) | 24x1h | 30x1d | 12x30d")
	if err != nil {
		return err
	}
	lastN, err := retention.NewLastN(24)
	if err != nil {
		return err
	}
	policy, err := retention.NewPolicy(lastN, grid)
	if err != nil {
		return err
	}

	section(fmt.Sprintf("Listing and planning retention over %d snapshots in a versitygw bucket (issue 14)", cfg.listCount))
	fmt.Fprintf(rep, "%d snapshots of job %s, one every 5 minutes up to now (%d objects: archives and manifests, written straight into versitygw's posix directory in %s, not through S3), listed and planned by `retention.Prune` with DryRun (the prune job's pass without the deletes) through `bucket.Open` (S3, path-style) with policy `last_n 24` + grid `1x1h(keep=all) | 24x1h | 30x1d | 12x30d`, three passes in one process. HTTP requests counted by a reverse proxy in front of versitygw %s, with the time spent waiting for versitygw's answers (summed over concurrent requests: manifests are read 16 at a time); the store's own counters agree where they overlap.\n\n",
		cfg.listCount, job, 2*cfg.listCount, plantTime.Round(time.Second), servers.VersityVersion)
	rep.WriteString("| pass | time | HTTP requests (by kind) | store counters | kept / destroyed |\n|---|---|---|---|---|\n")
	for pass := 1; pass <= 3; pass++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		proxy.reset()
		before := counterSnapshot(&st.Requests)
		logf("list row: pass %d", pass)
		start := time.Now()
		res, err := retention.Prune(ctx, st, policy, retention.PassOptions{Owner: retention.OwnedBy(job), Now: now, DryRun: true})
		took := time.Since(start)
		if err != nil {
			return fmt.Errorf("pass %d: %w", pass, err)
		}
		kept, destroyed := res.Counts()
		if kept+destroyed != cfg.listCount || res.Foreign != 0 {
			return fmt.Errorf("pass %d: planned %d snapshots (%d foreign), want %d", pass, kept+destroyed, res.Foreign, cfg.listCount)
		}
		fmt.Fprintf(rep, "| %d | %.2f s | %s | %s | %d / %d |\n", pass, took.Seconds(), proxy.summary(), counterSnapshot(&st.Requests).minus(before), kept, destroyed)
	}
	entries, _, err := st.List(ctx)
	if err != nil {
		return err
	}
	snaps := retention.FromEntries(entries)
	var plans []float64
	for range 5 {
		start := time.Now()
		retention.Decide(policy, snaps, now)
		plans = append(plans, time.Since(start).Seconds()*1000)
	}
	fmt.Fprintf(rep, "\nOf which planning alone (`retention.Decide` over the listed entries, 5 runs): median %.1f ms (%.1f–%.1f).\n",
		median(plans), slices.Min(plans), slices.Max(plans))
	return nil
}

// plantSnapshots writes count committed snapshots (a manifest and a small
// stand-in archive each, as the bucket store names them) straight into
// dir, versitygw's directory for the prefix: populating 200,000 objects
// through S3 PUTs would take most of an hour here. Listing reads only the
// manifests and the listing's sizes.
func plantSnapshots(dir, job string, count int, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := []byte("stand-in archive: listing and planning read no archive\n")
	start := now.Add(-time.Duration(count) * 5 * time.Minute)
	for i := range count {
		created := start.Add(time.Duration(i) * 5 * time.Minute)
		e := store.Entry{Schema: store.SidecarSchema, Name: store.NewName(job, created, uint64(1000+i), 1), Job: job,
			Source: "consul at http://127.0.0.1:8500", CreatedAt: created, Size: int64(len(archive)), SHA256: fmt.Sprintf("%064x", i),
			Index: uint64(1000 + i), Term: 2, RaftID: fmt.Sprintf("2-%d-1700000000000", 1000+i),
			Headers:  map[string]string{"X-Consul-Index": fmt.Sprint(1000 + i), "X-Consul-KnownLeader": "true"},
			Verified: true, VerifiedAt: created.Add(time.Second)}
		data, err := store.EncodeRecord(e)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name+bucket.ManifestSuffix), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name), archive, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type counters struct{ list, read, head, write, del, abort int64 }

func counterSnapshot(c *bucket.Counters) counters {
	return counters{c.List.Load(), c.Read.Load(), c.Head.Load(), c.Write.Load(), c.Delete.Load(), c.Abort.Load()}
}

func (c counters) minus(o counters) string {
	return fmt.Sprintf("list %d, read %d, head %d, write %d, delete %d, abort %d",
		c.list-o.list, c.read-o.read, c.head-o.head, c.write-o.write, c.del-o.del, c.abort-o.abort)
}

// countingProxy forwards to an S3 endpoint and counts the requests by
// kind: a GET of the bucket is a listing, a GET of a key an object read.
type countingProxy struct {
	url    string
	srv    *http.Server
	mu     sync.Mutex
	counts map[string]int
	// waited is the time spent in the gateway's answers, by kind
	// (summed over concurrent requests).
	waited map[string]time.Duration
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{url: "http://" + ln.Addr().String(), counts: map[string]int{}, waited: map[string]time.Duration{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The client signed the proxy's host: req.Host is left as it came.
	rp.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rp.ServeHTTP(w, r)
		p.count(r, time.Since(start))
	})}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("counting proxy: %v", err)
		}
	}()
	return p, nil
}

func (p *countingProxy) count(r *http.Request, took time.Duration) {
	path := strings.Trim(r.URL.Path, "/")
	kind := r.Method + " object"
	switch {
	case !strings.Contains(path, "/") && r.Method == http.MethodGet && r.URL.Query().Has("uploads"):
		kind = "list uploads"
	case !strings.Contains(path, "/") && r.Method == http.MethodGet:
		kind = "list"
	case !strings.Contains(path, "/"):
		kind = r.Method + " bucket"
	case r.Method == http.MethodGet:
		kind = "get"
	}
	p.mu.Lock()
	p.counts[kind]++
	p.waited[kind] += took
	p.mu.Unlock()
}

func (p *countingProxy) reset() {
	p.mu.Lock()
	clear(p.counts)
	clear(p.waited)
	p.mu.Unlock()
}

// summary is "N (kind n, time in the gateway; ...)".
func (p *countingProxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	var kinds []string
	for k, n := range p.counts {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s %d, %.1f s in versitygw", k, n, p.waited[k].Seconds()))
	}
	slices.Sort(kinds)
	return fmt.Sprintf("**%d** (%s)", total, strings.Join(kinds, "; "))
}

func (p *countingProxy) close() { p.srv.Close() }
