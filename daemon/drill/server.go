package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/daemon/drill/loopback"
	"github.com/raftsnap/raftsnap/nethelpers"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// DefaultStartTimeout bounds the wait for a throwaway server to lead
// (the job's timeout may end it sooner). Consul and Nomad single servers
// lead within seconds; one that has not after this never will.
const DefaultStartTimeout = 2 * time.Minute

// DirPrefix starts the name of every throwaway server's directory.
const DirPrefix = "raftsnap-drill-"

// Options configure Start.
type Options struct {
	Binary Binary
	// Job names the drill job; it goes into the directory's name.
	Job string
	// TempDir is where the server's directory is made ("": os.TempDir(),
	// that is $TMPDIR or /tmp). It needs room for the restored state, a
	// few times the snapshot's size.
	TempDir string
	// StartTimeout bounds the wait for the server to lead (0:
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// UserAgent is sent with every request ("": raftsnap).
	UserAgent string
	Logger    *slog.Logger
}

// Server is a running throwaway server.
type Server struct {
	Binary Binary
	// Addr is its HTTP API, http://127.0.0.1:PORT.
	Addr string
	// NodeName is the random name it was started with.
	NodeName string
	// Dir holds its configuration, data and log; Stop removes it.
	Dir string
	// LeaderAt is when the drill saw it lead.
	LeaderAt time.Time

	userAgent  string
	token      source.Secret // consul: the management token (ACLs on)
	raftPort   int           // the port its raft listens on
	proc       *loopback.Process
	client     *http.Client
	logger     *slog.Logger
	stopCalled bool
}

// ownerFile holds "<daemon pid> <its start time>" in a server's directory:
// Sweep removes the directories of daemons that are gone.
const (
	ownerFile = "owner"
	pidFile   = "server.pid"
)

// Start starts a throwaway server of opts.Binary's kind and waits until it
// leads, so that a restore can go to it. Leftovers of drills whose daemon
// died are removed first (Sweep). On error nothing it started is left
// running or on disk. The caller must Stop the server.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Binary.Kind != Consul && opts.Binary.Kind != Nomad {
		return nil, fmt.Errorf("%s cannot be drilled: only consul and nomad servers can be started for a drill", opts.Binary)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	Sweep(opts.TempDir, opts.Logger)
	var lastErr error
	for range launchAttempts {
		s, err := launch(ctx, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortClash) || ctx.Err() != nil {
			break
		}
		opts.Logger.Info("drill server lost a port to another process; starting it again on fresh ports")
	}
	return nil, lastErr
}

// launchAttempts bounds the starts retried because a port picked free was
// taken before the server bound it.
const launchAttempts = 3

var errPortClash = errors.New("a port picked for it was taken meanwhile")

func launch(ctx context.Context, opts Options) (s *Server, err error) {
	dir, err := os.MkdirTemp(opts.TempDir, DirPrefix+dirSafe(opts.Job)+"-")
	if err != nil {
		return nil, fmt.Errorf("cannot make the drill server's directory: %w", err)
	}
	s = &Server{Binary: opts.Binary, Dir: dir, userAgent: opts.UserAgent, logger: opts.Logger,
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}}
	defer func() {
		if err != nil {
			if stopErr := s.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(processIdentity(os.Getpid())+"\n"), 0o600); err != nil {
		return s, err
	}
	s.NodeName = DirPrefix + randomHex(4)
	ports, err := nethelpers.FreeLoopbackPorts(4)
	if err != nil {
		return s, err
	}
	s.Addr = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	var args []string
	switch opts.Binary.Kind {
	case Consul:
		s.token = source.Secret(newUUID())
		s.raftPort = ports[2]
		args, err = s.consulConfig(ports)
	case Nomad:
		s.raftPort = ports[1]
		args, err = s.nomadConfig(ports)
	}
	if err != nil {
		return s, err
	}
	if err := s.start(args); err != nil {
		return s, err
	}
	deadline := time.Now().Add(opts.StartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.waitLeader(ctx, deadline, opts.StartTimeout); err != nil {
		if s.portClash() {
			return s, fmt.Errorf("%s: %w", s.Binary, errPortClash)
		}
		return s, err
	}
	return s, nil
}

// consulConfig writes a single Consul server's configuration: its own
// data directory (not -dev, which would hold the restored state in
// memory), ACLs on with a management token only this drill knows (so
// that ACL tokens can be listed after the restore), and nothing that
// reaches outside: no join, no DNS, gRPC or WAN ports, no Connect (a
// restored CA configuration may name a real Vault), no cluster peering (a
// restored peering would dial the peer).
func (s *Server) consulConfig(ports []int) ([]string, error) {
	hcl := loopback.Consul(ports[0], ports[1], ports[2]) + fmt.Sprintf(`node_name = %q
data_dir = %q
server = true
bootstrap_expect = 1
retry_join = []
connect { enabled = false }
peering { enabled = false }
ui_config { enabled = false }
disable_remote_exec = true
enable_script_checks = false
enable_local_script_checks = false
leave_on_terminate = false
acl {
  enabled = true
  default_policy = "deny"
  tokens {
    initial_management = %q
    agent = %q
  }
}
`, s.NodeName, filepath.Join(s.Dir, "data"), s.token.Reveal(), s.token.Reveal())
	path := filepath.Join(s.Dir, "consul.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	return []string{"agent", "-config-file=" + path}, nil
}

// nomadConfig writes a single Nomad server's configuration (Nomad's -dev
// cannot restore snapshots): no client (nothing is scheduled for real),
// garbage collection pushed out a year (so that the restored jobs,
// evaluations and nodes stay as restored while they are counted), and
// neither Consul (whose auto-join could find the live cluster) nor Vault.
// ports[3] is held free and never listened on: Consul's address points
// there.
func (s *Server) nomadConfig(ports []int) ([]string, error) {
	hcl := loopback.Nomad(filepath.Join(s.Dir, "data"), ports[0], ports[1], ports[2], `  bootstrap_expect = 1
  server_join {
    retry_join = []
  }
  job_gc_interval               = "8760h"
  job_gc_threshold              = "8760h"
  eval_gc_threshold             = "8760h"
  batch_eval_gc_threshold       = "8760h"
  deployment_gc_threshold       = "8760h"
  node_gc_threshold             = "8760h"
  csi_volume_claim_gc_threshold = "8760h"
  csi_plugin_gc_threshold       = "8760h"
  acl_token_gc_threshold        = "8760h"
`) + fmt.Sprintf(`name = %q
leave_on_terminate = false
consul {
  address          = "127.0.0.1:%d"
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}
vault { enabled = false }
`, s.NodeName, ports[3])
	path := filepath.Join(s.Dir, "nomad.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	return []string{"agent", "-config=" + path}, nil
}

func (s *Server) start(args []string) error {
	// Killed with the daemon even when the daemon is killed outright.
	proc, err := loopback.Start(loopback.Launch{Bin: s.Binary.Path, Args: args, Dir: s.Dir,
		LogPath: filepath.Join(s.Dir, s.Binary.Kind+".log"), Env: serverEnv(s.Dir), DieWithParent: true})
	if err != nil {
		return err
	}
	s.proc = proc
	_ = os.WriteFile(filepath.Join(s.Dir, pidFile), []byte(strconv.Itoa(proc.Pid())+"\n"), 0o600)
	s.logger.Info("drill server started", "server", s.Binary.String(), "pid", proc.Pid(), "address", s.Addr, "dir", s.Dir)
	return nil
}

// Died waits up to wait for the server to exit and, when it did, says how
// and what its log ends with (its last lines, a panic's message first):
// a server a restore crashed says why only there.
func (s *Server) Died(wait time.Duration) (string, bool) {
	if s.proc == nil {
		return "", false
	}
	select {
	case <-s.proc.Exited():
	case <-time.After(wait):
		return "", false
	}
	log := s.LogTail(1500)
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "panic: ") {
			return fmt.Sprintf("it died (%s): %s", s.proc.State(), strings.TrimSpace(line)), true
		}
	}
	return fmt.Sprintf("it died (%s); its log ends:\n%s", s.proc.State(), log), true
}

// Pid is the server's process id (0 before it started).
func (s *Server) Pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid()
}

// agentSelf is what the drill reads of /v1/agent/self (Consul's keys are
// capitalised, Nomad's not; encoding/json matches either).
type agentSelf struct {
	Config struct {
		NodeName string
		Version  json.RawMessage // consul: "1.22.7"; nomad: {"Version": "1.11.3", ...}
	}
	Member struct{ Name string }
	Stats  struct {
		Consul struct{ Leader string }
		Nomad  struct{ Leader string }
		Raft   struct {
			AppliedIndex string `json:"applied_index"`
		}
	}
}

func (a *agentSelf) version() string {
	var v string
	if json.Unmarshal(a.Config.Version, &v) == nil {
		return v
	}
	var nomad struct{ Version, VersionPrerelease string }
	if json.Unmarshal(a.Config.Version, &nomad) == nil {
		if nomad.VersionPrerelease != "" {
			return nomad.Version + "-" + nomad.VersionPrerelease
		}
		return nomad.Version
	}
	return ""
}

// exitHint explains a server's death its log shows a known cause of.
func exitHint(log string) string {
	if strings.Contains(log, "netlinkrib: address family not supported") {
		// systemd's RestrictAddressFamilies without AF_NETLINK: Consul and
		// Nomad list the network interfaces (netlink) to resolve their
		// bind address.
		return ": it cannot list the network interfaces (netlink sockets are refused, as the shipped systemd unit does); " +
			"allow them with a drop-in setting RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK (docs/drills.md)"
	}
	return ""
}

// errNotOurs: something else answers where the drill's server should.
var errNotOurs = errors.New("not the drill's own server")

// waitLeader polls (the servers announce nothing) until the server leads
// its own one-server cluster, checking on the way that what answers is the
// very server this drill started: its raft address and random node name. It gives up when the server exits, at deadline, or when ctx
// ends.
func (s *Server) waitLeader(ctx context.Context, deadline time.Time, startTimeout time.Duration) error {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	wantLeader := fmt.Sprintf("127.0.0.1:%d", s.raftPort)
	for {
		ready, err := s.ready(ctx, wantLeader)
		switch {
		case errors.Is(err, errNotOurs):
			return fmt.Errorf("%s: %w", s.Addr, err)
		case ready:
			s.LeaderAt = time.Now()
			s.logger.Info("drill server leads", "server", s.Binary.String(), "address", s.Addr)
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-s.proc.Exited():
			log := s.LogTail(1500)
			return fmt.Errorf("%s exited before it became leader (%s)%s; its log ends:\n%s", s.Binary, s.proc.State(), exitHint(log), log)
		case <-timer.C:
			what := fmt.Sprintf("within %s", startTimeout)
			if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
				what = "before the job's timeout"
			}
			return fmt.Errorf("%s (pid %d) did not become leader %s; its log ends:\n%s", s.Binary, s.Pid(), what, s.LogTail(1500))
		case <-ticker.C:
		}
	}
}

// ready tells whether the server leads; errNotOurs when what answers is
// not the server this drill started.
func (s *Server) ready(ctx context.Context, wantLeader string) (bool, error) {
	var leader string
	if code, err := s.getJSON(ctx, "/v1/status/leader", &leader); err != nil || code != http.StatusOK {
		return false, nil
	}
	if leader == "" {
		return false, nil
	}
	if leader != wantLeader {
		return false, fmt.Errorf("%w: its raft leader is %s, the drill's server listens on %s", errNotOurs, leader, wantLeader)
	}
	var self agentSelf
	code, err := s.getJSON(ctx, "/v1/agent/self", &self)
	if err != nil || code != http.StatusOK {
		// Consul: until the leader has installed the management token,
		// the drill's own token is refused (403).
		return false, nil
	}
	name, leads := self.Config.NodeName, self.Stats.Consul.Leader
	if s.Binary.Kind == Nomad {
		name, _, _ = strings.Cut(self.Member.Name, ".") // "<name>.<region>"
		leads = self.Stats.Nomad.Leader
	}
	if name != s.NodeName {
		return false, fmt.Errorf("%w: it calls itself %q, the drill started %q", errNotOurs, name, s.NodeName)
	}
	// What the server says of its version is what runs (a wrapper script
	// may print another in `version`).
	if v, ok := ParseVersion(self.version()); ok && !v.Same(s.Binary.Version) {
		s.logger.Warn("the drill server runs another version than its binary's `version` printed", "printed", s.Binary.Version.Text, "runs", v.Text)
		s.Binary.Version = v
	}
	return leads == "true", nil
}

// AppliedIndex is the raft index the server's state machine has applied.
func (s *Server) AppliedIndex(ctx context.Context) (uint64, error) {
	var self agentSelf
	code, err := s.getJSON(ctx, "/v1/agent/self", &self)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("%s answered /v1/agent/self with HTTP %d", s.Binary, code)
	}
	n, err := strconv.ParseUint(self.Stats.Raft.AppliedIndex, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s reports raft applied_index %q, not a number", s.Binary, self.Stats.Raft.AppliedIndex)
	}
	return n, nil
}

// Target is the server as a restore target.
func (s *Server) Target() (source.Source, error) {
	kind := source.Consul
	if s.Binary.Kind == Nomad {
		kind = source.Nomad
	}
	return source.New(source.Config{Kind: kind, Address: s.Addr, Token: s.token, UserAgent: s.userAgent})
}

// requestTimeout bounds one request to the server.
const requestTimeout = 2 * time.Minute

// get sends a GET for path (with the drill's token) and returns the
// response; the caller closes its body.
func (s *Server) get(ctx context.Context, path string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Addr+path, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if s.token != "" {
		req.Header.Set("X-Consul-Token", s.token.Reveal())
	}
	if s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

// getJSON decodes a small answer into v; it returns the HTTP status.
func (s *Server) getJSON(ctx context.Context, path string, v any) (int, error) {
	resp, cancel, err := s.get(ctx, path)
	if err != nil {
		return 0, err
	}
	defer cancel()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}

// Stop kills the server with everything it started, waits for it to exit
// and removes its directory. A throwaway server has nothing to hand over:
// it is killed at once. Stop may be called more than once.
func (s *Server) Stop() error {
	var errs []error
	if s.proc != nil && !s.stopCalled {
		pgid := s.proc.Pid()
		if err := s.proc.KillGroup(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Binary, err))
		}
		// The signal reaches the whole group at once, but its other
		// members die in their own time: wait for them too.
		if left := waitGroupGone(pgid, 10*time.Second); len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes %v of %s's process group still run after SIGKILL", left, s.Binary))
		}
	}
	s.stopCalled = true
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if s.Dir != "" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing the drill server's directory: %w", err))
		} else {
			s.logger.Info("drill server stopped and removed", "dir", s.Dir)
		}
	}
	return errors.Join(errs...)
}

// LogTail returns about the last n bytes of the server's log, from a line
// start.
func (s *Server) LogTail(n int) string {
	if s.proc == nil {
		return "(no log: not started)"
	}
	return s.proc.LogTail(n)
}

// portClash tells whether the server died of a port taken meanwhile.
func (s *Server) portClash() bool { return s.proc != nil && s.proc.PortClash() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var unsafeDirChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// dirSafe shortens a job name for a directory name.
func dirSafe(job string) string {
	job = unsafeDirChars.ReplaceAllString(job, "_")
	if len(job) > 40 {
		job = job[:40]
	}
	return job
}

// escapePath escapes one path segment (a Consul service name).
func escapePath(s string) string { return url.PathEscape(s) }
