// Package systemd_test checks the systemd files of dist/systemd with
// systemd's own tools: the unit verifies and is rated at most 2.0 by
// `systemd-analyze security`, and sysusers/tmpfiles create what the unit
// expects in a scratch root.
package systemd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
	settings := parseUnit(t, "raftsnap.service")
	want := map[string]string{
		"Type":                    "notify",
		"ExecStartPre":            "/usr/bin/raftsnap configcheck --config /etc/raftsnap/raftsnap.yml",
		"ExecStart":               "/usr/bin/raftsnap daemon --config /etc/raftsnap/raftsnap.yml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
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
}

// parseUnit returns each key's values, in file order.
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a key=value line: %q", path, line)
		}
		settings[key] = append(settings[key], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
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
