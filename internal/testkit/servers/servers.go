// Package servers starts real Consul and Nomad servers on 127.0.0.1, waits
// until they have a leader, and stops them. Tests use StartConsul and
// StartNomad, which stop the server and remove its files when the test
// ends; programs (bench/) use LaunchConsul and stop the server themselves.
//
// Binaries: $RAFTSNAP_CONSUL_BIN / $RAFTSNAP_NOMAD_BIN, else
// ~/.cache/raftsnap-tools/{consul,nomad} (built by .ci/build-servers). A
// test without the binary fails, unless RAFTSNAP_SKIP_INTEGRATION=1, which
// skips it with the reason (testkit.Missing); under -short it skips.
package servers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/daemon/drill/loopback"
	"github.com/raftsnap/raftsnap/nethelpers"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// Pinned versions, as in .ci/build-servers; used when the unversioned
// symlink is missing.
const (
	ConsulVersion = "1.22.7"
	NomadVersion  = "1.11.3"
)

// StartTimeout bounds how long a server may take to elect itself leader.
const StartTimeout = 60 * time.Second

// Server is a running Consul or Nomad server.
type Server struct {
	// Addr is the HTTP base URL, e.g. http://127.0.0.1:41234.
	Addr string
	// Dir holds the data directory, config and log.
	Dir string
	// ManagementToken is set when ACLs are enabled.
	ManagementToken string
	// Socket is the unix socket the HTTP API also listens on, when asked
	// for (ConsulOptions.UnixSocket).
	Socket string
	// DataDir is the server's data_dir (Persistent Consul servers and
	// Nomad servers; "" for consul -dev). It stays after Stop or Kill
	// until the test ends.
	DataDir string

	kind string
	proc *loopback.Process
}

// BinaryPath returns the path of the consul or nomad binary, or an error
// that says how to build it.
func BinaryPath(name string) (string, error) {
	envVar := "RAFTSNAP_" + strings.ToUpper(name) + "_BIN"
	candidates := []string{}
	if p := os.Getenv(envVar); p != "" {
		candidates = append(candidates, p)
	} else {
		dir := os.Getenv("RAFTSNAP_TOOLS_DIR")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("locating %s binary: %w", name, err)
			}
			dir = filepath.Join(home, ".cache", "raftsnap-tools")
		}
		version := ConsulVersion
		if name == "nomad" {
			version = NomadVersion
		}
		candidates = append(candidates, filepath.Join(dir, name), filepath.Join(dir, name+"-"+version))
	}
	for _, p := range candidates {
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s binary not found at %s: run .ci/build-servers (or set %s)", name, candidates[0], envVar)
}

// Binary is BinaryPath for a test: it is testkit.Integration, and a
// missing binary fails the test (testkit.Missing).
func Binary(t testing.TB, name string) string {
	t.Helper()
	testkit.Integration(t, "a real "+name+" server")
	p, err := BinaryPath(name)
	if err != nil {
		testkit.Missing(t, err.Error())
	}
	return p
}

// ConsulOptions tune LaunchConsul and StartConsul.
type ConsulOptions struct {
	// ACL enables ACLs with default deny and a management token.
	ACL bool
	// Persistent runs a real single server with a data dir (raft-boltdb,
	// file snapshots) instead of -dev.
	Persistent bool
	// LogLevel is Consul's log_level ("" keeps Consul's default).
	LogLevel string
	// NodeName names the node ("" means raftsnap-test).
	NodeName string
	// DieWithParent kills the server when the program that started it
	// dies, even by SIGKILL (for programs; tests stop theirs at cleanup).
	DieWithParent bool
	// UnixSocket serves the HTTP API on a unix socket too (Server.Socket).
	UnixSocket bool
	// Raft tunes when a Persistent server writes raft snapshots to disk.
	Raft RaftOptions
	// LogStore is raft_logstore's backend for a Persistent server: ""
	// leaves Consul's default (raft-wal for a new data dir, since 1.15),
	// "boltdb" keeps raft.db.
	LogStore string
}

// RaftOptions make a server write raft snapshots to its data dir soon:
// after Threshold log entries (raft_snapshot_threshold), checked every
// Interval (raft_snapshot_interval). Zero values keep the server's
// defaults (thousands of entries, minutes).
type RaftOptions struct {
	Threshold int
	Interval  time.Duration
}

// NomadOptions tune LaunchNomad and StartNomadWith.
type NomadOptions struct {
	Raft RaftOptions
}

// StartConsul runs Consul on loopback ports for the test (`consul agent
// -dev` unless opts.Persistent), and stops it when the test ends.
func StartConsul(t testing.TB, opts ConsulOptions) *Server {
	t.Helper()
	bin := Binary(t, "consul")
	s, err := LaunchConsul(bin, t.TempDir(), opts)
	stopAtCleanup(t, s, err)
	return s
}

// StartNomad runs a single Nomad server for the test (-dev does not
// support snapshots), and stops it when the test ends.
func StartNomad(t testing.TB) *Server {
	t.Helper()
	return StartNomadWith(t, NomadOptions{})
}

// StartNomadWith is StartNomad with options.
func StartNomadWith(t testing.TB, opts NomadOptions) *Server {
	t.Helper()
	bin := Binary(t, "nomad")
	s, err := LaunchNomadWith(bin, t.TempDir(), opts)
	stopAtCleanup(t, s, err)
	return s
}

func stopAtCleanup(t testing.TB, s *Server, err error) {
	t.Helper()
	if s != nil {
		// Registered after t.TempDir, so it runs before the directory removal.
		t.Cleanup(func() {
			if err := s.Kill(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("%s log tail:\n%s", s.kind, s.LogTail(4000))
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// LaunchConsul runs Consul in dir on loopback ports and waits for a leader
// (and for ACLs, when enabled). The caller stops it with Kill or Stop; on
// error the server, if started, is already killed.
func LaunchConsul(bin, dir string, opts ConsulOptions) (*Server, error) {
	return retryPortClash(dir, func() (*Server, error) { return launchConsul(bin, dir, opts) })
}

func launchConsul(bin, dir string, opts ConsulOptions) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := nethelpers.FreeLoopbackPorts(3)
	if err != nil {
		return nil, err
	}
	hcl := loopback.Consul(ports[0], ports[1], ports[2])
	if opts.LogLevel != "" {
		hcl += fmt.Sprintf("log_level = %q\n", opts.LogLevel)
	}
	hcl += opts.Raft.hcl()
	if opts.LogStore != "" {
		hcl += fmt.Sprintf("raft_logstore { backend = %q }\n", opts.LogStore)
	}
	s := &Server{kind: "consul", Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	if opts.UnixSocket {
		// Not under dir: a socket path must fit in 108 bytes.
		sockDir, err := os.MkdirTemp("", "consul-sock-")
		if err != nil {
			return nil, err
		}
		s.Socket = filepath.Join(sockDir, "http.sock")
		hcl += fmt.Sprintf("addresses { http = \"127.0.0.1 unix://%s\" }\n", s.Socket)
	}
	if opts.ACL {
		if s.ManagementToken, err = newUUID(); err != nil {
			return nil, err
		}
		hcl += fmt.Sprintf(`
acl {
  enabled = true
  default_policy = "deny"
  tokens { initial_management = %q }
}
`, s.ManagementToken)
	}
	configFile := filepath.Join(dir, "consul.hcl")
	if err := os.WriteFile(configFile, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	node := opts.NodeName
	if node == "" {
		node = "raftsnap-test"
	}
	args := []string{"agent", "-node=" + node, "-config-file=" + configFile}
	if opts.Persistent {
		s.DataDir = filepath.Join(dir, "data")
		args = append(args, "-server", "-bootstrap-expect=1", "-data-dir="+s.DataDir)
	} else {
		args = append(args, "-dev")
	}
	if err := s.start(bin, opts.DieWithParent, args...); err != nil {
		return nil, err
	}
	err = s.waitLeader()
	if err == nil && s.Socket != "" {
		err = s.WaitUntil("listening on "+s.Socket, StartTimeout, func() bool {
			conn, err := net.Dial("unix", s.Socket)
			if err == nil {
				_ = conn.Close()
			}
			return err == nil
		})
	}
	if err == nil && opts.ACL {
		// The leader installs the initial management token shortly after
		// winning the election; wait until it is accepted.
		err = s.WaitUntil("ACL management token accepted", StartTimeout, func() bool {
			code, _, err := s.Do(http.MethodGet, "/v1/acl/token/self", s.ManagementToken, nil)
			return err == nil && code == http.StatusOK
		})
	}
	return s, s.killOn(err)
}

// LaunchNomad runs a single Nomad server in dir and waits for a leader and
// its keyring. The caller stops it with Kill or Stop.
func LaunchNomad(bin, dir string) (*Server, error) {
	return LaunchNomadWith(bin, dir, NomadOptions{})
}

// LaunchNomadWith is LaunchNomad with options.
func LaunchNomadWith(bin, dir string, opts NomadOptions) (*Server, error) {
	return retryPortClash(dir, func() (*Server, error) { return launchNomad(bin, dir, opts) })
}

func launchNomad(bin, dir string, opts NomadOptions) (*Server, error) {
	ports, err := nethelpers.FreeLoopbackPorts(3)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	config := loopback.Nomad(dataDir, ports[0], ports[1], ports[2], "  bootstrap_expect = 1\n"+opts.Raft.hcl())
	configFile := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return nil, err
	}
	s := &Server{kind: "nomad", Dir: dir, DataDir: dataDir, Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	if err := s.start(bin, false, "agent", "-server", "-bootstrap-expect=1", "-data-dir="+dataDir, "-config="+configFile); err != nil {
		return nil, err
	}
	err = s.waitLeader()
	if err == nil {
		err = s.waitKeyring()
	}
	return s, s.killOn(err)
}

// waitKeyring waits for the keyring a Nomad leader creates after winning;
// until then writes of variables fail with "keyring has not been
// initialized yet", and snapshots too.
func (s *Server) waitKeyring() error {
	return s.WaitUntil("keyring initialized", StartTimeout, func() bool {
		code, body, err := s.Do(http.MethodGet, "/v1/operator/keyring/keys", "", nil)
		return err == nil && code == http.StatusOK && strings.Contains(string(body), `"active"`)
	})
}

// hcl is the settings in HCL, the same keys for Consul (top level) and
// Nomad (server block).
func (r RaftOptions) hcl() string {
	var b strings.Builder
	if r.Threshold > 0 {
		fmt.Fprintf(&b, "raft_snapshot_threshold = %d\n", r.Threshold)
	}
	if r.Interval > 0 {
		fmt.Fprintf(&b, "raft_snapshot_interval = %q\n", r.Interval.String())
	}
	return b.String()
}

// killOn kills the server when err is set (a failed start), and returns err.
func (s *Server) killOn(err error) error {
	if err != nil {
		s.Kill()
	}
	return err
}

// launchAttempts bounds the starts retried because a port was taken
// between picking it and the server binding it: other tests (and other
// test processes) pick free ports at the same time, and the servers cannot
// bind port 0 themselves.
const launchAttempts = 3

// retryPortClash runs launch again, on fresh ports and with a fresh data
// directory, when the server died of a port another process took.
func retryPortClash(dir string, launch func() (*Server, error)) (*Server, error) {
	var (
		s   *Server
		err error
	)
	for range launchAttempts {
		s, err = launch()
		if err == nil || s == nil || !s.portClash() {
			return s, err
		}
		if rmErr := os.RemoveAll(filepath.Join(dir, "data")); rmErr != nil {
			return s, errors.Join(err, rmErr)
		}
	}
	return s, err
}

// portClash reports whether the server died of a port taken meanwhile.
func (s *Server) portClash() bool { return s.proc != nil && s.proc.PortClash() }

func (s *Server) start(bin string, dieWithParent bool, args ...string) error {
	// No proxy or token variables from the developer's shell.
	proc, err := loopback.Start(loopback.Launch{Bin: bin, Args: args, Dir: s.Dir,
		LogPath: filepath.Join(s.Dir, s.kind+".log"), Env: cleanEnv(), DieWithParent: dieWithParent})
	if err != nil {
		return err
	}
	s.proc = proc
	return nil
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.proc.Pid() }

// Kill kills the server's process group and waits for it to exit.
func (s *Server) Kill() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.KillGroup(10 * time.Second)
}

// Stop asks the server to leave (SIGTERM) and kills it after grace.
func (s *Server) Stop(grace time.Duration) error {
	if s.Socket != "" {
		defer os.RemoveAll(filepath.Dir(s.Socket))
	}
	if s.proc == nil || s.proc.HasExited() {
		return nil
	}
	s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.proc.Exited():
		return nil
	case <-time.After(grace):
		return s.Kill()
	}
}

// cleanEnv drops variables that would change how the servers behave.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if strings.HasPrefix(upper, "CONSUL_") || strings.HasPrefix(upper, "NOMAD_") ||
			strings.HasSuffix(upper, "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *Server) waitLeader() error {
	return s.WaitUntil("leader elected", StartTimeout, func() bool {
		code, body, err := s.Do(http.MethodGet, "/v1/status/leader", "", nil)
		return err == nil && code == http.StatusOK && strings.Trim(strings.TrimSpace(string(body)), `"`) != ""
	})
}

// WaitUntil polls cond (the servers offer no push notification for these
// events) until it holds, the process exits, or timeout passes.
func (s *Server) WaitUntil(what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s at %s: not %s after %s; log tail:\n%s", s.kind, s.Addr, what, timeout, s.LogTail(4000))
		}
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("%s exited before %s; log tail:\n%s", s.kind, what, s.LogTail(4000))
		case <-ticker.C:
		}
	}
}

// LogTail returns about the last n bytes of the server's log, from a line
// start.
func (s *Server) LogTail(n int) string {
	if s.proc == nil {
		return "(no log: not started)"
	}
	return s.proc.LogTail(n)
}

// Do sends one request to the server's HTTP API with the token (when
// non-empty) in the vendor's header, and returns status and body.
func (s *Server) Do(method, path, token string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Addr+path, reader)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		header := "X-Consul-Token"
		if s.kind == "nomad" {
			header = "X-Nomad-Token"
		}
		req.Header.Set(header, token)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	// A transport per call: its connection must not stay open, or polls
	// (WaitUntil, every 100 ms) pile up to Consul's 200 connections per
	// client and get 429s.
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// MustDo is Do that fails the test unless the status is 200.
func (s *Server) MustDo(t testing.TB, method, path, token string, body []byte) []byte {
	t.Helper()
	code, data, err := s.Do(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s %s: %v", s.kind, method, path, err)
	}
	if code != http.StatusOK {
		t.Fatalf("%s %s %s: status %d: %s", s.kind, method, path, code, data)
	}
	return data
}

// PutKV writes a Consul KV entry.
func (s *Server) PutKV(t testing.TB, key, value string) {
	t.Helper()
	s.MustDo(t, http.MethodPut, "/v1/kv/"+key, s.ManagementToken, []byte(value))
}

// GetKV reads a Consul KV entry; ok is false when the key does not exist.
func (s *Server) GetKV(t testing.TB, key string) (value string, ok bool) {
	t.Helper()
	code, data, err := s.Do(http.MethodGet, "/v1/kv/"+key+"?raw", s.ManagementToken, nil)
	if err != nil {
		t.Fatalf("consul GET kv %s: %v", key, err)
	}
	switch code {
	case http.StatusOK:
		return string(data), true
	case http.StatusNotFound:
		return "", false
	}
	t.Fatalf("consul GET kv %s: status %d: %s", key, code, data)
	return "", false
}

// CreateConsulToken creates a policy with the given rules and a token
// holding it, and returns the token's SecretID.
func (s *Server) CreateConsulToken(t testing.TB, name, rules string) string {
	t.Helper()
	policy, _ := json.Marshal(map[string]string{"Name": name, "Rules": rules})
	s.MustDo(t, http.MethodPut, "/v1/acl/policy", s.ManagementToken, policy)
	tokenReq, _ := json.Marshal(map[string]any{
		"Description": name,
		"Policies":    []map[string]string{{"Name": name}},
	})
	var token struct{ SecretID string }
	if err := json.Unmarshal(s.MustDo(t, http.MethodPut, "/v1/acl/token", s.ManagementToken, tokenReq), &token); err != nil {
		t.Fatalf("decoding created token: %v", err)
	}
	if token.SecretID == "" {
		t.Fatal("consul created a token without SecretID")
	}
	return token.SecretID
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
