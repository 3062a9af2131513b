package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store/bucket"
)

// snapshotJobSpec is a snapshot job with a store block given as YAML flow
// (`{path: ...}`, `{type: s3, ...}`). A jitter close to the interval keeps
// the start-up catch-up out of the bench's way: the runs measured are the
// ones it asks for (signal wakeup), and several jobs against one Consul do
// not ask it for a snapshot at once (it answers 500 to concurrent ones).
func snapshotJobSpec(name, consulAddr, interval, jitter, storeYAML string) jobSpec {
	var j string
	if jitter != "" {
		j = "    jitter: " + jitter + "\n"
	}
	return jobSpec(fmt.Sprintf(`  - name: %s
    type: snapshot
    source: {type: consul, address: %q}
    interval: %s
%s    timeout: 1h
    store: %s
    pruning:
      keep:
        - last_n: {count: 1}
`, name, consulAddr, interval, j, storeYAML))
}

// bucketRows is issue 14's save row: the daemon's snapshot job streaming
// from the real Consul into a versitygw bucket, against the cron glue users
// run today (`consul snapshot save` to a file, then `rclone copyto` of that
// file into the same versitygw), round after round.
func bucketRows(ctx context.Context, cfg config, lc *loadedConsul, work string, rep *strings.Builder, section func(string)) error {
	const bucketName = "bench"
	s3, err := startVersity(filepath.Join(work, "versitygw"), bucketName)
	if err != nil {
		return err
	}
	defer s3.Stop(versityStopTimeout)
	var partSize string
	if cfg.bucketPartSize != "" {
		partSize = ", part_size: " + cfg.bucketPartSize
	}
	d, err := startDaemonEnv(cfg.raftsnap, filepath.Join(work, "daemon-bucket"), append(s3Env(s3), cfg.daemonEnv...), []jobSpec{
		snapshotJobSpec("consul-bucket", lc.addr, "24h", "23h",
			fmt.Sprintf("{type: s3, bucket: %s, prefix: consul-bucket/, endpoint: %q, path_style: true%s}", bucketName, s3.Endpoint, partSize)),
	})
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.waitSettled(time.Minute, false); err != nil {
		return err
	}
	if err := d.warmUp(ctx, cfg.raftsnap, "consul-bucket"); err != nil {
		return err
	}

	title := fmt.Sprintf("Bucket (issue 14): save from a real Consul server holding %d MiB of KV data into a versitygw bucket", cfg.size>>20)
	section(title)
	var saves []*tool
	var glue *series
	var archiveBytes int64
	if cfg.glue {
		rclone, err := exec.LookPath(cfg.rclone)
		if err != nil {
			return fmt.Errorf("%s: %w (apt-get install rclone, or -glue=false)", cfg.rclone, err)
		}
		file := filepath.Join(work, "glue.snap")
		glue = &series{tool: "cron glue: consul snapshot save + rclone copyto", note: "(RSS: the larger of the two)",
			command: "consul snapshot save FILE && rclone copyto FILE remote:" + bucketName + "/glue/KEY"}
		g := &tool{s: glue, out: file,
			argv: []string{cfg.consul, "snapshot", "save", file},
			then: [][]string{{rclone, "copyto", file, ""}}}
		n := 0
		g.before = func() error {
			n++ // a new key each run, as a cron job's dated names: rclone skips an identical object
			g.then[0][3] = fmt.Sprintf("bench:%s/glue/consul-%d.snap", bucketName, n)
			return nil
		}
		g.after = func(*result) error {
			info, err := os.Stat(file)
			if err == nil {
				archiveBytes = info.Size()
			}
			return err
		}
		saves = append(saves, g)
	}
	daemon := &series{tool: "raftsnap daemon snapshot job into the bucket", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-bucket --wait"}
	saves = append(saves, d.daemonRun(daemon, cfg.raftsnap, "consul-bucket"))
	env := append(append([]string{"CONSUL_HTTP_ADDR=" + lc.addr}, s3Env(s3)...), rcloneEnv("bench", s3)...)
	if err := rounds(ctx, cfg.runs, len(saves), func(i int) error { return saves[i].run(ctx, env, "bucket save") }); err != nil {
		return err
	}
	if archiveBytes == 0 {
		if archiveBytes, err = bucketArchiveSize(s3, bucketName, "consul-bucket/"); err != nil {
			return err
		}
	}
	var rows []*series
	for _, t := range saves {
		rows = append(rows, t.s)
	}
	fmt.Fprintf(rep, "%d keys of %d bytes; archive %s. versitygw %s (posix backend, loopback), the daemon's store `{type: s3, path_style: true}` with the default part_size (%s) and concurrency (%d); rclone %s with its defaults, configured by RCLONE_CONFIG_BENCH_* variables (type s3, provider Other, force_path_style). Each daemon run also prunes the previous snapshot (last_n 1): two DELETEs. MB/s counts archive bytes.\n\n",
		lc.keys, valueSize, mib(archiveBytes), servers.VersityVersion, mib(bucket.DefaultPartSize), bucket.DefaultConcurrency, rcloneVersion(cfg.rclone))
	if cfg.bucketPartSize != "" {
		fmt.Fprintf(rep, "The store's part_size: %s (-bucket-part-size).\n\n", cfg.bucketPartSize)
	}
	if len(cfg.daemonEnv) > 0 {
		fmt.Fprintf(rep, "The daemon ran with %s added to its environment (-daemon-env).\n\n", strings.Join(cfg.daemonEnv, " "))
	}
	if glue != nil {
		table(rep, rows, glue, archiveBytes, "time ratio to the glue")
		fmt.Fprintf(rep, "\nThe glue's two steps (medians): consul snapshot save %.2f s, rclone copyto %.2f s.\n", glue.stepMedian(0), glue.stepMedian(1))
	} else {
		table(rep, rows, nil, archiveBytes, "ratio")
	}
	rep.WriteString(anonLine(daemon))
	return nil
}

// versityStopTimeout bounds the wait for versitygw to stop.
const versityStopTimeout = 15 * time.Second

// startVersity starts versitygw with its data in dir and an empty bucket
// in it; the gateway is stopped when the bench exits, if the caller has not
// stopped it before.
func startVersity(dir, bucketName string) (*servers.S3, error) {
	bin, err := servers.VersityBinaryPath()
	if err != nil {
		return nil, err
	}
	s3, err := servers.LaunchVersity(bin, dir)
	if err != nil {
		return nil, err
	}
	atExit(func() { s3.Stop(versityStopTimeout) })
	if err := s3.MakeBucket(bucketName); err != nil {
		return nil, err
	}
	return s3, nil
}

// s3Env is the environment a client of the gateway needs: its credentials,
// and none of the developer's AWS CA bundle or profile (as S3.SetEnv does
// for tests): rclone refuses to start with a CA bundle set.
func s3Env(s3 *servers.S3) []string {
	return append(s3.Env(), "AWS_CA_BUNDLE=", "AWS_PROFILE=")
}

// rcloneEnv configures rclone remote NAME for the versitygw gateway through
// environment variables only (no config file).
func rcloneEnv(name string, s3 *servers.S3) []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(name) + "_"
	return []string{p + "TYPE=s3", p + "PROVIDER=Other", p + "ENDPOINT=" + s3.Endpoint, p + "ACCESS_KEY_ID=" + s3.AccessKey,
		p + "SECRET_ACCESS_KEY=" + s3.SecretKey, p + "FORCE_PATH_STYLE=true", p + "REGION=us-east-1"}
}

func rcloneVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(strings.TrimSpace(first), "rclone ")
}

// bucketArchiveSize is the size of the largest object under prefix (the
// daemon's archive, next to its small manifest), read from versitygw's
// posix directory.
func bucketArchiveSize(s3 *servers.S3, bucketName, prefix string) (int64, error) {
	path, err := largestFile(filepath.Join(s3.Dir, "data", bucketName, prefix))
	if err != nil {
		return 0, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// encryptRows is issue 15's row against a real Consul: the daemon's save
// (download, verify, store) into a local store plain and with age
// encryption, then its restore job from each, plain and decrypting, and
// the CLI's verify of each stored archive, in the same rounds.
func encryptRows(ctx context.Context, cfg config, lc *loadedConsul, work string, rep *strings.Builder, section func(string)) error {
	dir := filepath.Join(work, "daemon-encrypt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(keyFile, []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		return err
	}
	plainDir, ageDir := filepath.Join(dir, "store-plain"), filepath.Join(dir, "store-age")
	d, err := startDaemonEnv(cfg.raftsnap, dir, cfg.daemonEnv, []jobSpec{
		snapshotJobSpec("consul-plain", lc.addr, "24h", "23h", fmt.Sprintf("{path: %q}", plainDir)),
		snapshotJobSpec("consul-age", lc.addr, "24h", "23h", fmt.Sprintf("{path: %q, encrypt: {recipients: [%q]}}", ageDir, id.Recipient().String())),
		restoreJob("restore-plain", "consul-plain", lc.addr),
		restoreJob("restore-age", "consul-age", lc.addr) + jobSpec(fmt.Sprintf("    identity_file: %q\n", keyFile)),
	})
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.waitSettled(time.Minute, false); err != nil {
		return err
	}
	if err := d.warmUp(ctx, cfg.raftsnap, "consul-plain", "consul-age"); err != nil {
		return err
	}
	env := []string{"CONSUL_HTTP_ADDR=" + lc.addr}

	section(fmt.Sprintf("Encryption at rest (issue 15): the daemon's save and restore against a real Consul server holding %d MiB of KV data, plain and with age", cfg.size>>20))
	plainSave := &series{tool: "daemon save, plain local store", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-plain --wait"}
	ageSave := &series{tool: "daemon save, local store with encrypt (1 X25519 recipient)", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup consul-age --wait"}
	saves := []*tool{d.daemonRun(plainSave, cfg.raftsnap, "consul-plain"), d.daemonRun(ageSave, cfg.raftsnap, "consul-age")}
	if err := rounds(ctx, cfg.runs, len(saves), func(i int) error { return saves[i].run(ctx, env, "encrypt save") }); err != nil {
		return err
	}
	plainFile, err := largestFile(plainDir)
	if err != nil {
		return err
	}
	ageFile, err := largestFile(ageDir)
	if err != nil {
		return err
	}
	plainInfo, err := os.Stat(plainFile)
	if err != nil {
		return err
	}
	ageInfo, err := os.Stat(ageFile)
	if err != nil {
		return err
	}
	archiveBytes := plainInfo.Size()
	fmt.Fprintf(rep, "%d keys of %d bytes; archive %s plain, %s encrypted (`%s`). Both jobs run in one daemon, alternating; each run downloads, verifies, commits and prunes the previous snapshot (last_n 1). MB/s counts plain archive bytes. Ratio: time / plain time in the same round.\n\n",
		lc.keys, valueSize, mib(archiveBytes), mib(ageInfo.Size()), filepath.Base(ageFile))
	table(rep, []*series{plainSave, ageSave}, plainSave, archiveBytes, "time ratio to plain")
	rep.WriteString(anonLine(plainSave, ageSave))

	rep.WriteString("\nVerify of the stored archive (CLI, from the page cache):\n\n")
	warmPageCache(plainFile)
	warmPageCache(ageFile)
	verifies := []*tool{
		{s: &series{tool: "raftsnap snapshot verify, plain", command: "raftsnap snapshot verify FILE.snap"}, argv: []string{cfg.raftsnap, "snapshot", "verify", plainFile}},
		{s: &series{tool: "raftsnap snapshot verify, age", command: "raftsnap snapshot verify --identity-file KEY FILE.snap.age"},
			argv: []string{cfg.raftsnap, "snapshot", "verify", "--identity-file", keyFile, ageFile}},
	}
	if err := rounds(ctx, cfg.runs, len(verifies), func(i int) error { return verifies[i].run(ctx, nil, "encrypt verify") }); err != nil {
		return err
	}
	table(rep, []*series{verifies[0].s, verifies[1].s}, verifies[0].s, archiveBytes, "time ratio to plain")

	if cfg.skipRestore {
		return nil
	}
	rep.WriteString("\nRestore into the same Consul server (daemon restore jobs, `snapshot: latest`; the age one with `identity_file`):\n\n")
	plainRestore := &series{tool: "daemon restore, plain", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup restore-plain --wait"}
	ageRestore := &series{tool: "daemon restore, decrypting", note: "(RSS: daemon VmHWM)", command: "raftsnap signal wakeup restore-age --wait"}
	restores := []*tool{d.daemonRun(plainRestore, cfg.raftsnap, "restore-plain"), d.daemonRun(ageRestore, cfg.raftsnap, "restore-age")}
	if err := rounds(ctx, cfg.runs, len(restores), func(i int) error { return restores[i].run(ctx, env, "encrypt restore") }); err != nil {
		return err
	}
	table(rep, []*series{plainRestore, ageRestore}, plainRestore, archiveBytes, "time ratio to plain")
	rep.WriteString(anonLine(plainRestore, ageRestore))
	return nil
}

// stepMedian is the median time of step i of a tool run as several
// commands (tool.then), in seconds.
func (s *series) stepMedian(i int) float64 {
	var xs []float64
	for _, r := range s.runs {
		if i < len(r.steps) {
			xs = append(xs, r.steps[i].Seconds())
		}
	}
	return median(xs)
}
