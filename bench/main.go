// Command bench measures raftsnap side by side with what users would
// otherwise run (issue 8): save, verify and restore against a real Consul
// server holding about 1 GiB of KV data, the daemon's peak RSS while it
// saves and restores, /status latency with 100 jobs, an idle daemon's cost,
// and the retention-planning and store-listing Go benchmarks; and issues 14
// and 15's rows: the daemon's save into a versitygw bucket against `consul
// snapshot save` + `rclone copyto` (bucket), save, verify and restore with
// and without age encryption (encrypt), and listing and planning retention
// over 100,000 snapshots in a bucket, with the requests counted (list). It
// prints a Markdown report (docs/performance.md, "Side by side", "Object
// storage", "Encryption at rest").
//
// Run it with `make bench`; flags are documented in -help. Everything it
// starts is stopped and its work directory removed when it ends, also on
// SIGINT/SIGTERM; children get SIGKILL if the bench itself is killed.
package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	raftsnap, raftsnapPure, consul, goBin string
	raftsnapBaseline                      string
	size                                  int64
	runs                                  int
	statusRate                            int
	statusDuration, idleDuration          time.Duration
	workDir, out                          string
	goBenchmarks                          bool
	skipRestore                           bool
	rows                                  map[string]bool
	// rclone and glue: the bucket row's cron glue (rclone copyto).
	rclone string
	glue   bool
	// bucketPartSize is the bucket row's store part_size ("": default).
	bucketPartSize string
	// listCount is the list row's number of snapshots.
	listCount int
	// daemonEnv is added to the environment of the bucket and encrypt
	// rows' daemons (e.g. GOGC=50, to see what of their RSS is GC slack).
	daemonEnv []string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "stdlib-verify" {
		if err := stdlibVerify(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "stdlib-verify:", err)
			os.Exit(3)
		}
		return
	}
	var cfg config
	home, _ := os.UserHomeDir()
	toolsDir := envOr("RAFTSNAP_TOOLS_DIR", filepath.Join(home, ".cache", "raftsnap-tools"))
	flag.StringVar(&cfg.raftsnap, "raftsnap", "./raftsnap", "raftsnap binary as `make build` builds it")
	flag.StringVar(&cfg.raftsnapPure, "raftsnap-purego", "", "raftsnap built without build tags (CGO_ENABLED=0); empty: skip those rows")
	flag.StringVar(&cfg.raftsnapBaseline, "raftsnap-baseline", "", "another raftsnap binary (an older build) whose CLI restore joins row 4; empty: none")
	flag.StringVar(&cfg.consul, "consul", envOr("RAFTSNAP_CONSUL_BIN", filepath.Join(toolsDir, "consul")), "consul binary (.ci/build-servers)")
	flag.StringVar(&cfg.goBin, "go", "go", "go command for the Go benchmarks")
	sizeMiB := flag.Int64("size-mib", 1024, "KV data to load into Consul, MiB")
	flag.IntVar(&cfg.runs, "runs", 3, "repetitions of each timed command")
	flag.IntVar(&cfg.statusRate, "status-rate", 500, "/status requests per second")
	flag.DurationVar(&cfg.statusDuration, "status-duration", 10*time.Second, "length of one /status load round (3 rounds)")
	flag.DurationVar(&cfg.idleDuration, "idle", 5*time.Minute, "how long to watch the idle daemon")
	flag.StringVar(&cfg.workDir, "workdir", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
	flag.StringVar(&cfg.out, "out", "", "also write the Markdown report to this file")
	flag.BoolVar(&cfg.goBenchmarks, "go-benchmarks", true, "run the retention-planning and store-listing Go benchmarks")
	flag.BoolVar(&cfg.skipRestore, "skip-restore", false, "skip the restore rows")
	flag.StringVar(&cfg.rclone, "rclone", "/usr/bin/rclone", "rclone binary for the bucket row's cron glue (Debian's rclone)")
	flag.BoolVar(&cfg.glue, "glue", true, "bucket row: time the cron glue (consul snapshot save + rclone copyto) too; false: only the daemon's job (its RSS at multi-GiB -size-mib)")
	flag.StringVar(&cfg.bucketPartSize, "bucket-part-size", "", "bucket row: the store's part_size (e.g. 5MiB; empty: the default)")
	flag.IntVar(&cfg.listCount, "list-count", 100_000, "list row: snapshots in the bucket")
	daemonEnv := flag.String("daemon-env", "", "comma-separated KEY=VALUE added to the bucket and encrypt rows' daemons' environment (e.g. GOGC=50)")
	rows := flag.String("rows", "status,idle,consul,go,bucket,encrypt,list", "rows to run: status (5), idle (7), consul (1-4), go (6), rss (3 alone: only the daemon's save and restore, for multi-GiB -size-mib), restore (4 alone: the restores, of the daemon's first snapshot), bucket (issue 14: save into versitygw against consul snapshot save + rclone copyto), encrypt (issue 15: save, verify and restore, plain and with age), list (issue 14: listing and planning retention over -list-count snapshots in versitygw)")
	flag.Parse()
	cfg.size = *sizeMiB << 20
	if *daemonEnv != "" {
		cfg.daemonEnv = strings.Split(*daemonEnv, ",")
	}
	cfg.rows = map[string]bool{}
	for _, r := range strings.Split(*rows, ",") {
		switch r = strings.TrimSpace(r); r {
		case "status", "idle", "consul", "go", "rss", "restore", "bucket", "encrypt", "list":
			cfg.rows[r] = true
		default:
			fmt.Fprintf(os.Stderr, "bench: -rows: unknown row %q (want status, idle, consul, go, rss, restore, bucket, encrypt or list)\n", r)
			os.Exit(2)
		}
	}
	if !cfg.rows["go"] || !cfg.goBenchmarks {
		cfg.goBenchmarks = false
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	report, err := run(ctx, cfg)
	stop()
	runCleanups()
	if report != "" {
		fmt.Println(report)
		if cfg.out != "" {
			if werr := os.WriteFile(cfg.out, []byte(report), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "bench:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:3], " ")
}

func run(ctx context.Context, cfg config) (string, error) {
	for _, bin := range []string{cfg.raftsnap, cfg.consul} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%s: %w (make build; .ci/build-servers)", bin, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	curl, curlErr := exec.LookPath("curl")
	work := cfg.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "raftsnap-bench-"); err != nil {
			return "", err
		}
		atExit(func() { os.RemoveAll(work) })
	}
	var rep strings.Builder
	var repMu sync.Mutex
	section := func(title string) {
		repMu.Lock()
		defer repMu.Unlock()
		fmt.Fprintf(&rep, "\n### %s\n\nLoad average at the start of this row: %s.\n\n", title, loadAvg())
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&rep, "Run %s on %s, kernel %s, %d runs per command, load average at start %s.\n",
		time.Now().UTC().Format(time.RFC3339), cpuModel(), strings.TrimSpace(string(kernel)), cfg.runs, loadAvg())
	fmt.Fprintf(&rep, "Binaries: raftsnap `%s` (make build) and `%s` (no build tags), consul `%s`.\n",
		cfg.raftsnap, cfg.raftsnapPure, cfg.consul)

	// Small Consul for the daemons whose jobs must only exist (rows 5 and 7).
	small, err := startConsul(cfg.consul, filepath.Join(work, "consul-small"), false)
	if err != nil {
		return rep.String(), err
	}

	// Row 5: /status latency with 100 jobs.
	if cfg.rows["status"] {
		section("5. Control socket: /status latency, 100 jobs")
		logf("row 5: daemon with 100 jobs")
		if err := statusLatency(ctx, cfg, small.addr, filepath.Join(work, "daemon-status"), &rep); err != nil {
			return rep.String(), err
		}
	}

	// Row 7 runs in the background while the rest goes on: it measures only
	// the idle daemon's own CPU time.
	idleDone := make(chan string, 1)
	if cfg.rows["idle"] {
		logf("row 7: idle daemon with 10 jobs, watched for %s in the background", cfg.idleDuration)
		if err := seedStores(ctx, cfg.raftsnap, small.addr, filepath.Join(work, "daemon-idle"), 10); err != nil {
			return rep.String(), err
		}
		idleDaemon, err := startDaemon(cfg.raftsnap, filepath.Join(work, "daemon-idle"), manySnapshotJobs(10, small.addr, filepath.Join(work, "daemon-idle")))
		if err != nil {
			return rep.String(), err
		}
		if err := idleDaemon.waitSettled(time.Minute, false); err != nil {
			return rep.String(), err
		}
		go func() { idleDone <- idleWatch(ctx, idleDaemon, cfg.idleDuration) }()
	}

	if cfg.rows["consul"] || cfg.rows["rss"] || cfg.rows["restore"] || cfg.rows["bucket"] || cfg.rows["encrypt"] {
		big, err := startLoadedConsul(cfg, work)
		if err != nil {
			return rep.String(), err
		}
		if cfg.rows["consul"] || cfg.rows["rss"] || cfg.rows["restore"] {
			if err := consulRows(ctx, cfg, big, work, self, curl, curlErr, &rep, section); err != nil {
				return rep.String(), err
			}
		}
		if cfg.rows["bucket"] {
			if err := bucketRows(ctx, cfg, big, work, &rep, section); err != nil {
				return rep.String(), err
			}
		}
		if cfg.rows["encrypt"] {
			if err := encryptRows(ctx, cfg, big, work, &rep, section); err != nil {
				return rep.String(), err
			}
		}
		big.stop()
	}

	if cfg.rows["list"] {
		if err := listRows(ctx, cfg, work, &rep, section); err != nil {
			return rep.String(), err
		}
	}

	if cfg.goBenchmarks {
		section("6. Retention planning and store listing over 100,000 snapshots (Go benchmarks)")
		for _, b := range []struct{ name, pkg string }{{"Plan100k", "./snapshot/retention"}, {"List100k", "./snapshot/store"}} {
			logf("go benchmark %s", b.name)
			line, err := goBenchmark(ctx, cfg.goBin, b.name, b.pkg)
			if err != nil {
				return rep.String(), err
			}
			repMu.Lock()
			rep.WriteString(line)
			repMu.Unlock()
		}
	}

	if !cfg.rows["idle"] {
		return rep.String(), nil
	}
	logf("waiting for the idle measurement")
	select {
	case line := <-idleDone:
		section(fmt.Sprintf("7. Idle daemon with 10 snapshot jobs waiting (interval 1h), watched for %s", cfg.idleDuration))
		rep.WriteString(line)
	case <-ctx.Done():
		return rep.String(), ctx.Err()
	}
	return rep.String(), nil
}

// consulRows measures rows 1-4 against a real Consul server with a data dir.
// With row "rss" but not "consul" it times only the daemon's jobs (row 3):
// at several GiB the other tools would take most of an hour.
// tool is one command timed in a row, with what brackets it.
type tool struct {
	s    *series
	argv []string
	// before/after bracket the command (daemon peak RSS).
	before func() error
	after  func(*result) error
	// then are commands run after argv, each timed as a step of the same
	// run (a shell pipeline's `&&`): the run's time is their sum, its RSS
	// the largest.
	then [][]string
	// out, when set, is the file the command writes; removed after timing.
	out string
}

// run times the tool once and records the result in its series.
func (t *tool) run(ctx context.Context, env []string, what string) error {
	if t.before != nil {
		if err := t.before(); err != nil {
			return err
		}
	}
	logf("%s: %s", what, t.s.tool)
	r, err := runTimed(ctx, env, t.argv...)
	if err != nil {
		return err
	}
	if len(t.then) > 0 {
		r.steps = []time.Duration{r.wall}
		for _, argv := range t.then {
			next, err := runTimed(ctx, env, argv...)
			if err != nil {
				return err
			}
			r.wall += next.wall
			r.cpu += next.cpu
			r.maxRSS = max(r.maxRSS, next.maxRSS)
			r.steps = append(r.steps, next.wall)
		}
	}
	if t.after != nil {
		if err := t.after(&r); err != nil {
			return err
		}
	}
	t.s.runs = append(t.s.runs, r)
	if t.out != "" {
		os.Remove(t.out)
	}
	return nil
}

// loadedConsul is the real Consul server (with a data dir) of rows 1-4
// and of the bucket and encrypt rows, holding cfg.size of KV data.
type loadedConsul struct {
	*consulServer
	keys     int
	loadTime time.Duration
}

func startLoadedConsul(cfg config, work string) (*loadedConsul, error) {
	logf("starting Consul server, loading %d MiB of KV", cfg.size>>20)
	big, err := startConsul(cfg.consul, filepath.Join(work, "consul"), true)
	if err != nil {
		return nil, err
	}
	loadStart := time.Now()
	keys, err := loadKV(big.addr, cfg.size)
	if err != nil {
		return nil, fmt.Errorf("loading KV: %w", err)
	}
	loadTime := time.Since(loadStart)
	logf("loaded %d keys in %s", keys, loadTime.Round(time.Second))
	return &loadedConsul{consulServer: big, keys: keys, loadTime: loadTime}, nil
}

func consulRows(ctx context.Context, cfg config, lc *loadedConsul, work, self, curl string, curlErr error, rep *strings.Builder, section func(string)) error {
	rssOnly := !cfg.rows["consul"] && cfg.rows["rss"]
	restoreOnly := !cfg.rows["consul"] && !cfg.rows["rss"]
	big, keys, loadTime := lc.consulServer, lc.keys, lc.loadTime

	daemonDir := filepath.Join(work, "daemon-consul")
	storeDir := filepath.Join(daemonDir, "store")
	d, err := startDaemon(cfg.raftsnap, daemonDir, []jobSpec{
		snapshotJob("consul-bench", big.addr, storeDir, "24h"),
		restoreJob("consul-bench-restore", "consul-bench", big.addr),
	})
	if err != nil {
		return err
	}
	// The snapshot job catches up at start (empty store); that first run is
	// the warm-up of Consul and of the page cache.
	logf("daemon start-up snapshot (warm-up)")
	if err := d.waitSettled(30*time.Minute, true); err != nil {
		return err
	}

	outDir := filepath.Join(work, "out")
	os.MkdirAll(outDir, 0o700)
	saveFile := filepath.Join(outDir, "raftsnap.snap")
	env := []string{"CONSUL_HTTP_ADDR=" + big.addr}
	daemonBaseRSS, _ := procStatusBytes(d.pid(), "VmRSS")
	if restoreOnly {
		// The daemon's warm-up snapshot is the archive to restore.
		if saveFile, err = largestFile(storeDir); err != nil {
			return err
		}
		info, err := os.Stat(saveFile)
		if err != nil {
			return err
		}
		err = restoreRows(ctx, cfg, d, big, saveFile, info.Size(), env, rep, section)
		d.stop()
		return err
	}

	// Row 1: save.
	if rssOnly {
		section(fmt.Sprintf("3. Daemon peak RSS: its snapshot job against a real Consul server holding %d MiB of KV data", cfg.size>>20))
	} else {
		section(fmt.Sprintf("1. End-to-end save from a real Consul server holding %d MiB of KV data", cfg.size>>20))
	}
	var saves []*tool
	var curlSeries *series
	consulSave := &series{tool: "consul snapshot save", command: "consul snapshot save FILE"}
	// -rows rss alone: only the daemon's job, nothing to compare with.
	if !rssOnly {
		if curlErr == nil {
			curlSeries = &series{tool: "curl -o (no verification)", command: "curl -sSf -o FILE $CONSUL_HTTP_ADDR/v1/snapshot"}
			saves = append(saves, &tool{s: curlSeries, argv: []string{curl, "-sSf", "-o", filepath.Join(outDir, "curl.snap"), big.addr + "/v1/snapshot"}, out: filepath.Join(outDir, "curl.snap")})
		} else {
			logf("curl not found (%v): row 1 has no curl reference", curlErr)
		}
		saves = append(saves, &tool{s: consulSave, argv: []string{cfg.consul, "snapshot", "save", filepath.Join(outDir, "consul.snap")}, out: filepath.Join(outDir, "consul.snap")})
		rsSave := &series{tool: "raftsnap snapshot save", command: "raftsnap snapshot save --source consul FILE"}
		saves = append(saves, &tool{s: rsSave, argv: []string{cfg.raftsnap, "snapshot", "save", "--source", "consul", "--address", big.addr, saveFile}})
		if cfg.raftsnapPure != "" {
			saves = append(saves, &tool{s: &series{tool: "raftsnap snapshot save", note: "(no build tags)", command: "raftsnap snapshot save --source consul FILE"},
				argv: []string{cfg.raftsnapPure, "snapshot", "save", "--source", "consul", "--address", big.addr, filepath.Join(outDir, "pure.snap")}, out: filepath.Join(outDir, "pure.snap")})
		}
	}
	daemonSave := &series{tool: "raftsnap daemon snapshot job", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-bench --wait"}
	saves = append(saves, d.daemonRun(daemonSave, cfg.raftsnap, "consul-bench"))
	if err := rounds(ctx, cfg.runs, len(saves), func(i int) error {
		return saves[i].run(ctx, env, "save")
	}); err != nil {
		return err
	}
	if rssOnly {
		// The archive the daemon kept (last_n 1) stands in for the CLI's.
		if saveFile, err = largestFile(storeDir); err != nil {
			return err
		}
	}
	info, err := os.Stat(saveFile)
	if err != nil {
		return err
	}
	archiveBytes := info.Size()
	stateBytes, err := stateSize(saveFile)
	if err != nil {
		return err
	}
	var saveRows []*series
	for _, t := range saves {
		saveRows = append(saveRows, t.s)
	}
	if rssOnly {
		fmt.Fprintf(rep, "%d keys of %d bytes (loaded in %s); archive %s, state.bin %s. MB/s counts archive bytes. Only the daemon's job runs (-rows rss).\n\n",
			keys, valueSize, loadTime.Round(time.Second), mib(archiveBytes), mib(stateBytes))
		table(rep, saveRows, nil, archiveBytes, "ratio")
	} else {
		ref := curlSeries
		if ref == nil {
			ref = consulSave
		}
		fmt.Fprintf(rep, "%d keys of %d bytes (loaded in %s); archive %s, state.bin %s. MB/s counts archive bytes. Ratio: time / time of %s in the same round (lower is faster).\n\n",
			keys, valueSize, loadTime.Round(time.Second), mib(archiveBytes), mib(stateBytes), ref.tool)
		table(rep, saveRows, ref, archiveBytes, "time ratio to "+ref.tool)
	}
	fmt.Fprintf(rep, "\nThe daemon's RSS before the saves: %s.\n", mib(daemonBaseRSS))

	// Row 2: verification of the archive raftsnap saved.
	if rssOnly {
		return rssRestore(ctx, cfg, d, big, saveFile, archiveBytes, env, rep, section)
	}
	section("2. Verification of the saved archive")
	warmPageCache(saveFile)
	verifies := []*tool{
		{s: &series{tool: "stdlib path (compress/gzip + archive/tar + sha256)", command: "bench stdlib-verify FILE"}, argv: []string{self, "stdlib-verify", saveFile}},
		{s: &series{tool: "raftsnap snapshot verify", command: "raftsnap snapshot verify FILE"}, argv: []string{cfg.raftsnap, "snapshot", "verify", saveFile}},
	}
	if cfg.raftsnapPure != "" {
		verifies = append(verifies, &tool{s: &series{tool: "raftsnap snapshot verify", note: "(no build tags)", command: "raftsnap snapshot verify FILE"}, argv: []string{cfg.raftsnapPure, "snapshot", "verify", saveFile}})
	}
	verifies = append(verifies, &tool{s: &series{tool: "consul snapshot inspect", command: "consul snapshot inspect FILE"}, argv: []string{cfg.consul, "snapshot", "inspect", saveFile}})
	if err := rounds(ctx, cfg.runs, len(verifies), func(i int) error {
		logf("verify: %s", verifies[i].s.tool)
		r, err := runTimed(ctx, nil, verifies[i].argv...)
		verifies[i].s.runs = append(verifies[i].s.runs, r)
		return err
	}); err != nil {
		return err
	}
	var verifyRows []*series
	for _, t := range verifies {
		verifyRows = append(verifyRows, t.s)
	}
	fmt.Fprintf(rep, "Archive %s (state.bin %s), read from the page cache. MB/s counts archive bytes; state MB/s = that x %.2f. Ratio: time / stdlib time in the same round (0.50x = twice as fast).\n\n",
		mib(archiveBytes), mib(stateBytes), float64(stateBytes)/float64(archiveBytes))
	table(rep, verifyRows, verifyRows[0], archiveBytes, "time ratio to stdlib")

	// Row 4 (and the restore half of row 3): restore.
	if err := restoreRows(ctx, cfg, d, big, saveFile, archiveBytes, env, rep, section); err != nil {
		return err
	}
	d.stop()
	return nil
}

// restoreRows is row 4: the same archive restored into the same Consul by
// consul's CLI, raftsnap's CLI (and -raftsnap-baseline's) and the daemon's
// restore job, round after round.
func restoreRows(ctx context.Context, cfg config, d *daemonProc, big *consulServer, saveFile string, archiveBytes int64, env []string,
	rep *strings.Builder, section func(string)) error {
	if cfg.skipRestore {
		return nil
	}
	section("3-4. Restore of the same snapshot into the same Consul server")
	restores := []*tool{
		{s: &series{tool: "consul snapshot restore", command: "consul snapshot restore FILE"}, argv: []string{cfg.consul, "snapshot", "restore", saveFile}},
		{s: &series{tool: "raftsnap snapshot restore", command: "raftsnap snapshot restore --source consul --yes FILE"}, argv: []string{cfg.raftsnap, "snapshot", "restore", "--source", "consul", "--address", big.addr, "--yes", saveFile}},
	}
	if cfg.raftsnapBaseline != "" {
		restores = append(restores, &tool{s: &series{tool: "raftsnap snapshot restore", note: "(-raftsnap-baseline)", command: "raftsnap snapshot restore --source consul --yes FILE"},
			argv: []string{cfg.raftsnapBaseline, "snapshot", "restore", "--source", "consul", "--address", big.addr, "--yes", saveFile}})
	}
	restores = append(restores, d.daemonRun(&series{tool: "raftsnap daemon restore job", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-bench-restore --wait"},
		cfg.raftsnap, "consul-bench-restore"))
	if err := rounds(ctx, cfg.runs, len(restores), func(i int) error {
		return restores[i].run(ctx, env, "restore")
	}); err != nil {
		return err
	}
	var restoreRows []*series
	for _, t := range restores {
		restoreRows = append(restoreRows, t.s)
	}
	fmt.Fprintf(rep, "Archive %s. Ratio: time / consul snapshot restore time in the same round.\n\n", mib(archiveBytes))
	table(rep, restoreRows, restoreRows[0], archiveBytes, "time ratio to consul")
	return nil
}

// rounds runs each of n tools once per round, rotating who goes first so
// that no tool always runs right after the same neighbour.
func rounds(ctx context.Context, runs, n int, do func(i int) error) error {
	for round := range runs {
		for k := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := do((round + k) % n); err != nil {
				return err
			}
		}
	}
	return nil
}

func manySnapshotJobs(n int, consulAddr, dir string) []jobSpec {
	jobs := make([]jobSpec, n)
	for i := range jobs {
		name := jobName(i)
		jobs[i] = snapshotJob(name, consulAddr, filepath.Join(dir, "stores", name), "1h")
	}
	return jobs
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	model, n := "?", 0
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			n++
		}
	}
	return fmt.Sprintf("%d x %s", n, model)
}

func warmPageCache(path string) {
	if f, err := os.Open(path); err == nil {
		io.Copy(io.Discard, f)
		f.Close()
	}
}

// stateSize reads the size of state.bin from its tar header, which comes
// right after meta.json: only the first few KiB are decompressed.
func stateSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return 0, fmt.Errorf("%s: looking for state.bin: %w", path, err)
		}
		if hdr.Name == "state.bin" {
			return hdr.Size, nil
		}
	}
}

// statusLatency runs a daemon with 100 snapshot jobs and sends /status at
// cfg.statusRate requests per second, open loop (a slow answer does not
// delay the next request), in 3 rounds.
func statusLatency(ctx context.Context, cfg config, consulAddr, dir string, rep *strings.Builder) error {
	if err := seedStores(ctx, cfg.raftsnap, consulAddr, dir, 100); err != nil {
		return err
	}
	d, err := startDaemon(cfg.raftsnap, dir, manySnapshotJobs(100, consulAddr, dir))
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.waitSettled(time.Minute, false); err != nil {
		return err
	}
	doc, size, err := d.status()
	if err != nil {
		return err
	}
	if len(doc.Jobs) != 100 {
		return fmt.Errorf("/status lists %d jobs, want 100", len(doc.Jobs))
	}
	fmt.Fprintf(rep, "Open loop at %d requests/s over one keep-alive client (up to 64 connections), %d rounds of %s; /status is %s of JSON. Each of the daemon's 100 snapshot jobs has one fresh snapshot in its store and waits for its next run (interval 1h).\n\n",
		cfg.statusRate, 3, cfg.statusDuration, mib(int64(size)))
	rep.WriteString("| round | requests | errors | p50 | p99 | max | daemon CPU during the round |\n|---|---|---|---|---|---|---|\n")
	var p99s []float64
	for round := range 3 {
		total := int(cfg.statusDuration.Seconds() * float64(cfg.statusRate))
		lat := make([]time.Duration, total)
		errs := make([]error, total)
		cpu0, _ := procCPU(d.pid())
		ticker := time.NewTicker(time.Second / time.Duration(cfg.statusRate))
		var wg sync.WaitGroup
		for i := range total {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				ticker.Stop()
				return ctx.Err()
			}
			wg.Go(func() {
				start := time.Now()
				resp, err := d.client.Get("http://raftsnap/status")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = errors.Join(err, fmt.Errorf("HTTP %d", resp.StatusCode))
					}
				}
				lat[i], errs[i] = time.Since(start), err
			})
		}
		ticker.Stop()
		wg.Wait()
		cpu1, _ := procCPU(d.pid())
		failures := 0
		for _, e := range errs {
			if e != nil {
				failures++
			}
		}
		slices.Sort(lat)
		p99 := percentile(lat, 0.99)
		p99s = append(p99s, float64(p99)/1e6)
		fmt.Fprintf(rep, "| %d | %d | %d | %.2f ms | %.2f ms | %.2f ms | %.0f%% of a core |\n", round+1, total, failures,
			float64(percentile(lat, 0.5))/1e6, float64(p99)/1e6, float64(lat[len(lat)-1])/1e6,
			100*(cpu1-cpu0).Seconds()/cfg.statusDuration.Seconds())
	}
	fmt.Fprintf(rep, "\nMedian p99 over the rounds: %.2f ms (target < 5 ms).\n", median(p99s))
	return nil
}

// idleWatch samples the idle daemon's CPU time and RSS over d.
func idleWatch(ctx context.Context, daemon *daemonProc, d time.Duration) string {
	cpu0, err0 := procCPU(daemon.pid())
	rss0, _ := procStatusBytes(daemon.pid(), "VmRSS")
	start := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return "interrupted\n"
	}
	cpu1, err1 := procCPU(daemon.pid())
	elapsed := time.Since(start)
	rss1, _ := procStatusBytes(daemon.pid(), "VmRSS")
	hwm, _ := procStatusBytes(daemon.pid(), "VmHWM")
	if err := errors.Join(err0, err1); err != nil {
		return fmt.Sprintf("measurement failed: %v\n", err)
	}
	used := cpu1 - cpu0
	perHour := time.Duration(float64(used) * float64(time.Hour) / float64(elapsed))
	return fmt.Sprintf("CPU (utime+stime from /proc/PID/stat, 10 ms ticks) over %s: %s, extrapolated to %s per hour (%.4f%% of one core). RSS %s at the start, %s at the end (VmHWM since start-up %s).\n",
		elapsed.Round(time.Second), used, perHour.Round(10*time.Millisecond), 100*used.Seconds()/elapsed.Seconds(), mib(rss0), mib(rss1), mib(hwm))
}

var benchLine = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+(\d+(?:\.\d+)?) ns/op(?:\s+(\d+) B/op\s+(\d+) allocs/op)?`)

// goBenchmark runs one Go benchmark 5 times and summarises ns/op.
func goBenchmark(ctx context.Context, goBin, name, pkg string) (string, error) {
	cmdline := []string{goBin, "test", "-count=1", "-run", "^$", "-bench", "^Benchmark" + name + "$", "-benchtime", "5x", "-count", "5", "-benchmem", pkg}
	out, err := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmdline, " "), err, out)
	}
	var ms []float64
	var mem string
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[1], 64)
		ms = append(ms, ns/1e6)
		if m[2] != "" {
			b, _ := strconv.ParseInt(m[2], 10, 64)
			mem = fmt.Sprintf(", %s and %s allocations per op", mib(b), m[3])
		}
	}
	if len(ms) == 0 {
		return "", fmt.Errorf("no benchmark results in:\n%s", out)
	}
	return fmt.Sprintf("- `%s`: median %.1f ms per op, min–max %.1f–%.1f ms over %d runs%s.\n",
		strings.Join(cmdline[1:], " "), median(ms), slices.Min(ms), slices.Max(ms), len(ms), mem), nil
}

// rssRestore is row 3's restore half alone (-rows rss): the daemon's
// restore job, its peak RSS bracketed like in the full rows.
func rssRestore(ctx context.Context, cfg config, d *daemonProc, big *consulServer, archive string, archiveBytes int64, env []string, rep *strings.Builder, section func(string)) error {
	defer d.stop()
	if cfg.skipRestore {
		return nil
	}
	section("3. Daemon restore job of the same snapshot into the same Consul server")
	s := &series{tool: "raftsnap daemon restore job", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-bench-restore --wait"}
	t := d.daemonRun(s, cfg.raftsnap, "consul-bench-restore")
	if err := rounds(ctx, cfg.runs, 1, func(int) error { return t.run(ctx, env, "restore") }); err != nil {
		return err
	}
	fmt.Fprintf(rep, "Archive %s (%s).\n\n", mib(archiveBytes), filepath.Base(archive))
	table(rep, []*series{s}, nil, archiveBytes, "ratio")
	return nil
}

// largestFile is the biggest regular file under dir: a store's archive,
// next to its small sidecar.
func largestFile(dir string) (string, error) {
	var best string
	var bestSize int64 = -1
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() > bestSize {
			best, bestSize = path, info.Size()
		}
		return nil
	})
	if err == nil && best == "" {
		err = fmt.Errorf("%s: no archive in the store", dir)
	}
	return best, err
}
