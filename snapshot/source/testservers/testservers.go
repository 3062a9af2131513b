// Package testservers (test helpers only) starts real Consul and Nomad servers on 127.0.0.1 for
// integration tests, waits until they have a leader, and stops them and
// removes their files when the test ends.
//
// Binaries: $RAFTSNAP_CONSUL_BIN / $RAFTSNAP_NOMAD_BIN, else
// ~/.cache/raftsnap-tools/{consul,nomad} (built by .ci/build-servers). A
// missing binary fails the test, unless RAFTSNAP_SKIP_INTEGRATION=1, which
// skips it with the reason.
package testservers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pinned versions, as in .ci/build-servers; used when the unversioned
// symlink is missing.
const (
	ConsulVersion = "1.22.7"
	NomadVersion  = "1.11.3"
)

// startTimeout bounds how long a server may take to elect itself leader.
const startTimeout = 60 * time.Second

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

	kind    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Binary returns the path of the consul or nomad binary, or fails/skips the
// test as the package comment describes.
func Binary(t testing.TB, name string) string {
	t.Helper()
	envVar := "RAFTSNAP_" + strings.ToUpper(name) + "_BIN"
	candidates := []string{}
	if p := os.Getenv(envVar); p != "" {
		candidates = append(candidates, p)
	} else {
		dir := os.Getenv("RAFTSNAP_TOOLS_DIR")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("locating %s binary: %v", name, err)
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
			return p
		}
	}
	msg := fmt.Sprintf("%s binary not found at %s: run .ci/build-servers (or set %s)", name, candidates[0], envVar)
	if os.Getenv("RAFTSNAP_SKIP_INTEGRATION") == "1" {
		t.Skip(msg + " [skipped: RAFTSNAP_SKIP_INTEGRATION=1]")
	}
	t.Fatal(msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ConsulOptions tune StartConsul.
type ConsulOptions struct {
	// ACL enables ACLs with default deny and a management token.
	ACL bool
	// UnixSocket serves the HTTP API on a unix socket too (Server.Socket).
	UnixSocket bool
}

// StartConsul runs `consul agent -dev` on loopback ports.
func StartConsul(t testing.TB, opts ConsulOptions) *Server {
	t.Helper()
	bin := Binary(t, "consul")
	dir := t.TempDir()
	httpPort, serfLAN, serverPort := FreePort(t), FreePort(t), FreePort(t)
	hcl := fmt.Sprintf(`
performance { raft_multiplier = 1 }
ports {
  http = %d
  serf_lan = %d
  server = %d
  dns = -1
  serf_wan = -1
  grpc = -1
  grpc_tls = -1
  https = -1
}
disable_update_check = true
`, httpPort, serfLAN, serverPort)
	s := &Server{kind: "consul", Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	if opts.UnixSocket {
		// Not under t.TempDir: a socket path must fit in 108 bytes.
		sockDir, err := os.MkdirTemp("", "consul-sock-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
		s.Socket = filepath.Join(sockDir, "http.sock")
		hcl += fmt.Sprintf("addresses { http = \"127.0.0.1 unix://%s\" }\n", s.Socket)
	}
	if opts.ACL {
		s.ManagementToken = newUUID(t)
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
		t.Fatal(err)
	}
	s.start(t, bin, "agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1",
		"-node=raftsnap-test", "-config-file="+configFile)
	s.waitLeader(t)
	if s.Socket != "" {
		s.waitUntil(t, "listening on "+s.Socket, func() bool {
			conn, err := net.Dial("unix", s.Socket)
			if err == nil {
				_ = conn.Close()
			}
			return err == nil
		})
	}
	if opts.ACL {
		// The leader installs the initial management token shortly after
		// winning the election; wait until it is accepted.
		s.waitUntil(t, "ACL management token accepted", func() bool {
			code, _, err := s.Do(http.MethodGet, "/v1/acl/token/self", s.ManagementToken, nil)
			return err == nil && code == http.StatusOK
		})
	}
	return s
}

// StartNomad runs a single Nomad server (-dev does not support snapshots).
func StartNomad(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t, "nomad")
	dir := t.TempDir()
	httpPort, rpcPort, serfPort := FreePort(t), FreePort(t), FreePort(t)
	dataDir := filepath.Join(dir, "data")
	config := fmt.Sprintf(`
data_dir = %q
bind_addr = "127.0.0.1"
log_level = "INFO"
disable_update_check = true
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
ports {
  http = %d
  rpc  = %d
  serf = %d
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client { enabled = false }
`, dataDir, httpPort, rpcPort, serfPort)
	configFile := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{kind: "nomad", Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	s.start(t, bin, "agent", "-server", "-bootstrap-expect=1", "-data-dir="+dataDir, "-config="+configFile)
	s.waitLeader(t)
	// The leader creates the keyring after winning; until then writes of
	// variables fail with "keyring has not been initialized yet".
	s.waitUntil(t, "keyring initialized", func() bool {
		code, body, err := s.Do(http.MethodGet, "/v1/operator/keyring/keys", "", nil)
		return err == nil && code == http.StatusOK && strings.Contains(string(body), `"active"`)
	})
	return s
}

func (s *Server) start(t testing.TB, bin string, args ...string) {
	t.Helper()
	s.logPath = filepath.Join(s.Dir, s.kind+".log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group, so a kill reaches anything it might spawn; no
	// proxy or token variables from the developer's shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", s.kind, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	// Registered after t.TempDir, so it runs before the directory removal.
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", s.kind, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s log tail:\n%s", s.kind, s.LogTail(4000))
		}
	})
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

func (s *Server) waitLeader(t testing.TB) {
	t.Helper()
	s.waitUntil(t, "leader elected", func() bool {
		code, body, err := s.Do(http.MethodGet, "/v1/status/leader", "", nil)
		return err == nil && code == http.StatusOK && strings.Trim(strings.TrimSpace(string(body)), `"`) != ""
	})
}

// waitUntil polls cond (the servers offer no push notification for these
// events) until it holds, the process exits, or startTimeout passes.
func (s *Server) waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: not %s after %s; log tail:\n%s", s.kind, s.Addr, what, startTimeout, s.LogTail(4000))
		}
		select {
		case <-s.exited:
			t.Fatalf("%s exited before %s; log tail:\n%s", s.kind, what, s.LogTail(4000))
		case <-ticker.C:
		}
	}
}

// LogTail returns the last n bytes of the server's log.
func (s *Server) LogTail(n int) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
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

func newUUID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
