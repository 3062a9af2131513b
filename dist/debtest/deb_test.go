//go:build debtest

// Package debtest installs a raftsnap .deb on this machine with dpkg, runs
// the daemon the way the installed unit tells systemd to (its user, umask,
// directories, environment file, ExecStartPre/ExecStart/ExecReload command
// lines and sd_notify socket), talks to it over its control socket with the
// shipped configuration, reloads and stops it, then purges the package and
// checks that nothing it created is left.
//
// PID 1 is not systemd on the machines this runs on, so systemd's part is
// played here from the unit file; the unit's sandboxing (ProtectSystem=,
// SystemCallFilter=, ...) is not applied: dist/systemd's tests check it
// with systemd-analyze. `make dist-check` runs it as root on the .deb it
// built:
//
//	go test -tags debtest ./dist/debtest/ -deb dist/out/raftsnap_VERSION-1_amd64.deb
//
// It refuses to run where raftsnap is installed, or its user or
// directories exist, so that it never touches a real installation, and it
// removes everything it created even when it fails.
package debtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

var debPath = flag.String("deb", "", "the raftsnap .deb to install")

const (
	unitPath = "/usr/lib/systemd/system/raftsnap.service"
	confDir  = "/etc/raftsnap"
	stateDir = "/var/lib/raftsnap"
	runDir   = "/run/raftsnap"
	sockPath = "/run/raftsnap/control"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// packageStatus is dpkg's status of raftsnap ("install ok installed"),
// or "" when dpkg does not know the package.
func packageStatus() string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "raftsnap").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// leftovers lists what a purge must remove: the user, the group and the
// directories the package or its scripts create.
func leftovers() []string {
	var found []string
	if _, err := user.Lookup("raftsnap"); err == nil {
		found = append(found, "user raftsnap")
	}
	if _, err := user.LookupGroup("raftsnap"); err == nil {
		found = append(found, "group raftsnap")
	}
	for _, p := range []string{confDir, stateDir, runDir, unitPath, "/etc/systemd/system/raftsnap.service",
		"/var/lib/systemd/deb-systemd-helper-masked/raftsnap.service",
		"/var/lib/systemd/deb-systemd-helper-enabled/raftsnap.service.dsh-also"} {
		if exists(p) {
			found = append(found, p)
		}
	}
	return found
}

func TestDebInstallRunReloadPurge(t *testing.T) {
	if *debPath == "" {
		t.Fatal("no package: give -deb FILE.deb (make dist-check does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root (CI runs as root)")
	}
	if st := packageStatus(); st != "" && !strings.HasSuffix(st, "not-installed") {
		t.Fatalf("raftsnap is installed on this machine (%s): this test installs and purges the package, so it runs only where it is not; dpkg --purge raftsnap first", st)
	}
	if left := leftovers(); len(left) > 0 {
		t.Fatalf("this machine already has %s: remove them first (this test must not touch a real installation)", strings.Join(left, ", "))
	}
	// The shipped configuration listens on 127.0.0.1:9811 for metrics and
	// snapshots a Consul on 127.0.0.1:8500: something else there would make
	// the daemon fail to start, or store a snapshot that the purge keeps.
	for _, addr := range []string{"127.0.0.1:9811", "127.0.0.1:8500"} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("something listens on %s, which the shipped configuration uses: stop it first", addr)
		}
	}
	// What the package ships, and which of its directories existed before,
	// to check after the purge that dpkg removed the rest.
	var shipped []string
	preexisting := map[string]bool{}
	for _, line := range strings.Split(run(t, "dpkg-deb", "-c", *debPath), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 {
			continue
		}
		p := filepath.Clean("/" + strings.TrimPrefix(fields[5], "./"))
		if p == "/" {
			continue
		}
		shipped = append(shipped, p)
		preexisting[p] = exists(p)
	}

	var daemon *exec.Cmd
	t.Cleanup(func() {
		if daemon != nil && daemon.ProcessState == nil {
			_ = daemon.Process.Kill()
			_ = daemon.Wait()
		}
		if st := packageStatus(); st != "" && !strings.HasSuffix(st, "not-installed") {
			if out, err := exec.Command("dpkg", "--purge", "raftsnap").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge raftsnap: %v\n%s", err, out)
			}
		}
		// Whatever the purge left (checked by the test itself); none of it
		// existed before the test.
		_ = exec.Command("userdel", "raftsnap").Run()
		_ = exec.Command("groupdel", "raftsnap").Run()
		for _, p := range []string{confDir, stateDir, runDir, "/etc/systemd/system/raftsnap.service"} {
			_ = os.RemoveAll(p)
		}
	})

	// Install.
	t.Log(run(t, "dpkg", "-i", *debPath))
	if st := packageStatus(); st != "install ok installed" {
		t.Fatalf("after dpkg -i, status %q", st)
	}
	checkInstalled(t)

	// Start, talk, reload and stop as the unit does.
	unit := parseUnit(t, unitPath)
	svc := newService(t, unit)
	daemon = svc.start(t)
	svc.checkRunning(t)
	svc.reload(t)
	svc.stop(t)

	// An upgrade (here: the same package again) keeps the operator's edits
	// of a conffile and /etc/raftsnap's mode and group.
	config := filepath.Join(confDir, "raftsnap.yml")
	edited := append(readFile(t, config), []byte("# edited by the operator\n")...)
	if err := os.WriteFile(config, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(run(t, "dpkg", "-i", *debPath))
	if got := readFile(t, config); !bytes.Equal(got, edited) {
		t.Errorf("the upgrade replaced the edited %s", config)
	}
	checkMode(t, confDir, os.ModeDir|0o750, "root", "raftsnap")

	// Purge: dpkg removes the files, the scripts the rest.
	t.Log(run(t, "dpkg", "--purge", "raftsnap"))
	if st := packageStatus(); st != "" && !strings.HasSuffix(st, "not-installed") {
		t.Errorf("after dpkg --purge, status %q", st)
	}
	for _, p := range shipped {
		if !preexisting[p] && exists(p) {
			t.Errorf("%s is left after the purge", p)
		}
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("left after the purge: %s", strings.Join(left, ", "))
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkMode checks a path's type, permissions and owner (by name).
func checkMode(t *testing.T, path string, mode os.FileMode, owner, group string) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := info.Sys().(*syscall.Stat_t)
	u, errU := user.LookupId(strconv.Itoa(int(st.Uid)))
	g, errG := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	if errU != nil || errG != nil {
		t.Errorf("%s: owner %d:%d has no name", path, st.Uid, st.Gid)
		return
	}
	if info.Mode()&(os.ModeType|os.ModePerm) != mode || u.Username != owner || g.Name != group {
		t.Errorf("%s: %v %s:%s, want %v %s:%s", path, info.Mode(), u.Username, g.Name, mode, owner, group)
	}
}

// checkInstalled checks what the package and its post-installation script
// set up, and that the binary is the ISA-L build the package promises.
func checkInstalled(t *testing.T) {
	u, err := user.Lookup("raftsnap")
	if err != nil {
		t.Fatalf("no raftsnap user after install: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if uid == 0 || uid >= 1000 || u.HomeDir != stateDir {
		t.Errorf("raftsnap user: uid %d, home %s; want a system uid and home %s", uid, u.HomeDir, stateDir)
	}
	checkMode(t, confDir, os.ModeDir|0o750, "root", "raftsnap")
	checkMode(t, filepath.Join(confDir, "raftsnap.yml"), 0o644, "root", "root")
	checkMode(t, filepath.Join(confDir, "raftsnap.env"), 0o600, "root", "root")
	checkMode(t, stateDir, os.ModeDir|0o700, "raftsnap", "raftsnap")
	checkMode(t, runDir, os.ModeDir|0o700, "raftsnap", "raftsnap")

	// The package's inflater (issue 19): ISA-L, from the libisal2 the
	// package depends on.
	version := run(t, "/usr/bin/raftsnap", "version", "--socket", "/nonexistent/raftsnap.sock")
	if !regexp.MustCompile(`(?m)^  gzip inflate: ISA-L igzip \d+\.\d+\.\d+ \(cgo\)$`).MatchString(version) {
		t.Errorf("the installed raftsnap does not inflate with ISA-L:\n%s", version)
	}
	depends := run(t, "dpkg-query", "-W", "-f=${Depends}", "raftsnap")
	if !strings.Contains(depends, "libisal2") {
		t.Errorf("Depends: %s; want libisal2", depends)
	}
	ldd := run(t, "ldd", "/usr/bin/raftsnap")
	if !regexp.MustCompile(`libisal\.so\.2 => /\S+`).MatchString(ldd) {
		t.Errorf("ldd /usr/bin/raftsnap does not resolve libisal.so.2:\n%s", ldd)
	}
	for _, f := range []string{"/usr/share/doc/raftsnap/copyright", "/usr/share/doc/raftsnap/changelog.Debian.gz", "/usr/share/man/man5/raftsnap.yml.5.gz", "/usr/share/man/man1/raftsnap-daemon.1.gz"} {
		if !exists(f) {
			t.Errorf("%s not installed", f)
		}
	}
}

// unitFile holds the settings of the installed unit, each key's values in
// file order.
type unitFile map[string][]string

func (u unitFile) last(key, def string) string {
	if v := u[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	return unitFile(testkit.ParseUnit(t, path))
}

// command is one Exec line of the unit.
type command struct {
	argv          []string
	ignoreFailure bool // "-" prefix
}

// execLine splits an Exec line as systemd would for the simple lines a
// unit of ours may hold: an optional "-" prefix, words separated by
// spaces, no quotes, no specifiers. Anything else fails the test, so that
// a richer unit cannot be run here wrongly.
func execLine(t *testing.T, key, line string, mainPID int) command {
	t.Helper()
	var c command
	if strings.HasPrefix(line, "-") {
		c.ignoreFailure = true
		line = line[1:]
	}
	if strings.ContainsAny(line, "\"'%;") || strings.ContainsAny(line[:1], "@+!:") {
		t.Fatalf("%s=%s: quoting, specifiers and prefixes other than - are not supported by this test", key, line)
	}
	for _, w := range strings.Fields(line) {
		if w == "$MAINPID" || w == "${MAINPID}" {
			w = strconv.Itoa(mainPID)
		} else if strings.Contains(w, "$") {
			t.Fatalf("%s=%s: only $MAINPID is expanded by this test", key, line)
		}
		c.argv = append(c.argv, w)
	}
	if len(c.argv) == 0 || !filepath.IsAbs(c.argv[0]) {
		t.Fatalf("%s=%s: want an absolute command", key, line)
	}
	return c
}

// service plays systemd's part for the unit.
type service struct {
	unit     unitFile
	cred     *syscall.Credential
	umask    int
	env      []string
	notify   *net.UnixConn
	notes    chan string // sd_notify messages, one line each
	main     *exec.Cmd
	stderr   *bytes.Buffer
	exited   chan error
	stopWait time.Duration
}

func newService(t *testing.T, unit unitFile) *service {
	if got := unit.last("Type", ""); got != "notify" {
		t.Fatalf("Type=%s: this test plays Type=notify", got)
	}
	u, err := user.Lookup(unit.last("User", "root"))
	if err != nil {
		t.Fatalf("User=: %v", err)
	}
	g, err := user.LookupGroup(unit.last("Group", u.Username))
	if err != nil {
		t.Fatalf("Group=: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	umask, err := strconv.ParseInt(unit.last("UMask", "0022"), 8, 32)
	if err != nil {
		t.Fatalf("UMask=: %v", err)
	}
	s := &service{
		unit:     unit,
		cred:     &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		umask:    int(umask),
		notes:    make(chan string, 100),
		stopWait: durationSetting(t, unit, "TimeoutStopSec", 90*time.Second),
	}

	// RuntimeDirectory= and StateDirectory=: created (or fixed up) owned by
	// the service's user, with the configured mode, before any Exec line.
	for _, d := range []struct{ key, base string }{{"RuntimeDirectory", "/run"}, {"StateDirectory", "/var/lib"}} {
		for _, name := range strings.Fields(unit.last(d.key, "")) {
			mode, err := strconv.ParseUint(unit.last(d.key+"Mode", "0755"), 8, 32)
			if err != nil {
				t.Fatalf("%sMode=: %v", d.key, err)
			}
			dir := filepath.Join(d.base, name)
			if err := os.MkdirAll(dir, os.FileMode(mode)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, uid, gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, os.FileMode(mode)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The environment systemd gives a service with User=, then
	// EnvironmentFile= ("-": the file may be missing).
	s.env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "SHELL=/usr/sbin/nologin",
		"INVOCATION_ID=0123456789abcdef0123456789abcdef",
	}
	if d := unit.last("RuntimeDirectory", ""); d != "" {
		s.env = append(s.env, "RUNTIME_DIRECTORY=/run/"+d)
	}
	if d := unit.last("StateDirectory", ""); d != "" {
		s.env = append(s.env, "STATE_DIRECTORY=/var/lib/"+d)
	}
	for _, ef := range unit["EnvironmentFile"] {
		optional := strings.HasPrefix(ef, "-")
		path := strings.TrimPrefix(ef, "-")
		data, err := os.ReadFile(path)
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatalf("EnvironmentFile=%s: %v", ef, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			if !strings.Contains(line, "=") {
				t.Fatalf("EnvironmentFile %s: %q is not VAR=value", path, line)
			}
			s.env = append(s.env, line)
		}
	}

	// The notification socket (systemd's is world-writable too), in a
	// directory the service's user can enter.
	dir, err := os.MkdirTemp("", "raftsnap-debtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	notifyPath := filepath.Join(dir, "notify")
	s.notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.notify.Close() })
	if err := os.Chmod(notifyPath, 0o777); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "NOTIFY_SOCKET="+notifyPath)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := s.notify.Read(buf)
			if err != nil {
				close(s.notes)
				return
			}
			for _, l := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				s.notes <- l
			}
		}
	}()
	return s
}

func durationSetting(t *testing.T, u unitFile, key string, def time.Duration) time.Duration {
	v := u.last(key, "")
	if v == "" {
		return def
	}
	m := regexp.MustCompile(`^(\d+)(s|min|m|h)?$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("%s=%s: not a duration this test reads", key, v)
	}
	n, _ := strconv.Atoi(m[1])
	return time.Duration(n) * map[string]time.Duration{"": time.Second, "s": time.Second, "min": time.Minute, "m": time.Minute, "h": time.Hour}[m[2]]
}

// command builds one of the unit's processes: its user, group, no
// supplementary groups, environment, its own session, root as directory.
func (s *service) command(c command) *exec.Cmd {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = s.env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setsid: true}
	return cmd
}

// startWithUmask starts cmd with the unit's UMask= (a process attribute
// exec.Cmd cannot set, so it is set around the fork).
func (s *service) startWithUmask(cmd *exec.Cmd) error {
	old := syscall.Umask(s.umask)
	defer syscall.Umask(old)
	return cmd.Start()
}

// runControl runs an ExecStartPre= or ExecReload= line to its end.
func (s *service) runControl(t *testing.T, key string, c command) {
	t.Helper()
	cmd := s.command(c)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := s.startWithUmask(cmd); err != nil {
		t.Fatalf("%s=%s: %v", key, strings.Join(c.argv, " "), err)
	}
	if err := cmd.Wait(); err != nil && !c.ignoreFailure {
		t.Fatalf("%s=%s: %v\n%s", key, strings.Join(c.argv, " "), err, out.String())
	}
	t.Logf("%s=%s: OK %s", key, strings.Join(c.argv, " "), strings.TrimSpace(out.String()))
}

// waitNote waits for the sd_notify line want, failing if the daemon exits
// first or the time runs out.
func (s *service) waitNote(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case note, ok := <-s.notes:
			if !ok {
				t.Fatalf("the notification socket closed before %s", want)
			}
			t.Logf("sd_notify: %s", note)
			if note == want {
				return
			}
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("the daemon exited (%v) before it sent %s; its output:\n%s", err, want, s.stderr.String())
		case <-deadline:
			t.Fatalf("no %s within %s; the daemon's output:\n%s", want, timeout, s.stderr.String())
		}
	}
}

// start runs the ExecStartPre= lines, then ExecStart=, and waits for
// READY=1 as systemd does for Type=notify.
func (s *service) start(t *testing.T) *exec.Cmd {
	for _, line := range s.unit["ExecStartPre"] {
		s.runControl(t, "ExecStartPre", execLine(t, "ExecStartPre", line, 0))
	}
	if n := len(s.unit["ExecStart"]); n != 1 {
		t.Fatalf("%d ExecStart= lines, want 1", n)
	}
	s.main = s.command(execLine(t, "ExecStart", s.unit["ExecStart"][0], 0))
	s.stderr = &bytes.Buffer{}
	s.main.Stdout, s.main.Stderr = s.stderr, s.stderr
	if err := s.startWithUmask(s.main); err != nil {
		t.Fatalf("ExecStart: %v", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.main.Wait() }()
	// The shipped configuration must start the daemon on a fresh install,
	// with no token set: its jobs may fail, the daemon may not.
	s.waitNote(t, "READY=1", durationSetting(t, s.unit, "TimeoutStartSec", 90*time.Second))
	return s.main
}

// status is the part of /status this test reads.
type status struct {
	PID  int `json:"pid"`
	Jobs []struct {
		Name string `json:"name"`
	} `json:"jobs"`
	Config *struct {
		Path                 string     `json:"path"`
		LastReloadAt         *time.Time `json:"last_reload_at"`
		LastReloadSuccessful *bool      `json:"last_reload_successful"`
		LastReloadError      string     `json:"last_reload_error"`
	} `json:"config"`
}

// queryStatus asks the daemon over its socket as an operator would
// (`sudo raftsnap status`).
func (s *service) queryStatus(t *testing.T) status {
	t.Helper()
	out, err := exec.Command("/usr/bin/raftsnap", "status", "--socket", sockPath, "--mode", "raw").CombinedOutput()
	if err != nil {
		t.Fatalf("raftsnap status --socket %s: %v\n%s\ndaemon output:\n%s", sockPath, err, out, s.stderr.String())
	}
	var st status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	return st
}

func (s *service) checkRunning(t *testing.T) {
	checkMode(t, sockPath, os.ModeSocket|0o600, "raftsnap", "raftsnap")
	st := s.queryStatus(t)
	if st.PID != s.main.Process.Pid {
		t.Errorf("status from pid %d, want the daemon started here, %d", st.PID, s.main.Process.Pid)
	}
	var names []string
	for _, j := range st.Jobs {
		names = append(names, j.Name)
	}
	// The jobs of the shipped configuration, dist/examples/consul.yml.
	if got := strings.Join(names, " "); got != "consul-main consul-to-staging" {
		t.Errorf("jobs %q, want the shipped configuration's: consul-main consul-to-staging", got)
	}
	if st.Config == nil || st.Config.Path != "/etc/raftsnap/raftsnap.yml" {
		t.Errorf("status config %+v, want path /etc/raftsnap/raftsnap.yml", st.Config)
	}
	out := run(t, "/usr/bin/raftsnap", "version", "--socket", sockPath)
	if !strings.Contains(out, "\ndaemon ") {
		t.Errorf("raftsnap version does not show the daemon's version:\n%s", out)
	}
}

// reload runs ExecReload= (with $MAINPID) and waits for the daemon to say
// it reloaded, then checks the status says the reload succeeded.
func (s *service) reload(t *testing.T) {
	lines := s.unit["ExecReload"]
	if len(lines) == 0 {
		t.Fatal("the unit has no ExecReload=")
	}
	for _, line := range lines {
		s.runControl(t, "ExecReload", execLine(t, "ExecReload", line, s.main.Process.Pid))
	}
	s.waitNote(t, "RELOADING=1", 30*time.Second)
	s.waitNote(t, "READY=1", 90*time.Second)
	st := s.queryStatus(t)
	if st.Config == nil || st.Config.LastReloadAt == nil || st.Config.LastReloadSuccessful == nil || !*st.Config.LastReloadSuccessful {
		t.Errorf("after the reload, status config %+v: want a successful last reload", st.Config)
	} else if st.Config.LastReloadError != "" {
		t.Errorf("reload error: %s", st.Config.LastReloadError)
	}
}

// stop sends KillSignal= (SIGTERM) and waits TimeoutStopSec= for a clean
// exit, then removes the RuntimeDirectory= as systemd does.
func (s *service) stop(t *testing.T) {
	sig := syscall.SIGTERM
	if k := s.unit.last("KillSignal", "SIGTERM"); k != "SIGTERM" {
		t.Fatalf("KillSignal=%s: this test sends SIGTERM", k)
	}
	if err := s.main.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	s.waitNote(t, "STOPPING=1", 10*time.Second)
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("the daemon exited with %v after SIGTERM, want 0; its output:\n%s", err, s.stderr.String())
		}
	case <-time.After(s.stopWait):
		t.Fatalf("the daemon did not exit within TimeoutStopSec=%s after SIGTERM", s.stopWait)
	}
	if exists(sockPath) {
		t.Errorf("%s is left after the daemon stopped", sockPath)
	}
	if d := s.unit.last("RuntimeDirectory", ""); d != "" && s.unit.last("RuntimeDirectoryPreserve", "no") == "no" {
		if err := os.RemoveAll(filepath.Join("/run", d)); err != nil {
			t.Fatal(err)
		}
	}
}
