// Package systemd_test checks the systemd files of dist/systemd with
// systemd's own tools: the unit verifies and is rated at most 2.0 by
// `systemd-analyze security`, and sysusers/tmpfiles create what the unit
// expects in a scratch root.
package systemd_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/client"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// maxExposure is the highest `systemd-analyze security` score accepted
// ("OK" goes up to 3.9; the issue asks for 2.0 at most).
const maxExposure = 2.0

func tool(t *testing.T, name string) string {
	t.Helper()
	return testkit.RequireTool(t, name, "install the systemd package (.ci/run does)")
}

// unitWithBinary copies raftsnap.service into a scratch directory with
// /usr/bin/raftsnap replaced by the binary under test.
func unitWithBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// The binary under test stands in for /usr/bin/raftsnap: verify checks
	// that the unit's commands exist.
	bin := testkit.Raftsnap(t)
	unit, err := os.ReadFile("raftsnap.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("/usr/bin/raftsnap ")) {
		t.Fatal("the unit does not run /usr/bin/raftsnap")
	}
	path := filepath.Join(dir, "raftsnap.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/bin/raftsnap "), []byte(bin+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitVerifies(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	unit := unitWithBinary(t)
	cmd := exec.Command(analyze, "verify", unit)
	cmd.Dir = filepath.Dir(unit)
	out, err := cmd.CombinedOutput()
	// verify reports unknown or misspelt settings as warnings with exit
	// status 0, so any output at all is a failure.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for raftsnap\.service: (\d+\.\d+)`)

func TestUnitSecurityExposure(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	unit := unitWithBinary(t)
	// --threshold is on systemd's 0..100 scale; the score shown is /10.
	threshold := strconv.Itoa(int(maxExposure * 10))
	cmd := exec.Command(analyze, "security", "--offline=yes", "--no-pager", "--threshold="+threshold, unit)
	cmd.Dir = filepath.Dir(unit)
	out, err := cmd.CombinedOutput()
	m := exposureLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f (at most %.1f)", score, maxExposure)
	if err != nil || score > maxExposure {
		t.Fatalf("exposure %.1f, want at most %.1f (%v); the settings that cost:\n%s", score, maxExposure, err, failing(out))
	}
}

// failing keeps the ✗ lines of a security report.
func failing(report []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(report), "\n") {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestUnitSettings pins what the daemon and the docs rely on, so that a
// hardening edit cannot drop it unnoticed.
func TestUnitSettings(t *testing.T) {
	settings := testkit.ParseUnit(t, "raftsnap.service")
	want := map[string]string{
		"Type":                    "notify",
		"ExecStart":               "/usr/bin/raftsnap daemon --config /etc/raftsnap/raftsnap.yml",
		"EnvironmentFile":         "-/etc/raftsnap/raftsnap.env",
		"Restart":                 "on-failure",
		"ExecReload":              "/usr/bin/raftsnap reload --config /etc/raftsnap/raftsnap.yml",
		"RuntimeDirectory":        "raftsnap",
		"RuntimeDirectoryMode":    "0700",
		"StateDirectory":          "raftsnap",
		"User":                    "raftsnap",
		"Group":                   "raftsnap",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
	}
	for key, value := range want {
		if !slices.Contains(settings[key], value) {
			t.Errorf("%s=%s missing (have %q)", key, value, settings[key])
		}
	}
	if !slices.Contains(settings["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=@system-service missing (have %q)", settings["SystemCallFilter"])
	}
	if len(settings["WatchdogSec"]) == 0 {
		t.Error("WatchdogSec= missing: the daemon pings the watchdog")
	}
	// systemd applies RestartPreventExitStatus= to the main process only:
	// a configcheck in ExecStartPre would catch a bad configuration first,
	// exit non-zero and be restarted until the start limit.
	if pre := settings["ExecStartPre"]; len(pre) > 0 {
		t.Errorf("ExecStartPre=%q: the daemon checks the configuration itself and exits %d, which RestartPreventExitStatus= can see only in the main process", pre, client.ExitUsage)
	}
}

// TestUnitDoesNotLoop checks the two brakes on a daemon that cannot start:
// the exit code of an invalid configuration prevents a restart, and the
// start limit can trigger at the unit's RestartSec (systemd's default,
// 5 starts in 10s, never would at 5s apart).
func TestUnitDoesNotLoop(t *testing.T) {
	settings := testkit.ParseUnit(t, "raftsnap.service")
	prevent := map[string]bool{}
	for _, v := range settings["RestartPreventExitStatus"] {
		for _, code := range strings.Fields(v) {
			prevent[code] = true
		}
	}
	if !prevent[strconv.Itoa(client.ExitUsage)] {
		t.Errorf("RestartPreventExitStatus=%q lacks %d, the exit code of an invalid configuration", settings["RestartPreventExitStatus"], client.ExitUsage)
	}
	if prevent[strconv.Itoa(client.ExitError)] {
		t.Errorf("RestartPreventExitStatus=%q holds %d: a daemon failing at run time must be restarted", settings["RestartPreventExitStatus"], client.ExitError)
	}
	burst, err := strconv.Atoi(last(settings["StartLimitBurst"]))
	if err != nil || burst < 1 {
		t.Fatalf("StartLimitBurst=%q: want a positive count", settings["StartLimitBurst"])
	}
	interval := systemdDuration(t, "StartLimitIntervalSec", last(settings["StartLimitIntervalSec"]))
	restartSec := systemdDuration(t, "RestartSec", last(settings["RestartSec"]))
	if time.Duration(burst)*restartSec >= interval {
		t.Errorf("StartLimitBurst=%d starts %s apart (RestartSec) take %s, not less than StartLimitIntervalSec=%s: the limit never triggers",
			burst, restartSec, time.Duration(burst)*restartSec, interval)
	}
	if !unitSection(t, "raftsnap.service", "StartLimitIntervalSec", "Unit") || !unitSection(t, "raftsnap.service", "StartLimitBurst", "Unit") {
		t.Error("StartLimitIntervalSec= and StartLimitBurst= belong in [Unit]")
	}
}

// TestDaemonExitCodes runs the unit's ExecStart with a broken and with a
// valid configuration whose socket cannot be used: the first must exit
// with a code in RestartPreventExitStatus= (systemd gives up at once), the
// second with one outside it (systemd restarts it: the cause may pass).
func TestDaemonExitCodes(t *testing.T) {
	settings := testkit.ParseUnit(t, "raftsnap.service")
	args := strings.Fields(last(settings["ExecStart"]))
	at := slices.Index(args, "--config")
	if len(args) < 3 || at < 0 || at+1 >= len(args) {
		t.Fatalf("ExecStart=%q: want /usr/bin/raftsnap daemon ... --config FILE", args)
	}
	prevent := strings.Fields(strings.Join(settings["RestartPreventExitStatus"], " "))
	dir := t.TempDir()
	run := func(config string) int {
		t.Helper()
		path := filepath.Join(dir, "raftsnap.yml")
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		cmdArgs := slices.Clone(args[1:])
		cmdArgs[at] = path
		cmd := exec.Command(testkit.Raftsnap(t), cmdArgs...)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("daemon: %v (want a failure)\n%s", err, stderr.String())
			}
			t.Logf("exit %d: %s", exit.ExitCode(), strings.TrimSpace(stderr.String()))
			return exit.ExitCode()
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("the daemon is still running after 30s; stderr:\n%s", stderr.String())
		}
		return -1
	}
	invalid := run("jobs:\n  - name: x\n    type: snapshot\n    interval: five minutes\n")
	if !slices.Contains(prevent, strconv.Itoa(invalid)) {
		t.Errorf("an invalid configuration exits %d, which RestartPreventExitStatus=%q does not hold: systemd would restart it", invalid, prevent)
	}
	// A socket directory others can enter is refused at start.
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	runtimeFailure := run(fmt.Sprintf(`global:
  control: {sockpath: %s/control}
jobs:
  - name: p
    type: prune
    interval: 1h
    store: {path: %s/store}
    pruning: {keep: [{last_n: {count: 1}}]}
`, open, dir))
	if slices.Contains(prevent, strconv.Itoa(runtimeFailure)) {
		t.Errorf("a start failure at run time exits %d, which RestartPreventExitStatus=%q holds: systemd would not retry it", runtimeFailure, prevent)
	}
}

func last(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[len(values)-1]
}

var systemdSpan = regexp.MustCompile(`^(\d+)\s*(ms|s|sec|min|m|h)$`)

// systemdDuration parses the few forms of systemd.time(7) the unit uses.
func systemdDuration(t *testing.T, key, v string) time.Duration {
	t.Helper()
	m := systemdSpan.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		t.Fatalf("%s=%q: not a duration this test reads (N followed by ms, s, min or h)", key, v)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "sec": time.Second, "min": time.Minute, "m": time.Minute, "h": time.Hour}[m[2]]
	return time.Duration(n) * unit
}

// unitSection reports whether key is set in [section] of the unit file.
func unitSection(t *testing.T, path, key, section string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	current := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			current = strings.Trim(line, "[]")
		} else if strings.HasPrefix(line, key+"=") && current == section {
			return true
		}
	}
	return false
}

// TestSysusersAndTmpfiles applies both files to a scratch root with
// systemd's own tools and checks the user and the directories they create.
func TestSysusersAndTmpfiles(t *testing.T) {
	sysusers, tmpfiles := tool(t, "systemd-sysusers"), tool(t, "systemd-tmpfiles")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Absolute paths: with --root, the tools resolve relative ones inside it.
	usersFile, _ := filepath.Abs("raftsnap.sysusers")
	dirsFile, _ := filepath.Abs("raftsnap.tmpfiles")
	if out, err := exec.Command(sysusers, "--root="+root, usersFile).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^raftsnap:x:(\d+):(\d+):[^:]*:/var/lib/raftsnap:/usr/sbin/nologin$`).FindSubmatch(passwd)
	if m == nil {
		t.Fatalf("no raftsnap system user with home /var/lib/raftsnap and no login shell:\n%s", passwd)
	}
	uid, _ := strconv.Atoi(string(m[1]))
	gid, _ := strconv.Atoi(string(m[2]))
	if uid >= 1000 || uid == 0 {
		t.Errorf("raftsnap has uid %d, want a system uid (1..999)", uid)
	}

	// The sysusers part passed; systemd-tmpfiles --root must chown the
	// directories.
	testkit.RequireRoot(t, "systemd-tmpfiles --root")
	if out, err := exec.Command(tmpfiles, "--root="+root, "--create", dirsFile).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	for _, c := range []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"run/raftsnap", 0o700, uid, gid},
		{"var/lib/raftsnap", 0o700, uid, gid},
		{"etc/raftsnap", 0o750, 0, gid},
	} {
		info, err := os.Stat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("/%s not created: %v", c.path, err)
			continue
		}
		st := info.Sys().(*syscall.Stat_t)
		if !info.IsDir() || info.Mode().Perm() != c.mode || int(st.Uid) != c.uid || int(st.Gid) != c.gid {
			t.Errorf("/%s: %v owned by %d:%d, want a directory %04o owned by %d:%d",
				c.path, info.Mode(), st.Uid, st.Gid, c.mode, c.uid, c.gid)
		}
	}
}
