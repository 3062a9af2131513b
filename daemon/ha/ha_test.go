package ha_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/daemon/devcluster"
	"github.com/raftsnap/raftsnap/daemon/ha"
	"github.com/raftsnap/raftsnap/daemon/job"
	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/agetest"
	"github.com/raftsnap/raftsnap/internal/testkit/raftcluster"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/internal/testkit/vaultstub"
	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
	"github.com/raftsnap/raftsnap/snapshot/source"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

func lockBlock(addr string, maxFailures int) *config.HA {
	return &config.HA{
		Mode: config.HAConsulLock, Consul: &source.Config{Kind: source.Consul, Address: addr},
		LockKey: "raftsnap-test/lock", SessionTTL: config.Duration(10 * time.Second), LockDelay: 0,
		MaxFailures: maxFailures, PollInterval: config.Duration(200 * time.Millisecond),
	}
}

func newGate(t *testing.T, opts ha.Options) job.Gate {
	t.Helper()
	opts.Logger = testkit.Logger(t, slog.LevelInfo)
	g, err := ha.New(opts)
	if err != nil || g == nil {
		t.Fatalf("ha.New: %v, %v", g, err)
	}
	t.Cleanup(g.Release)
	return g
}

// acquire campaigns in the background; the channel gets the term.
func acquire(ctx context.Context, g job.Gate) <-chan context.Context {
	ch := make(chan context.Context, 1)
	go func() {
		term, _ := g.Acquire(ctx)
		ch <- term
	}()
	return ch
}

func await(t *testing.T, ch <-chan context.Context, what string) context.Context {
	t.Helper()
	select {
	case term := <-ch:
		if term == nil {
			t.Fatalf("%s: the campaign ended without the role", what)
		}
		return term
	case <-time.After(testkit.DefaultWait):
		t.Fatalf("%s: no role within %s", what, testkit.DefaultWait)
	}
	return nil
}

// twoLockAgents starts a Consul server and two consul_lock gates on it for
// job snap, agent-a and agent-b, each ending its term after maxFailures
// failed runs in a row (0: never).
func twoLockAgents(t *testing.T, maxFailures int) (consul *servers.Server, a, b job.Gate) {
	t.Helper()
	testkit.Integration(t, "consul")
	consul = servers.StartConsul(t, servers.ConsulOptions{})
	a = newGate(t, ha.Options{Job: "snap", HA: lockBlock(consul.Addr, maxFailures), Identity: "agent-a"})
	b = newGate(t, ha.Options{Job: "snap", HA: lockBlock(consul.Addr, maxFailures), Identity: "agent-b"})
	return consul, a, b
}

// destroySessions invalidates every session on the agent, as a TTL
// expiry does to a paused holder's.
func destroySessions(t *testing.T, consul *servers.Server) {
	t.Helper()
	var sessions []struct{ ID string }
	if err := json.Unmarshal(consul.MustDo(t, http.MethodGet, "/v1/session/list", "", nil), &sessions); err != nil || len(sessions) == 0 {
		t.Fatalf("session list: %v, %v", sessions, err)
	}
	for _, s := range sessions {
		consul.MustDo(t, http.MethodPut, "/v1/session/destroy/"+s.ID, "", nil)
	}
}

// TestConsulLockFence: the holder's fence asks Consul. Once its session is
// gone (expired while the process was paused), Check refuses, the term
// ends, and a store write through ha.Store commits nothing; the other
// agent takes the lock and both name it.
func TestConsulLockFence(t *testing.T) {
	consul, a, b := twoLockAgents(t, 0)
	ctx := t.Context()

	termA := await(t, acquire(ctx, a), "a")
	if err := a.Check(ctx); err != nil {
		t.Fatalf("the holder's fence: %v", err)
	}
	chB := acquire(ctx, b)
	if err := testkit.Poll(testkit.DefaultWait, func() bool { return b.Status().Holder == "agent-a" }); err != nil {
		t.Fatalf("the standby does not name the holder: %+v", b.Status())
	}
	if b.Status().Role != controlapi.RoleStandby || a.Status().Role != controlapi.RoleActive {
		t.Fatalf("roles: a %+v, b %+v", a.Status(), b.Status())
	}

	// A write prepared while active, committed after the session is gone.
	dir := t.TempDir()
	st := ha.NewStore(ha.StoreOptions{Gate: a, Name: "local store " + dir, Location: dir,
		Open: func() (store.Store, error) { return store.Open(dir, nil) },
		View: func() (store.Store, error) { return store.OpenReadOnly(dir) }})
	defer st.Close()
	p, err := st.Create(ctx, "snap", store.NewName("snap", time.Now(), 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("not really an archive")); err != nil {
		t.Fatal(err)
	}

	destroySessions(t, consul)
	if err := a.Check(ctx); !errors.Is(err, ha.ErrNotHeld) {
		t.Fatalf("fence after the session was destroyed: %v, want ErrNotHeld", err)
	}
	if _, err := p.Commit(ctx, store.Entry{}); !errors.Is(err, ha.ErrNotHeld) {
		t.Fatalf("commit after the session was destroyed: %v, want ErrNotHeld", err)
	}
	if err := st.Delete(ctx, "anything"); !errors.Is(err, ha.ErrNotHeld) {
		t.Fatalf("delete after the session was destroyed: %v, want ErrNotHeld", err)
	}
	select {
	case <-termA.Done():
	case <-time.After(testkit.DefaultWait):
		t.Fatal("the holder's term did not end")
	}
	if entries, _, err := st.List(ctx); err != nil || len(entries) != 0 {
		t.Fatalf("store after the refused commit: %v, %v", entries, err)
	}
	a.Release()

	await(t, chB, "b")
	if got := b.Status(); got.Role != controlapi.RoleActive || got.Holder != "agent-b" {
		t.Errorf("b after takeover: %+v", got)
	}
	if got := a.Status(); got.Role != controlapi.RoleStandby {
		t.Errorf("a after losing the lock: %+v", got)
	}
}

// TestConsulLockMaxFailures: after max_failures failed runs the holder
// ends its term; once it lets go the other agent takes the lock, and the
// old holder does not campaign again before session_ttl + lock_delay.
func TestConsulLockMaxFailures(t *testing.T) {
	_, a, b := twoLockAgents(t, 2)
	ctx := t.Context()
	termA := await(t, acquire(ctx, a), "a")
	chB := acquire(ctx, b)

	a.RunFinished(true)
	a.RunFinished(false) // a success resets the count
	a.RunFinished(true)
	if termA.Err() != nil {
		t.Fatal("handed over after one failure in a row")
	}
	a.RunFinished(true)
	<-termA.Done()
	if !errors.Is(context.Cause(termA), ha.ErrHandover) {
		t.Fatalf("term ended by %v, want ErrHandover", context.Cause(termA))
	}
	a.Release()
	await(t, chB, "b")

	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if term, err := a.Acquire(short); term != nil || err == nil {
		t.Fatal("the agent that handed over campaigned again at once")
	}
}

// TestLeaderLocalRaft: leader_local on the raft source asks each node's
// snapshot handler (HEAD): only the leader's agent is active; the others
// name the leader; a fence on a follower's gate refuses.
func TestLeaderLocalRaft(t *testing.T) {
	testkit.Integration(t, "a raft cluster")
	c := raftcluster.Start(t, devcluster.Options{Nodes: 3})
	leader := raftcluster.Leader(t, c)
	ctx := t.Context()
	block := &config.HA{Mode: config.HALeaderLocal, PollInterval: config.Duration(100 * time.Millisecond)}
	for _, n := range c.Nodes() {
		g := newGate(t, ha.Options{Job: "snap", HA: block, Source: &source.Config{Kind: source.Raft, Address: n.HTTPAddr}, Identity: string(n.ID)})
		if n == leader {
			await(t, acquire(ctx, g), "the leader's agent")
			if err := g.Check(ctx); err != nil {
				t.Errorf("the leader's fence: %v", err)
			}
			continue
		}
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if term, _ := g.Acquire(short); term != nil {
			t.Errorf("follower %s's agent became active", n.ID)
		}
		cancel()
		if st := g.Status(); st.Role != controlapi.RoleStandby || !strings.Contains(st.Holder, string(leader.RaftAddr)) {
			t.Errorf("follower %s's agent: %+v, want standby naming %s", n.ID, st, leader.RaftAddr)
		}
		if err := g.Check(ctx); !errors.Is(err, ha.ErrNotHeld) {
			t.Errorf("a follower's fence: %v", err)
		}
	}
}

// TestLeaderLocalConsul: a single Consul server leads itself: its agent is
// active (the leader address from /v1/status/leader is its own).
func TestLeaderLocalConsul(t *testing.T) {
	testkit.Integration(t, "consul")
	consul := servers.StartConsul(t, servers.ConsulOptions{Persistent: true})
	block := &config.HA{Mode: config.HALeaderLocal, PollInterval: config.Duration(100 * time.Millisecond)}
	g := newGate(t, ha.Options{Job: "snap", HA: block, Source: &source.Config{Kind: source.Consul, Address: consul.Addr}})
	await(t, acquire(t.Context(), g), "the single server's agent")
	if err := g.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestLeaderLocalVault: a Vault node (the loopback stand-in: no real
// Vault builds here) answering sys/leader is_self is active; once it says
// another node leads, the term ends and the standby names that node.
func TestLeaderLocalVault(t *testing.T) {
	vault := vaultstub.Start(t, vaultstub.Options{})
	block := &config.HA{Mode: config.HALeaderLocal, PollInterval: config.Duration(100 * time.Millisecond)}
	g := newGate(t, ha.Options{Job: "snap", HA: block, Source: &source.Config{Kind: source.Vault, Address: vault.URL}})
	term := await(t, acquire(t.Context(), g), "the active node's agent")
	vault.SetLeader(false, "https://10.0.0.2:8200")
	select {
	case <-term.Done():
	case <-time.After(testkit.DefaultWait):
		t.Fatal("the term did not end when the node stopped leading")
	}
	if err := g.Check(t.Context()); !errors.Is(err, ha.ErrNotHeld) {
		t.Errorf("fence on a standby node: %v", err)
	}
	if st := g.Status(); st.Role != controlapi.RoleStandby || !strings.Contains(st.Holder, "https://10.0.0.2:8200") {
		t.Errorf("status: %+v", st)
	}
}

// TestStoreEncryptedFenced: an encrypted store (snapshot/agecrypt) wraps a
// gated job's store; its ciphertext goes through the fence like any
// write: committed while the agent is active, refused (and nothing
// listed) once it is not.
func TestStoreEncryptedFenced(t *testing.T) {
	vault := vaultstub.Start(t, vaultstub.Options{})
	block := &config.HA{Mode: config.HALeaderLocal, PollInterval: config.Duration(100 * time.Millisecond)}
	g := newGate(t, ha.Options{Job: "snap", HA: block, Source: &source.Config{Kind: source.Vault, Address: vault.URL}})
	ctx := t.Context()
	await(t, acquire(ctx, g), "the active node's agent")

	dir := t.TempDir()
	gated := ha.NewStore(ha.StoreOptions{Gate: g, Name: "local store " + dir, Location: dir,
		Open: func() (store.Store, error) { return store.Open(dir, nil) },
		View: func() (store.Store, error) { return store.OpenReadOnly(dir) }})
	defer gated.Close()
	_, recipients := agetest.Key(t)
	st, err := agecrypt.Wrap(gated, recipients, nil)
	if err != nil {
		t.Fatalf("an encrypted store over a gated one: %v", err)
	}
	first := storetest.Commit(t, st, "snap", 2, 10, time.Now().Add(-time.Minute))
	if first.Object != first.Name+store.EncryptedSuffix || first.Encryption == nil {
		t.Fatalf("committed through the fence: %+v, want stored encrypted", first)
	}

	// A write prepared while active, committed after the node stopped
	// leading.
	archive, rep := storetest.Archive(t, "snap", 2, 11, 1<<10)
	p, err := st.Create(ctx, "snap", store.NewName("snap", time.Now(), 11, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if _, err := p.Write(archive); err != nil {
		t.Fatal(err)
	}
	vault.SetLeader(false, "https://10.0.0.2:8200")
	if _, err := p.Commit(ctx, storetest.EntryFor(rep, time.Now())); !errors.Is(err, ha.ErrNotHeld) {
		t.Fatalf("encrypted commit after the node stopped leading: %v, want ErrNotHeld", err)
	}
	entries, _, err := st.List(ctx)
	if err != nil || len(entries) != 1 || entries[0].Name != first.Name {
		t.Fatalf("store after the refused commit: %+v, %v; want only %s", entries, err, first.Name)
	}
}
