//go:build debtest

package debtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDebUnderSystemd installs the .deb into a Debian container booted
// with systemd-nspawn, so that a real systemd (the distribution's own) runs
// the unit with all its settings and sandboxing: systemctl start, status
// over the socket, systemctl reload (of the same file, then of an invalid
// one, which must fail and leave the daemon running) and stop; then the
// two brakes on a daemon that cannot start (an invalid configuration is
// not restarted; a failure at run time stops at the start limit); then
// dpkg --purge with the daemon running. The container's root is a minimal
// Debian (debootstrap --variant=minbase plus systemd, passwd and the
// package's dependencies, such as libisal2), built once into
// $RAFTSNAP_TOOLS_DIR (about 3 minutes) and used through an ephemeral copy,
// with its own network namespace: nothing it does reaches the host.
func TestDebUnderSystemd(t *testing.T) {
	if *debPath == "" {
		t.Fatal("no package: give -deb FILE.deb (make dist-check does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("systemd-nspawn needs root (CI runs as root)")
	}
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install debootstrap systemd-container util-linux; .ci/run does)", tool)
		}
	}
	root := debianRoot(t, packageDepends(t, *debPath))
	c := bootContainer(t, root, *debPath)

	// Install: the unit is known to systemd and not enabled.
	c.must(t, "dpkg -i /debs/"+filepath.Base(*debPath))
	if out, _ := c.run("systemctl is-enabled raftsnap.service"); strings.TrimSpace(out) != "disabled" {
		t.Errorf("after install, systemctl is-enabled says %q, want disabled (the operator enables it after editing the configuration)", strings.TrimSpace(out))
	}
	c.must(t, "cp /etc/raftsnap/raftsnap.yml /root/shipped.yml")

	// The shipped configuration starts the daemon, with no token set.
	if out, err := c.run("systemctl start raftsnap.service"); err != nil {
		t.Errorf("systemctl start raftsnap with the shipped configuration: %v\n%s\n%s", err, out, c.journal(t))
	} else {
		if out := c.must(t, "systemctl is-active raftsnap.service"); strings.TrimSpace(out) != "active" {
			t.Errorf("after start: %s", out)
		}
		out := c.must(t, "raftsnap status --mode raw")
		if !strings.Contains(out, `"consul-main"`) || !strings.Contains(out, `"consul-to-staging"`) {
			t.Errorf("status does not list the shipped jobs:\n%s", out)
		}
		version := c.must(t, "raftsnap version")
		if !strings.Contains(version, "gzip inflate: ISA-L") || !strings.Contains(version, "\ndaemon ") {
			t.Errorf("raftsnap version (want the ISA-L inflater and the daemon's version):\n%s", version)
		}
		// Reload as an operator does; the unit's ExecReload must work on
		// a minimal Debian with only the package's dependencies.
		if out, err := c.run("systemctl reload raftsnap.service"); err != nil {
			t.Errorf("systemctl reload raftsnap: %v\n%s\n%s", err, out, c.journal(t))
		} else if out := c.must(t, "raftsnap status --mode raw"); !strings.Contains(out, `"last_reload_successful": true`) {
			t.Errorf("after systemctl reload, the status does not show a successful reload:\n%s", out)
		}
		// A reload of an invalid file fails, and the daemon keeps running
		// its configuration.
		c.must(t, `printf 'jobs:\n  - name: broken\n' > /etc/raftsnap/raftsnap.yml`)
		if out, err := c.run("systemctl reload raftsnap.service"); err == nil {
			t.Errorf("systemctl reload of an invalid configuration succeeded:\n%s", out)
		}
		if out, _ := c.run("systemctl is-active raftsnap.service"); strings.TrimSpace(out) != "active" {
			t.Errorf("after a refused reload the service is %q, want active\n%s", strings.TrimSpace(out), c.journal(t))
		}
		c.must(t, "cp /root/shipped.yml /etc/raftsnap/raftsnap.yml")
		c.must(t, "systemctl stop raftsnap.service")
		if out, _ := c.run("test -e /run/raftsnap && ls -la /run/raftsnap"); out != "" {
			t.Errorf("/run/raftsnap is left after stop:\n%s", out)
		}
	}

	// An invalid configuration: the start fails and systemd does not
	// restart it (RestartPreventExitStatus=2). Stop first: a failed start
	// above may have a restart pending.
	c.must(t, "systemctl stop raftsnap.service")
	c.must(t, `printf 'jobs:\n  - name: broken\n    interval: five minutes\n' > /etc/raftsnap/raftsnap.yml`)
	if out, err := c.run("systemctl start raftsnap.service"); err == nil {
		t.Errorf("systemctl start with an invalid configuration succeeded:\n%s", out)
	}
	restartSec := 5 * time.Second
	time.Sleep(2*restartSec + 2*time.Second)
	props := c.show(t, "ActiveState", "NRestarts", "ExecMainStatus")
	if props["ActiveState"] != "failed" || props["NRestarts"] != "0" || props["ExecMainStatus"] != "2" {
		t.Errorf("invalid configuration: %v, want ActiveState=failed NRestarts=0 ExecMainStatus=2 (no restart)\n%s", props, c.journal(t))
	}

	// A failure at run time (the socket's directory is read-only under
	// ProtectSystem=strict): restarted, but only until the start limit.
	c.must(t, "systemctl reset-failed raftsnap.service")
	c.must(t, `sed 's|sockpath: /run/raftsnap/control|sockpath: /srv/raftsnap/control|' /root/shipped.yml > /etc/raftsnap/raftsnap.yml`)
	_, _ = c.run("systemctl start raftsnap.service")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if c.show(t, "ActiveState")["ActiveState"] == "failed" {
			break
		}
		time.Sleep(time.Second)
	}
	first := c.show(t, "ActiveState", "NRestarts", "ExecMainStatus")
	time.Sleep(2*restartSec + time.Second)
	later := c.show(t, "ActiveState", "NRestarts")
	n, _ := strconv.Atoi(first["NRestarts"])
	if first["ActiveState"] != "failed" || first["ExecMainStatus"] != "1" || n < 1 || later["NRestarts"] != first["NRestarts"] || later["ActiveState"] != "failed" {
		t.Errorf("failure at run time: %v, then %v; want restarts (exit 1), then failed for good at the start limit\n%s", first, later, c.journal(t))
	} else {
		t.Logf("failure at run time: restarted %d times, then stopped by the start limit", n)
	}

	// Purge with the daemon running (if it starts): prerm stops it, and
	// nothing the package created is left.
	c.must(t, "systemctl reset-failed raftsnap.service && cp /root/shipped.yml /etc/raftsnap/raftsnap.yml")
	_, _ = c.run("systemctl start raftsnap.service")
	c.must(t, "dpkg --purge raftsnap")
	if out, _ := c.run("systemctl is-active raftsnap.service"); strings.TrimSpace(out) != "inactive" {
		t.Errorf("after purge the service is %q", strings.TrimSpace(out))
	}
	if out, _ := c.run(`for p in /etc/raftsnap /var/lib/raftsnap /run/raftsnap /usr/bin/raftsnap /usr/lib/systemd/system/raftsnap.service \
		/etc/systemd/system/raftsnap.service /var/lib/systemd/deb-systemd-helper-masked/raftsnap.service \
		/var/lib/systemd/deb-systemd-helper-enabled/raftsnap.service.dsh-also; do test -e $p -o -L $p && echo $p; done
		getent passwd raftsnap; getent group raftsnap; for p in /proc/[0-9]*; do grep -qs '^Name:.raftsnap' $p/status && echo process $p; done; true`); strings.TrimSpace(out) != "" {
		t.Errorf("left after dpkg --purge:\n%s", out)
	}
	if out, _ := c.run("systemctl list-unit-files raftsnap.service --no-legend"); strings.TrimSpace(out) != "" {
		t.Errorf("systemd still knows the unit after purge: %s", out)
	}
}

// packageDepends lists the packages the .deb depends on (the first of
// each set of alternatives, without versions).
func packageDepends(t *testing.T, deb string) []string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "-f", deb, "Depends").Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s Depends: %v", deb, err)
	}
	var names []string
	for _, dep := range strings.Split(strings.TrimSpace(string(out)), ",") {
		alt, _, _ := strings.Cut(dep, "|")
		if f := strings.Fields(alt); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// debianRoot returns a minimal Debian root of the host's release with
// systemd and the packages given (the .deb's dependencies: the container
// has no network), building it once with debootstrap; a root is kept per
// set of packages.
func debianRoot(t *testing.T, depends []string) string {
	t.Helper()
	tools := os.Getenv("RAFTSNAP_TOOLS_DIR")
	if tools == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		tools = filepath.Join(home, ".cache", "raftsnap-tools")
	}
	codename := ""
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok {
				codename = strings.Trim(v, `"`)
			}
		}
	}
	if codename == "" {
		t.Fatal("no VERSION_CODENAME in /etc/os-release: this test builds a Debian root of the host's release")
	}
	// A directory of its own, so that nspawn's ephemeral copies (.#*) that
	// a killed run leaves can be removed safely.
	include := append([]string{"systemd", "systemd-sysv", "passwd"}, depends...)
	sort.Strings(include)
	include = slices.Compact(include)
	sum := sha256.Sum256([]byte(strings.Join(include, ",")))
	dir := filepath.Join(tools, fmt.Sprintf("debian-%s-systemd-%x", codename, sum[:4]))
	root := filepath.Join(dir, "root")
	if matches, _ := filepath.Glob(filepath.Join(dir, ".#*")); len(matches) > 0 {
		for _, m := range matches {
			_ = os.RemoveAll(m)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd")); err == nil {
		return root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := root + ".tmp"
	_ = os.RemoveAll(tmp)
	t.Logf("building a %s root with %s with debootstrap into %s (once; about 3 minutes)", codename, strings.Join(include, ", "), root)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// debootstrap's default mirror; passwd for the package's postrm (userdel).
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(include, ","), codename, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		t.Fatalf("debootstrap: %v\n%s", err, lastLines(out, 30))
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	return root
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// container is a booted systemd-nspawn container.
type container struct {
	init int // the container's PID 1, as the host sees it
}

// bootContainer boots an ephemeral copy of root with its own network
// namespace and the .deb's directory mounted read-only at /debs, waits
// until its systemd has finished booting, and powers it off at cleanup.
func bootContainer(t *testing.T, root, deb string) *container {
	t.Helper()
	debDir, err := filepath.Abs(filepath.Dir(deb))
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat("/run/systemd/nspawn")
	nspawnDirExisted := statErr == nil
	var console bytes.Buffer
	cmd := exec.Command("systemd-nspawn", "--directory="+root, "--ephemeral", "--boot",
		"--register=no", "--keep-unit", "--private-network", "--console=pipe",
		"--machine=raftsnap-debtest", "--bind-ro="+debDir+":/debs")
	cmd.Stdout, cmd.Stderr = &console, &console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM makes nspawn power the container off; its ephemeral
		// copy is removed when it exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the container did not power off within 60s")
		}
		if !nspawnDirExisted {
			_ = os.RemoveAll("/run/systemd/nspawn")
		}
		if t.Failed() {
			t.Logf("container console:\n%s", lastLines(console.Bytes(), 40))
		}
	})

	c := &container{}
	deadline := time.Now().Add(60 * time.Second)
	for c.init == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("systemd-nspawn started no container within 60s:\n%s", console.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("systemd-nspawn exited: %v\n%s", err, console.String())
		case <-time.After(200 * time.Millisecond):
		}
		c.init = containerInit(cmd.Process.Pid)
	}
	for {
		out, _ := c.run("systemctl is-system-running --wait")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			if state == "degraded" {
				failed, _ := c.run("systemctl --failed --no-legend")
				t.Logf("the container booted degraded (not raftsnap's doing):\n%s", failed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's systemd did not finish booting within 60s (%q):\n%s", state, console.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	return c
}

// containerInit finds, among the descendants of systemd-nspawn, the
// container's PID 1 (nspawn forks helpers on the way); 0 until it exists.
func containerInit(nspawn int) int {
	queue := []int{nspawn}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
				return pid
			}
		}
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, f := range strings.Fields(string(children)) {
			if child, err := strconv.Atoi(f); err == nil {
				queue = append(queue, child)
			}
		}
	}
	return 0
}

// run runs a shell command inside the container, in all its namespaces.
func (c *container) run(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--target", strconv.Itoa(c.init), "--all", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *container) must(t *testing.T, script string) string {
	t.Helper()
	out, err := c.run(script)
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s\n%s", script, err, out, c.journal(t))
	}
	return out
}

// show returns properties of raftsnap.service (systemctl show).
func (c *container) show(t *testing.T, props ...string) map[string]string {
	t.Helper()
	out := c.must(t, "systemctl show raftsnap.service -p "+strings.Join(props, " -p "))
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// journal is the unit's recent journal, for failure messages.
func (c *container) journal(t *testing.T) string {
	out, _ := c.run("journalctl -u raftsnap.service --no-pager -n 30 -o short-monotonic")
	return "journal of raftsnap.service:\n" + out
}
