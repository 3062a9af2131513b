// Package prometheus_test checks the shipped alert rules and the Grafana
// dashboard against the metrics the daemon really exports (read from
// daemon/metrics.go), so that renaming a metric breaks this test, not the
// operator's alerting. When promtool is on PATH the rules file is also
// checked with it.
package prometheus_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"gopkg.in/yaml.v3"
)

const (
	rulesFile     = "raftsnap-alerts.yml"
	dashboardFile = "../grafana/raftsnap.json"
)

// metricsSources are the daemon files that register metrics.
var metricsSources = []string{"../../daemon/metrics.go", "../../daemon/reload.go", "../../daemon/storemetrics.go", "../../daemon/metrics_ha.go"}

// exportedMetrics returns the names of the metrics daemon/metrics.go
// registers (every `Name: "raftsnap_..."` in its options literals), with the
// series a histogram adds.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, src := range metricsSources {
		file, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		collectMetricNames(file, names)
	}
	// Sanity: the parse found the metrics the rules depend on.
	for _, must := range []string{"raftsnap_job_last_success_timestamp_seconds", "raftsnap_restores_total",
		"raftsnap_build_info", "raftsnap_config_last_reload_successful"} {
		if !names[must] {
			t.Fatalf("%s not found in %v (found %d names)", must, metricsSources, len(names))
		}
	}
	return names
}

func collectMetricNames(file *ast.File, names map[string]bool) {
	ast.Inspect(file, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if key, ok := kv.Key.(*ast.Ident); !ok || key.Name != "Name" {
			return true
		}
		lit, ok := kv.Value.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		if err == nil && strings.HasPrefix(name, "raftsnap_") {
			names[name] = true
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				names[name+suffix] = true
			}
		}
		return true
	})
}

// metricRef matches the raftsnap metric names a PromQL expression uses;
// recording-rule names (raftsnap:...) are checked separately.
var metricRef = regexp.MustCompile(`\braftsnap_[a-z0-9_]+`)

// processMetricRef matches the standard collectors' series.
var processMetricRef = regexp.MustCompile(`\b(process|go)_[a-z0-9_]+`)

func checkExpr(t *testing.T, where, expr string, exported, recorded map[string]bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
		return
	}
	for _, ref := range metricRef.FindAllString(expr, -1) {
		if !exported[ref] {
			t.Errorf("%s: uses %s, which daemon/metrics.go does not export", where, ref)
		}
	}
	for _, ref := range regexp.MustCompile(`\braftsnap:[a-z0-9_:]+`).FindAllString(expr, -1) {
		if !recorded[ref] {
			t.Errorf("%s: uses %s, which no recording rule defines", where, ref)
		}
	}
	// The label is job_name: `job` is Prometheus's scrape-target label.
	if regexp.MustCompile(`raftsnap_[a-z_]+\{[^}]*\bjob\s*[=!]`).MatchString(expr) && !strings.Contains(expr, "job_name") {
		t.Errorf("%s: selects raftsnap metrics by `job`; raftsnap's label is job_name", where)
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true) // a misspelt key (e.g. "annotation") is an error, as in Prometheus
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	exported := exportedMetrics(t)
	recorded := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for i, r := range g.Rules {
			where := g.Name + "[" + strconv.Itoa(i) + "] " + r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s: a rule needs exactly one of alert and record", where)
			}
			checkExpr(t, where, r.Expr, exported, recorded)
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" {
				t.Errorf("%s: no severity label", where)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
			if r.For != "" && !regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`).MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
		}
	}
	// The alerts the issue asks for.
	for _, want := range []string{"RaftsnapNoRecentSnapshot", "RaftsnapRepeatedFailures", "RaftsnapRestoreFailed", "RaftsnapStoreLarge",
		"RaftsnapDrillFailed", "RaftsnapDrillStale"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestAlertRulesPromtool runs Prometheus's own checker on the rules.
// .ci/build-servers extracts promtool from Debian's prometheus package into
// $RAFTSNAP_TOOLS_DIR (`go install` of promtool from the module proxy does
// not build). Missing, it fails, unless RAFTSNAP_SKIP_INTEGRATION=1.
func TestAlertRulesPromtool(t *testing.T) {
	promtool := findPromtool(t)
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestAlertRulesFire runs promtool's rule unit tests: the drill alerts
// fire when a drill failed or proved nothing for too long, the snapshot
// freshness alert leaves drill jobs to them, and a store collecting files
// no job prunes is reported after a day.
func TestAlertRulesFire(t *testing.T) {
	promtool := findPromtool(t)
	out, err := exec.Command(promtool, "test", "rules", "testdata/alerts.test.yml", "testdata/store-alerts.test.yml", "testdata/ha-alerts.test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// findPromtool is the promtool the tests run: on PATH, or where
// .ci/build-servers puts it.
func findPromtool(t *testing.T) string {
	t.Helper()
	testkit.Integration(t, "promtool")
	promtool, err := exec.LookPath("promtool")
	if err == nil {
		return promtool
	}
	dir := os.Getenv("RAFTSNAP_TOOLS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "raftsnap-tools")
	}
	promtool = filepath.Join(dir, "promtool")
	if _, statErr := os.Stat(promtool); statErr != nil {
		testkit.Missing(t, fmt.Sprintf("promtool not found on PATH nor at %s: run .ci/build-servers", promtool))
	}
	return promtool
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" {
		t.Error("dashboard has no uid (imports would duplicate it)")
	}
	exported := exportedMetrics(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			checkExpr(t, "panel "+p.Title, target.Expr, exported, nil)
			for _, ref := range metricRef.FindAllString(target.Expr, -1) {
				used[strings.TrimSuffix(strings.TrimSuffix(ref, "_bucket"), "_count")] = true
			}
			if len(metricRef.FindAllString(target.Expr, -1)) == 0 && len(processMetricRef.FindAllString(target.Expr, -1)) == 0 {
				t.Errorf("panel %q: query %q uses no metric", p.Title, target.Expr)
			}
		}
	}
	// The dashboard covers what the issue lists.
	for _, want := range []string{
		"raftsnap_job_last_success_timestamp_seconds", "raftsnap_job_failures_total",
		"raftsnap_job_run_duration_seconds", "raftsnap_store_size_bytes", "raftsnap_store_snapshots",
		"raftsnap_prune_destroyed_total", "raftsnap_restores_total",
		"raftsnap_drill_last_ok", "raftsnap_drill_last_success_timestamp_seconds", "raftsnap_drills_total",
		// per store (issue 14) and high availability (issue 16)
		"raftsnap_store_up", "raftsnap_store_newest_snapshot_timestamp_seconds", "raftsnap_store_behind_snapshots",
		"raftsnap_stored_unverified_snapshots", "raftsnap_stored_bytes", "raftsnap_scrub_snapshots_total",
		"raftsnap_ha_active", "raftsnap_ha_role_changes_total", "raftsnap_ha_errors_total",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
	}
	for _, want := range []string{"datasource", "instance", "job_name", "store"} {
		if !vars[want] {
			t.Errorf("no template variable $%s", want)
		}
	}
}
