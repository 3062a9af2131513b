package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// leaderLocal is the leader_local gate: the job is active while the server
// its source names leads its own Raft cluster, as that server's API says.
// It is polled every poll_interval, and asked again at each fence.
type leaderLocal struct {
	*role
	opts Options
	// ask asks the server once.
	ask func(ctx context.Context) (leader, error)

	mu     sync.Mutex
	cancel context.CancelCauseFunc
}

// leader is one answer: whether the server asked leads, and the leader's
// address when known.
type leader struct {
	self    bool
	address string
}

// maxLeaderAnswer bounds a leadership answer: a few hundred bytes, a few
// KiB for agent/self; anything bigger is not the API asked.
const maxLeaderAnswer = 4 << 20

func newLeaderLocal(opts Options) (*leaderLocal, error) {
	if opts.Source == nil {
		return nil, fmt.Errorf("job %s: ha leader_local needs the job's source", opts.Job)
	}
	g := &leaderLocal{role: newRole(opts), opts: opts}
	switch opts.Source.Kind {
	case source.Consul, source.Nomad:
		g.ask = g.askAgent
	case source.Vault:
		g.ask = g.askVault
	case source.Raft:
		g.ask = g.askRaft
	default:
		return nil, fmt.Errorf("job %s: ha leader_local cannot tell whether a %s source leads", opts.Job, opts.Source.Kind)
	}
	return g, nil
}

func (g *leaderLocal) Acquire(ctx context.Context) (context.Context, error) {
	poll := g.opts.HA.PollInterval.Std()
	for {
		l, err := g.ask(ctx)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			g.failed(err)
			g.setHolder("")
		case l.self:
			g.ok()
			term, cancel := context.WithCancelCause(ctx)
			g.mu.Lock()
			g.cancel = cancel
			g.mu.Unlock()
			g.set(true, g.holderName(l))
			go g.watch(term, poll)
			return term, nil
		default:
			g.ok()
			g.setHolder(g.holderName(l))
		}
		if !sleep(ctx, poll) {
			return nil, ctx.Err()
		}
	}
}

// holderName says who is active: the agent next to the leading server.
func (g *leaderLocal) holderName(l leader) string {
	if l.self {
		return g.opts.Identity
	}
	if l.address == "" {
		return ""
	}
	return "the agent next to " + string(g.opts.Source.Kind) + " server " + l.address
}

// watch ends the term as soon as the server no longer leads, or cannot
// say (an agent that cannot ask its server must not act on a guess).
func (g *leaderLocal) watch(term context.Context, poll time.Duration) {
	for sleep(term, poll) {
		l, err := g.ask(term)
		if term.Err() != nil {
			return
		}
		if err != nil {
			g.failed(err)
			g.lost(err)
			return
		}
		if !l.self {
			g.logger.Warn("the local server no longer leads", "leader", l.address)
			g.lost(ErrNotHeld)
			g.setHolder(g.holderName(l))
			return
		}
	}
}

// lost ends the term: the role is gone.
func (g *leaderLocal) lost(cause error) { g.endTerm(&g.mu, &g.cancel, cause) }

// Check asks the server now.
func (g *leaderLocal) Check(ctx context.Context) error {
	if !g.isActive() {
		return ErrNotHeld
	}
	l, err := g.ask(ctx)
	if err != nil {
		g.failed(err)
		g.lost(err)
		return fmt.Errorf("%w: cannot ask the local server whether it leads: %v", ErrNotHeld, err)
	}
	if !l.self {
		g.lost(ErrNotHeld)
		g.setHolder(g.holderName(l))
		return fmt.Errorf("%w: the local %s server no longer leads (leader: %s)", ErrNotHeld, g.opts.Source.Kind, orUnknown(l.address))
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (g *leaderLocal) Release() {
	g.mu.Lock()
	cancel := g.cancel
	g.cancel = nil
	g.mu.Unlock()
	if cancel != nil {
		cancel(context.Canceled)
	}
	g.released()
	g.set(false, g.Status().Holder)
}

// RunFinished: leadership follows the cluster's elections, not raftsnap's
// failures (max_failures applies to consul_lock only).
func (g *leaderLocal) RunFinished(bool) {}

func (g *leaderLocal) Status() controlapi.HAStatus { return g.role.Status() }

// askAgent asks a Consul or Nomad agent: the leader's RPC address
// (/v1/status/leader) against the agent's own (/v1/agent/self: its member
// address and the "port" tag servers carry), falling back to the agent's
// own leader flag (Stats.consul.leader, stats.nomad.leader) when its
// address cannot be told.
func (g *leaderLocal) askAgent(ctx context.Context) (leader, error) {
	var addr string
	if err := g.get(ctx, "/v1/status/leader", &addr); err != nil {
		return leader{}, err
	}
	var self struct {
		Member struct {
			Addr string
			Tags map[string]string
		}
		Stats map[string]map[string]string
	}
	if err := g.get(ctx, "/v1/agent/self", &self); err != nil {
		return leader{}, err
	}
	l := leader{address: addr}
	if port := self.Member.Tags["port"]; self.Member.Addr != "" && port != "" && addr != "" {
		l.self = net.JoinHostPort(self.Member.Addr, port) == addr
		return l, nil
	}
	l.self = self.Stats[string(g.opts.Source.Kind)]["leader"] == "true"
	return l, nil
}

// askVault asks sys/leader (unauthenticated): is_self.
func (g *leaderLocal) askVault(ctx context.Context) (leader, error) {
	var ans struct {
		IsSelf        bool   `json:"is_self"`
		LeaderAddress string `json:"leader_address"`
	}
	if err := g.get(ctx, "/v1/sys/leader", &ans); err != nil {
		return leader{}, err
	}
	return leader{self: ans.IsSelf, address: ans.LeaderAddress}, nil
}

// askRaft asks a raftsnap snapshot handler (snapshot.NewHandler) with a
// HEAD request: it answers whether its node leads.
func (g *leaderLocal) askRaft(ctx context.Context) (leader, error) {
	spec, _ := source.Lookup(source.Raft)
	resp, err := g.do(ctx, http.MethodHead, spec.Path)
	if err != nil {
		return leader{}, err
	}
	resp.Body.Close()
	if v := resp.Header.Get(snapshot.HeaderLeader); v != "true" && v != "false" {
		return leader{}, fmt.Errorf("%s answered HEAD without %s: a raftsnap handler older than leader_local?", g.shown(spec.Path), snapshot.HeaderLeader)
	}
	return leader{self: resp.Header.Get(snapshot.HeaderLeader) == "true", address: resp.Header.Get(snapshot.HeaderLeaderAddress)}, nil
}

func (g *leaderLocal) get(ctx context.Context, path string, out any) error {
	resp, err := g.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLeaderAnswer))
	if err != nil {
		return fmt.Errorf("reading %s: %w", g.shown(path), err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s answered something else than JSON: %w", g.shown(path), err)
	}
	return nil
}

// do sends one request with the source's token (read now) and TLS
// settings; a non-2xx answer is an error naming the URL and status, never
// the token.
func (g *leaderLocal) do(ctx context.Context, method, path string) (*http.Response, error) {
	cfg, err := g.opts.Source.Resolve(os.LookupEnv, g.logger)
	if err != nil {
		return nil, err
	}
	client, base, err := httpClient(cfg)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	ua := g.opts.UserAgent
	if ua == "" {
		ua = "raftsnap"
	}
	req.Header.Set("User-Agent", ua)
	if spec, ok := source.Lookup(cfg.Kind); ok && spec.TokenHeader != "" && cfg.Token != "" {
		req.Header.Set(spec.TokenHeader, cfg.Token.Reveal())
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("asking %s whether it leads: %w", g.shown(path), err)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, fmt.Errorf("asking %s whether it leads: %s", g.shown(path), resp.Status)
	}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (g *leaderLocal) shown(path string) string {
	return fmt.Sprintf("%s at %s%s", g.opts.Source.Kind, g.opts.Source.Address, path)
}

// httpClient is a client for the source's address: http(s) URLs, or
// unix:///path for an agent's unix socket. Proxies are ignored and
// redirects not followed, as by the sources (a token must not travel).
func httpClient(cfg source.Config) (*http.Client, string, error) {
	tlsCfg, err := source.NewTLSConfig(cfg.TLS)
	if err != nil {
		return nil, "", err
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = source.DefaultConnectTimeout
	}
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: tlsCfg, TLSHandshakeTimeout: timeout, DisableKeepAlives: true}
	base := strings.TrimRight(cfg.Address, "/")
	if sock, ok := strings.CutPrefix(base, "unix://"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialContext(ctx, "unix", sock) }
		base = "http://unix"
	} else if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, base, nil
}
