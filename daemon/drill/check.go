package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// Expect is what the archive holds, as a drill compares it.
type Expect struct {
	// Index is the snapshot's raft index (its meta.json).
	Index uint64
	// State is the archive's state.bin summary (the record counts
	// `raftsnap snapshot inspect` shows); nil when it did not decode, and
	// StateError then says why: the counts are not compared.
	State      *statebin.Summary
	StateError string
}

// Result is what Check found on the restored server.
type Result struct {
	// RestoredIndex is the raft index the server has applied.
	RestoredIndex uint64
	// SourceVersions are the versions of the cluster the snapshot came
	// from, as its restored state records them (Consul: its servers'
	// "consul" service; Nomad: its client nodes), newest first; none when
	// the state does not say.
	SourceVersions []Version
	Checks         []controlapi.DrillCheck
}

// Mismatches describes the checks that failed, "" when none did.
func (r *Result) Mismatches() string {
	var parts []string
	for _, c := range r.Checks {
		if c.Result != controlapi.CheckMismatch {
			continue
		}
		if c.Name == CheckRaftIndex {
			parts = append(parts, fmt.Sprintf("raft index: the restored server is at %d, below the snapshot's %d", c.Server, c.Archive))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d in the archive, %d on the restored server", checkLabels[c.Name], c.Archive, c.Server))
	}
	return strings.Join(parts, "; ")
}

// Check names (controlapi.DrillCheck.Name).
const (
	CheckRaftIndex            = "raft_index"
	CheckKVKeys               = "kv_keys"
	CheckCatalogRegistrations = "catalog_registrations"
	CheckACLTokens            = "acl_tokens"
	CheckJobs                 = "jobs"
	CheckNodes                = "nodes"
	CheckVariables            = "variables"
)

var checkLabels = map[string]string{
	CheckRaftIndex:            "raft index",
	CheckKVKeys:               "KV keys",
	CheckCatalogRegistrations: "catalog registrations (nodes + service instances + checks)",
	CheckACLTokens:            "ACL tokens",
	CheckJobs:                 "jobs",
	CheckNodes:                "nodes",
	CheckVariables:            "variables",
}

// The state.bin record types each count comes from (statebin names).
const (
	recordKVS       = "KVS"
	recordRegister  = "Register"
	recordACLToken  = "ACLToken"
	recordJob       = "Job"
	recordNode      = "Node"
	recordVariables = "Variables"
)

// consulReconcileGuard: Consul's leader reconciles its catalog with its
// cluster members 60 s after it takes the lead (a fixed interval), and
// then removes every restored node that is not a member of the throwaway
// cluster, which is all of them. Catalog counts read later than this
// after the lead are not compared.
const consulReconcileGuard = 45 * time.Second

// Check compares the restored server's state with exp. It returns an
// error only when the server could not be asked; what it answered goes
// into the result's checks.
func (s *Server) Check(ctx context.Context, exp Expect) (*Result, error) {
	res := &Result{}
	var err error
	switch s.Binary.Kind {
	case Consul:
		err = s.checkConsul(ctx, exp, res)
	case Nomad:
		err = s.checkNomad(ctx, exp, res)
	default:
		err = fmt.Errorf("%s cannot be checked", s.Binary)
	}
	if err != nil {
		return nil, err
	}
	applied, err := s.AppliedIndex(ctx)
	if err != nil {
		return nil, err
	}
	res.RestoredIndex = applied
	idx := controlapi.DrillCheck{Name: CheckRaftIndex, Archive: exp.Index, Server: applied, Result: controlapi.CheckMatch}
	if applied < exp.Index {
		idx.Result = controlapi.CheckMismatch
	}
	res.Checks = append([]controlapi.DrillCheck{idx}, res.Checks...)
	slices.SortFunc(res.SourceVersions, func(a, b Version) int { return compareVersions(b, a) })
	return res, nil
}

// listed is what one listing of the server found.
type listed struct {
	total uint64 // items listed
	// after counts the items created after the restore (a create index
	// above the snapshot's): the server's own, such as the drill's
	// management token or its own catalog node. They are not compared.
	after uint64
	// index is the answer's X-Consul-Index / X-Nomad-Index: the last
	// change of what was listed.
	index uint64
}

// compare checks one count. deletions, when set, says how the server may
// have deleted restored items by itself since the restore: a shortfall
// then, with the listing changed since the restore, is not compared.
func compare(name string, archive uint64, l listed, snapshotIndex uint64, deletions string) controlapi.DrillCheck {
	c := controlapi.DrillCheck{Name: name, Archive: archive, Server: l.total - l.after}
	var notes []string
	if l.after > 0 {
		notes = append(notes, fmt.Sprintf("%d created by the throwaway server after the restore, not counted", l.after))
	}
	switch {
	case c.Server == archive:
		c.Result = controlapi.CheckMatch
	case c.Server < archive && deletions != "" && l.index > snapshotIndex:
		c.Result = controlapi.CheckNotCompared
		notes = append(notes, deletions)
	default:
		c.Result = controlapi.CheckMismatch
	}
	c.Note = strings.Join(notes, "; ")
	return c
}

// notCompared is a check the drill could not make.
func notCompared(name string, archive uint64, note string) controlapi.DrillCheck {
	return controlapi.DrillCheck{Name: name, Archive: archive, Result: controlapi.CheckNotCompared, Note: note}
}

// records counts the state.bin records of type name.
func records(sum *statebin.Summary, name string) uint64 {
	var n int64
	for _, t := range sum.Types {
		if t.Known && t.Name == name {
			n += t.Count
		}
	}
	return uint64(n)
}

func (s *Server) checkConsul(ctx context.Context, exp Expect, res *Result) error {
	if exp.State == nil {
		for _, name := range []string{CheckCatalogRegistrations, CheckACLTokens, CheckKVKeys} {
			res.Checks = append(res.Checks, notCompared(name, 0, "the archive's state.bin does not decode: "+exp.StateError))
		}
		return nil
	}
	// The catalog first: Consul's leader starts removing restored nodes
	// consulReconcileGuard after it took the lead.
	catalog, note, versions, err := s.consulCatalog(ctx, exp.Index)
	if err != nil {
		return err
	}
	res.SourceVersions = versions
	archive := records(exp.State, recordRegister)
	if late := time.Since(s.LeaderAt); late > consulReconcileGuard {
		res.Checks = append(res.Checks, notCompared(CheckCatalogRegistrations, archive, fmt.Sprintf(
			"read %s after the server took the lead: Consul's leader removes the restored nodes it cannot reach 60 s after it leads (a slow restore)",
			late.Round(time.Second))))
	} else {
		c := compare(CheckCatalogRegistrations, archive, catalog, exp.Index, "")
		c.Note = strings.TrimPrefix(strings.Join([]string{note, c.Note}, "; "), "; ")
		res.Checks = append(res.Checks, c)
	}

	var tokens listed
	tokens.index, err = s.eachItem(ctx, "/v1/acl/tokens", func(dec *json.Decoder) error {
		var t struct{ CreateIndex uint64 }
		if err := dec.Decode(&t); err != nil {
			return err
		}
		tokens.count(t.CreateIndex, exp.Index)
		return nil
	})
	if err != nil {
		return err
	}
	res.Checks = append(res.Checks, compare(CheckACLTokens, records(exp.State, recordACLToken), tokens, exp.Index,
		"the server deleted tokens after the restore (it reaps expired tokens)"))

	var kv listed
	kv.index, err = s.eachItem(ctx, "/v1/kv/?keys", func(dec *json.Decoder) error {
		var key string
		if err := dec.Decode(&key); err != nil {
			return err
		}
		kv.total++
		return nil
	})
	if err != nil {
		return err
	}
	res.Checks = append(res.Checks, compare(CheckKVKeys, records(exp.State, recordKVS), kv, exp.Index,
		"the server deleted keys after the restore (a lock's session expired on it)"))
	return nil
}

// consulCatalog counts the catalog's registrations as Consul's snapshot
// writes them: one Register record per node, per service instance and per
// health check. It also returns a note with the parts and the versions of
// the source's servers.
func (s *Server) consulCatalog(ctx context.Context, snapshotIndex uint64) (listed, string, []Version, error) {
	var all listed
	var nodes, instances, checks listed
	seen := map[string]bool{}
	var versions []Version
	addVersion := func(text string) {
		if v, ok := ParseVersion(text); ok && !seen[v.Text] {
			seen[v.Text] = true
			versions = append(versions, v)
		}
	}
	var nodeVersions []string
	idx, err := s.eachItem(ctx, "/v1/catalog/nodes", func(dec *json.Decoder) error {
		var n struct {
			CreateIndex uint64
			Meta        map[string]string
		}
		if err := dec.Decode(&n); err != nil {
			return err
		}
		if nodes.count(n.CreateIndex, snapshotIndex) {
			nodeVersions = append(nodeVersions, n.Meta["consul-version"])
		}
		return nil
	})
	if err != nil {
		return all, "", nil, err
	}
	nodes.index = idx
	var services []string
	if _, err := s.eachKey(ctx, "/v1/catalog/services", func(name string) { services = append(services, name) }); err != nil {
		return all, "", nil, err
	}
	for _, name := range services {
		_, err := s.eachItem(ctx, "/v1/catalog/service/"+escapePath(name), func(dec *json.Decoder) error {
			var inst struct {
				CreateIndex uint64
				ServiceMeta map[string]string
			}
			if err := dec.Decode(&inst); err != nil {
				return err
			}
			if instances.count(inst.CreateIndex, snapshotIndex) && name == "consul" {
				addVersion(inst.ServiceMeta["version"])
			}
			return nil
		})
		if err != nil {
			return all, "", nil, err
		}
	}
	if _, err := s.eachItem(ctx, "/v1/health/state/any", func(dec *json.Decoder) error {
		var c struct{ CreateIndex uint64 }
		if err := dec.Decode(&c); err != nil {
			return err
		}
		checks.count(c.CreateIndex, snapshotIndex)
		return nil
	}); err != nil {
		return all, "", nil, err
	}
	if len(versions) == 0 {
		// No server registered its "consul" service: the nodes' meta.
		for _, text := range nodeVersions {
			addVersion(text)
		}
	}
	for _, l := range []listed{nodes, instances, checks} {
		all.total += l.total
		all.after += l.after
	}
	all.index = nodes.index
	note := fmt.Sprintf("%d nodes, %d service instances, %d checks", nodes.total-nodes.after, instances.total-instances.after, checks.total-checks.after)
	return all, note, versions, nil
}

func (s *Server) checkNomad(ctx context.Context, exp Expect, res *Result) error {
	type item struct {
		CreateIndex uint64
		Version     string
	}
	lists := []struct {
		name, path, record string
	}{
		{CheckJobs, "/v1/jobs?namespace=*", recordJob},
		{CheckNodes, "/v1/nodes", recordNode},
		{CheckVariables, "/v1/vars?namespace=*", recordVariables},
	}
	seen := map[string]bool{}
	for _, l := range lists {
		var got listed
		idx, err := s.eachItem(ctx, l.path, func(dec *json.Decoder) error {
			var it item
			if err := dec.Decode(&it); err != nil {
				return err
			}
			if got.count(it.CreateIndex, exp.Index) && l.name == CheckNodes {
				if v, ok := ParseVersion(it.Version); ok && !seen[v.Text] {
					seen[v.Text] = true
					res.SourceVersions = append(res.SourceVersions, v)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		got.index = idx
		if exp.State == nil {
			res.Checks = append(res.Checks, notCompared(l.name, 0, "the archive's state.bin does not decode: "+exp.StateError))
			continue
		}
		// The throwaway server's garbage collection is pushed out a year,
		// so nothing restored is deleted while it is counted.
		res.Checks = append(res.Checks, compare(l.name, records(exp.State, l.record), got, exp.Index, ""))
	}
	return nil
}

// count adds one item created at createIndex; it reports whether the
// item was restored (not created after the restore).
func (l *listed) count(createIndex, snapshotIndex uint64) bool {
	l.total++
	if createIndex > snapshotIndex {
		l.after++
		return false
	}
	return true
}

// maxPages bounds the pages of one paginated listing.
const maxPages = 100000

// eachItem streams the JSON array the server answers for path, one
// element at a time (a listing of a large cluster never sits in memory
// whole), following Nomad's pagination. It returns the answer's index
// header.
func (s *Server) eachItem(ctx context.Context, path string, item func(*json.Decoder) error) (uint64, error) {
	var index uint64
	next := ""
	for page := 0; page < maxPages; page++ {
		p := path
		if next != "" {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			p += sep + "next_token=" + escapeQuery(next)
		}
		var err error
		var idx uint64
		idx, next, err = s.stream(ctx, p, func(dec *json.Decoder) error {
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			for dec.More() {
				if err := item(dec); err != nil {
					return err
				}
			}
			return expectDelim(dec, ']')
		})
		if err != nil {
			return 0, err
		}
		index = max(index, idx)
		if next == "" {
			return index, nil
		}
	}
	return 0, fmt.Errorf("%s: more than %d pages", path, maxPages)
}

// eachKey streams the keys of the JSON object the server answers.
func (s *Server) eachKey(ctx context.Context, path string, key func(string)) (uint64, error) {
	idx, _, err := s.stream(ctx, path, func(dec *json.Decoder) error {
		if err := expectDelim(dec, '{'); err != nil {
			return err
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, ok := tok.(string)
			if !ok {
				return fmt.Errorf("want an object key, got %v", tok)
			}
			key(name)
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
		return expectDelim(dec, '}')
	})
	return idx, err
}

// stream GETs path and hands its body to decode; it returns the index and
// next-page headers.
func (s *Server) stream(ctx context.Context, path string, decode func(*json.Decoder) error) (uint64, string, error) {
	resp, cancel, err := s.get(ctx, path)
	if err != nil {
		return 0, "", fmt.Errorf("asking the drill's %s for %s: %w", s.Binary, path, err)
	}
	defer cancel()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, "", fmt.Errorf("the drill's %s answered %s with HTTP %d: %s", s.Binary, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var index uint64
	for _, h := range []string{"X-Consul-Index", "X-Nomad-Index"} {
		if v := resp.Header.Get(h); v != "" {
			index, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if err := decode(json.NewDecoder(resp.Body)); err != nil {
		if ctx.Err() != nil {
			return 0, "", context.Cause(ctx)
		}
		return 0, "", fmt.Errorf("reading the drill's %s answer to %s: %w", s.Binary, path, err)
	}
	return index, resp.Header.Get("X-Nomad-Nexttoken"), nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// CheckVersions tells whether the binary can stand for the cluster the
// snapshot came from: the same major version as every version the
// restored state records. It returns "" when it can (or when the state
// records none) and otherwise what is wrong.
func CheckVersions(bin Binary, source []Version) string {
	for _, v := range source {
		if v.Major != bin.Version.Major {
			return fmt.Sprintf("the snapshot's cluster runs %s %s (its restored state says so), the drill's binary is %s: "+
				"a drill must use a %s binary of major version %d", bin.Kind, v.Text, bin, bin.Kind, v.Major)
		}
	}
	return ""
}

func compareVersions(a, b Version) int {
	for _, d := range []int{a.Major - b.Major, a.Minor - b.Minor, a.Patch - b.Patch} {
		if d != 0 {
			return d
		}
	}
	return strings.Compare(a.Text, b.Text)
}

func escapeQuery(s string) string { return url.QueryEscape(s) }

// ErrNotOurs is wrapped by a start that found another server than its own
// answering on its port.
var ErrNotOurs = errNotOurs
