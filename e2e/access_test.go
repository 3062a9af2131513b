package e2e

// Access: who can reach the control socket, what the daemon refuses to
// start on, and that no token ever appears in anything the daemon or the
// CLI prints, serves or writes.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
)

// otherUser is a throw-away local user (testkit.TempUser: it needs root,
// as CI has it; elsewhere the test fails, or skips under
// RAFTSNAP_SKIP_INTEGRATION=1, saying why: never a quiet pass).
func otherUser(t *testing.T) (name string, uid, gid string) {
	t.Helper()
	name, u, g := testkit.TempUser(t)
	return name, strconv.Itoa(u), strconv.Itoa(g)
}

// asUser runs the raftsnap CLI as uid/gid with no supplementary groups. The
// binary is copied where that user may execute it.
func asUser(t *testing.T, bin, uid, gid string, args ...string) cliResult {
	t.Helper()
	return testkit.RunCLI(t, exec.Command("setpriv", append([]string{"--reuid=" + uid, "--regid=" + gid, "--clear-groups", bin}, args...)...))
}

var perm = testkit.Perm

// TestSocketAccess: the socket directory is 0700, the socket and its lock
// 0600; another local user is refused with a clear message and exit 1,
// and stays refused when the directory is later opened up, because the
// socket itself is private.
func TestSocketAccess(t *testing.T) {
	name, uid, gid := otherUser(t)
	dir := shortTempDir(t)
	ctl := filepath.Join(dir, "ctl")
	d := startDaemon(t, pruneOnlyConfig(t, dir, filepath.Join(ctl, "sock")))
	for path, want := range map[string]os.FileMode{ctl: 0o700, d.Sock: 0o600, d.Sock + ".lock": 0o600} {
		if got := perm(t, path); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}

	// A copy of the CLI the other user can execute (the test binary's
	// directory is private).
	bin := binaryIn(t, shortTempDir(t))
	// The parent temp directory must be traversable, or the test would
	// only prove that /tmp/rsNNN is private.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}

	for _, step := range []struct {
		name    string
		ctlMode os.FileMode
	}{{"socket directory 0700", 0o700}, {"directory opened to 0711 after start", 0o711}} {
		t.Run(step.name, func(t *testing.T) {
			if err := os.Chmod(ctl, step.ctlMode); err != nil {
				t.Fatal(err)
			}
			r := asUser(t, bin, uid, gid, "status", "--socket", d.Sock)
			if r.Code != 1 || !strings.Contains(r.Stderr, "permission denied on "+d.Sock) {
				t.Fatalf("user %s: want exit 1 with %q: %s", name, "permission denied on "+d.Sock, r)
			}
			r = asUser(t, bin, uid, gid, "signal", "wakeup", "prune", "--socket", d.Sock)
			if r.Code != 1 || !strings.Contains(r.Stderr, "permission denied") {
				t.Fatalf("user %s could signal, or was not told why not: %s", name, r)
			}
		})
	}
	if err := os.Chmod(ctl, 0o700); err != nil {
		t.Fatal(err)
	}
	// The owner is still served.
	if r := mustRS(t, "status", "--socket", d.Sock, "--mode", "dump"); !strings.Contains(r.Stdout, "prune") {
		t.Fatalf("owner's status: %s", r)
	}
}

// TestDaemonRefusesSharedSocketDirectory: any group or other bit on the
// socket directory stops the daemon before it binds (0755 is covered by
// TestDaemonRefusesOpenSocketDirectory).
func TestDaemonRefusesSharedSocketDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o770, 0o750, 0o710, 0o707, 0o701, 0o777} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			dir := shortTempDir(t)
			ctl := filepath.Join(dir, "ctl")
			if err := os.Mkdir(ctl, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(ctl, mode); err != nil {
				t.Fatal(err)
			}
			d := spawnDaemon(t, "--config", pruneOnlyConfig(t, dir, filepath.Join(ctl, "sock")))
			if code := d.ExitCode(t, 30*time.Second); code == 0 {
				t.Fatalf("daemon ran with a %04o socket directory:\n%s", mode, d.Output())
			}
			want := fmt.Sprintf("control socket directory %s is accessible by group or others (mode %04o)", ctl, mode)
			if !strings.Contains(d.Stderr.String(), want) {
				t.Fatalf("want %q in:\n%s", want, d.Stderr)
			}
			if entries, _ := os.ReadDir(ctl); len(entries) != 0 {
				t.Fatalf("the refused daemon left files in %s: %v", ctl, entries)
			}
		})
	}
}

// TestSecondDaemonRefused: a second daemon on the same socket exits with
// an error naming the socket and the first daemon's pid, and the first
// keeps its socket and keeps serving.
func TestSecondDaemonRefused(t *testing.T) {
	dir := shortTempDir(t)
	config := pruneOnlyConfig(t, dir, filepath.Join(dir, "ctl", "sock"))
	first := startDaemon(t, config)
	second := spawnDaemon(t, "--config", config)
	if code := second.ExitCode(t, 30*time.Second); code == 0 {
		t.Fatalf("a second daemon on %s exited 0:\n%s", first.Sock, second.Output())
	}
	want := fmt.Sprintf("another raftsnap daemon is using %s (pid %d)", first.Sock, first.Pid())
	if !strings.Contains(second.Stderr.String(), want) {
		t.Fatalf("want %q in:\n%s", want, second.Stderr)
	}
	if st := fetchStatus(t, first.Sock); st.PID != first.Pid() {
		t.Fatalf("the socket answers for pid %d, not the first daemon %d", st.PID, first.Pid())
	}
}

// denyingServer is a fault injector standing in for a Nomad or Vault
// server whose ACLs refuse the token: every request gets code with the
// vendors' documented error body. (A server that quotes the request's
// headers in its error page is covered by snapshot/source's
// TestTokenEchoedByServerIsRedacted.)
func denyingServer(t *testing.T, code int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, `{"errors": ["permission denied"]}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// closedAddress is a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// leakJobs fail in every way a token could be quoted: %[2]s is a raft
// cluster, %[3]s a closed address, %[4]s a Consul with ACLs, %[5]s and
// %[6]s denying stand-ins, %[7]s the restore target. (The jobs that fail
// get one retry, 100ms later.)
var leakJobs = []string{
	`{name: raft-ok, type: snapshot, source: {type: raft, address: %[2]s, token_file: %[1]s/raft-token}, interval: 1h, store: {path: %[1]s/store-raft-ok}, pruning: {keep: [{last_n: {count: 5}}]}}`,
	leakJob("raft-wrong", `{type: raft, address: %[2]s, token_file: %[1]s/raft-wrong-loose}`, "store-raft-wrong"),
	leakJob("raft-down", `{type: raft, address: %[3]s, token_env: RAFTSNAP_LEAK_RAFT}`, "store-raft-down"),
	leakJob("consul-wrong", `{type: consul, address: %[4]s, token_file: %[1]s/consul-wrong}`, "store-consul-wrong"),
	leakJob("consul-down", `{type: consul, address: %[3]s, token_env: RAFTSNAP_LEAK_CONSUL}`, "store-consul-down"),
	leakJob("nomad-denied", `{type: nomad, address: %[5]s, token_file: %[1]s/nomad-token}`, "store-nomad"),
	leakJob("nomad-down", `{type: nomad, address: %[3]s, token_env: RAFTSNAP_LEAK_NOMAD}`, "store-nomad-down"),
	leakJob("vault-denied", `{type: vault, address: %[6]s, token_env: RAFTSNAP_LEAK_VAULT}`, "store-vault"),
	leakJob("vault-down", `{type: vault, address: %[3]s, token_file: %[1]s/vault-token}`, "store-vault-down"),
	`{name: restore-wrong, type: restore, from_job: raft-ok, snapshot: latest, target: {type: raft, address: %[7]s, token_file: %[1]s/raft-wrong-loose}}`,
}

// leakJob is a snapshot job of source into dir/store that fails.
func leakJob(name, source, store string) string {
	return `{name: ` + name + `, type: snapshot, source: ` + source + `, interval: 1h, retries: {max: 1, initial_backoff: 100ms}, store: {path: %[1]s/` +
		store + `}, pruning: {keep: [{last_n: {count: 5}}]}}`
}

// TestTokensNeverLeak runs every source kind with tokens from files and
// from the environment, failing in every way a token could be quoted
// (refused 401/403 by real servers or a denying stand-in, unreachable), then collects everything the daemon and the CLI
// produced (daemon stdout/stderr, status in every mode, metrics,
// configcheck, signal outputs, sidecars) and searches it for each token.
func TestTokensNeverLeak(t *testing.T) {
	secret := func(kind string) string { return "leak-" + kind + "-" + randomText(t, 24) }
	raftToken, raftWrong, raftEnv := secret("raft"), secret("raftwrong"), secret("raftenv")
	consulWrong, consulEnv := secret("consulwrong"), secret("consulenv")
	nomadToken, nomadEnv := secret("nomad"), secret("nomadenv")
	vaultEnv, vaultToken := secret("vaultenv"), secret("vault")
	tokens := []string{raftToken, raftWrong, raftEnv, consulWrong, consulEnv, nomadToken, nomadEnv, vaultEnv, vaultToken}

	cluster := startCluster(t, raftToken)
	if err := cluster.Put(context.Background(), "k", "v"); err != nil { // an empty state machine has nothing to snapshot
		t.Fatal(err)
	}
	target := startCluster(t, raftToken)
	consul := servers.StartConsul(t, servers.ConsulOptions{ACL: true})

	dir := shortTempDir(t)
	writeFile(t, filepath.Join(dir, "raft-token"), raftToken+"\n", 0o600)
	// Loose on purpose: the daemon and configcheck must warn about it.
	writeFile(t, filepath.Join(dir, "raft-wrong-loose"), raftWrong+"\n", 0o600)
	if err := os.Chmod(filepath.Join(dir, "raft-wrong-loose"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "consul-wrong"), consulWrong+"\n", 0o600)
	writeFile(t, filepath.Join(dir, "nomad-token"), nomadToken+"\n", 0o600)
	writeFile(t, filepath.Join(dir, "vault-token"), vaultToken+"\n", 0o600)
	configPath := writeConfig(t, dir, `{control: {sockpath: %[1]s/ctl/sock}, monitoring: {listen: "127.0.0.1:0"}, logging: {level: debug}}`, leakJobs,
		leader(t, cluster).HTTPAddr, closedAddress(t), consul.Addr,
		denyingServer(t, http.StatusForbidden), denyingServer(t, http.StatusForbidden), leader(t, target).HTTPAddr)
	env := []string{"RAFTSNAP_LEAK_RAFT=" + raftEnv, "RAFTSNAP_LEAK_CONSUL=" + consulEnv,
		"RAFTSNAP_LEAK_NOMAD=" + nomadEnv, "RAFTSNAP_LEAK_VAULT=" + vaultEnv}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // inherited by the daemon and the CLI
	}

	var outputsMu sync.Mutex
	outputs := map[string]string{}
	keep := func(what, text string) {
		outputsMu.Lock()
		outputs[what] += text
		outputsMu.Unlock()
	}

	cc := rs(t, "configcheck", "--config", configPath)
	keep("configcheck", cc.Stdout+cc.Stderr)
	if cc.Code != 0 || !strings.Contains(cc.Stdout+cc.Stderr, filepath.Join(dir, "raft-wrong-loose")) {
		t.Errorf("configcheck does not pass with a warning naming the 0644 token file: %s", cc)
	}

	d := startDaemon(t, configPath)
	if !strings.Contains(d.Stderr.String(), "token file: mode 0644 lets every user on this host at it") ||
		!strings.Contains(d.Stderr.String(), filepath.Join(dir, "raft-wrong-loose")) {
		t.Errorf("the daemon did not warn about the 0644 token file at start:\n%s", d.Stderr)
	}

	wantFailure := map[string]string{
		"raft-wrong":    "401",
		"raft-down":     "connection refused",
		"consul-wrong":  "403",
		"consul-down":   "connection refused",
		"nomad-denied":  "403",
		"nomad-down":    "connection refused",
		"vault-denied":  "403",
		"vault-down":    "connection refused",
		"restore-wrong": "401",
	}
	if r := rs(t, "signal", "wakeup", "raft-ok", "--wait", "--socket", d.Sock); r.Code != 0 {
		t.Fatalf("raft-ok: %s", r)
	} else {
		keep("signal raft-ok", r.Stdout+r.Stderr)
	}
	for name, want := range wantFailure {
		r := rs(t, "signal", "wakeup", name, "--wait", "--socket", d.Sock)
		keep("signal "+name, r.Stdout+r.Stderr)
		if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("%s: want exit 1 mentioning %q: %s", name, want, r)
		}
	}
	for _, mode := range []string{"raw", "dump"} {
		r := mustRS(t, "status", "--mode", mode, "--socket", d.Sock)
		keep("status "+mode, r.Stdout+r.Stderr)
		for name := range wantFailure {
			if !strings.Contains(r.Stdout, name) {
				t.Errorf("status --mode %s does not show %s", mode, name)
			}
		}
	}
	for _, name := range []string{"raft-wrong", "consul-wrong"} {
		r := rs(t, "status", "--job", name, "--mode", "dump", "--socket", d.Sock)
		keep("status --job "+name, r.Stdout+r.Stderr)
	}
	resp, err := http.Get("http://" + d.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	keep("metrics", string(metrics))
	if !regexp.MustCompile(`raftsnap_job_failures_total{job_name="consul-wrong",reason="http_4xx"} [1-9]`).Match(metrics) {
		t.Errorf("metrics do not count consul-wrong's 403 as http_4xx:\n%s", metrics)
	}

	sidecars := readFiles(t, filepath.Join(dir, "store-*", "*.json"))
	if len(sidecars) == 0 {
		t.Error("raft-ok wrote no sidecar to scan")
	}
	for path, data := range sidecars {
		keep(path, data)
	}
	// The whole store and state tree: any file raftsnap wrote.
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasPrefix(filepath.Base(filepath.Dir(path)), "store-") {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil && !strings.HasSuffix(path, ".snap") {
			keep(path, string(data))
		}
		return nil
	})

	d.Cmd.Process.Signal(os.Interrupt)
	d.ExitCode(t, 30*time.Second)
	keep("daemon stdout", d.Stdout.String())
	keep("daemon stderr", d.Stderr.String())

	scanned := 0
	for what, text := range outputs {
		scanned += len(text)
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				i := strings.Index(text, tok)
				t.Errorf("a token leaked into %s: ...%s...", what, text[max(0, i-200):min(len(text), i+len(tok)+50)])
			}
		}
	}
	t.Logf("scanned %d outputs, %d KiB, for %d tokens", len(outputs), scanned>>10, len(tokens))
}
