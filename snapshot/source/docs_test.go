package source

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated tables of docs/sources.md")

const sourcesDoc = "../../docs/sources.md"

// TestSourcesDocTables keeps the kind tables of docs/sources.md generated
// from the registry, so that the docs cannot drift from the specs.
// `go test ./snapshot/source -run TestSourcesDocTables -update` rewrites them.
func TestSourcesDocTables(t *testing.T) {
	data, err := os.ReadFile(sourcesDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, table := range []struct{ name, body string }{
		{"kinds", kindsTable()},
		{"environment", environmentTable()},
	} {
		begin := "<!-- BEGIN generated " + table.name + " table: go test ./snapshot/source -run TestSourcesDocTables -update -->\n"
		end := "<!-- END generated " + table.name + " table -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s has no %q ... %q section", sourcesDoc, begin, end)
		}
		if got := doc[i+len(begin) : j]; got != table.body {
			if !*updateDocs {
				t.Errorf("the %s table of %s is out of date; rerun with -update. Want:\n%s", table.name, sourcesDoc, table.body)
				continue
			}
			doc = doc[:i+len(begin)] + table.body + doc[j:]
		}
	}
	if *updateDocs {
		if err := os.WriteFile(sourcesDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func kindsTable() string {
	var b strings.Builder
	b.WriteString("| kind | talks to | save | restore | token header | stale | options | checks |\n")
	b.WriteString("|------|----------|------|---------|--------------|-------|---------|--------|\n")
	for _, s := range Kinds() {
		save := fmt.Sprintf("`GET %s`", s.Path)
		restore := fmt.Sprintf("`%s %s`", s.RestoreMethod, s.Path)
		if s.ForceRestorePath != "" {
			restore += fmt.Sprintf("; `force_restore`: `%s %s`", s.RestoreMethod, s.ForceRestorePath)
		}
		if s.Directory {
			save = s.Reads
		}
		if s.NoRestoreReason != "" {
			restore = "none (" + s.NoRestoreReason + ")"
		}
		stale := "none (" + s.NoStaleReason + ")"
		if s.StaleQuery != "" {
			stale = "`?" + s.StaleQuery + "`"
		}
		var options, checks []string
		if s.Directory {
			options = append(options, "`path`")
		}
		if s.DatacenterParam != "" {
			options = append(options, fmt.Sprintf("`datacenter` (`?%s=`)", s.DatacenterParam))
		}
		if s.RegionParam != "" {
			options = append(options, fmt.Sprintf("`region` (`?%s=`)", s.RegionParam))
		}
		if s.NamespaceHeader != "" {
			options = append(options, fmt.Sprintf("`namespace` (`%s`)", s.NamespaceHeader))
		}
		if s.CheckDigest {
			checks = append(checks, "`Digest` header")
		}
		if s.RequireSealed {
			checks = append(checks, "`SHA256SUMS.sealed` required")
		}
		if s.CheckCRC {
			checks = append(checks, "CRC-64 of `state.bin` against `meta.json`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Kind, s.Title, save, restore, code(s.TokenHeader), stale, orDash(options), orDash(checks))
	}
	return b.String()
}

// environmentTable has a row per setting and a column per HTTP kind: which
// variable fills the setting when neither a flag nor the configuration
// does. Directory kinds read no variables.
func environmentTable() string {
	var kinds []Spec
	for _, s := range Kinds() {
		if !s.Directory {
			kinds = append(kinds, s)
		}
	}
	var b strings.Builder
	b.WriteString("| setting |")
	for _, s := range kinds {
		fmt.Fprintf(&b, " `%s` |", s.Kind)
	}
	b.WriteString("\n|---------|" + strings.Repeat("------|", len(kinds)) + "\n")
	row := func(setting string, cell func(Spec) string) {
		b.WriteString("| " + setting + " |")
		for _, s := range kinds {
			b.WriteString(" " + cell(s) + " |")
		}
		b.WriteString("\n")
	}
	variable := func(pick func(EnvVars) string, value string) func(Spec) string {
		return func(s Spec) string {
			if name := pick(s.Env); name != "" {
				return "`" + name + value + "`"
			}
			return "-"
		}
	}
	row("`address`", variable(func(e EnvVars) string { return e.Address }, ""))
	row("default address", func(s Spec) string { return code(s.DefaultAddress) })
	row("address forms", func(s Spec) string {
		forms := []string{"`http://`", "`https://`"}
		if s.SchemelessAddress {
			forms = append(forms, "`HOST:PORT`")
		}
		if s.UnixSocket {
			forms = append(forms, "`unix:///PATH`")
		}
		return strings.Join(forms, ", ")
	})
	row("https for `HOST:PORT`", variable(func(e EnvVars) string { return e.HTTPS }, "=true"))
	row("token file", variable(func(e EnvVars) string { return e.TokenFile }, ""))
	row("token", variable(func(e EnvVars) string { return e.Token }, ""))
	row("login file", func(s Spec) string {
		if s.Env.HomeTokenFile == "" {
			return "-"
		}
		return "`~/" + s.Env.HomeTokenFile + "`"
	})
	row("`tls.ca_file`", variable(func(e EnvVars) string { return e.CACert }, ""))
	row("`tls.cert_file`", variable(func(e EnvVars) string { return e.ClientCert }, ""))
	row("`tls.key_file`", variable(func(e EnvVars) string { return e.ClientKey }, ""))
	row("`tls.server_name`", variable(func(e EnvVars) string { return e.TLSServerName }, ""))
	row("`tls.insecure_skip_verify`", func(s Spec) string {
		switch {
		case s.Env.SkipVerify != "":
			return "`" + s.Env.SkipVerify + "=true`"
		case s.Env.Verify != "":
			return "`" + s.Env.Verify + "=false`"
		}
		return "-"
	})
	row("`region`", variable(func(e EnvVars) string { return e.Region }, ""))
	row("`namespace`", variable(func(e EnvVars) string { return e.Namespace }, ""))
	row("refused without a CA file", variable(func(e EnvVars) string { return e.CAPath }, ""))
	return b.String()
}

func code(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + s + "`"
}

func orDash(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ", ")
}

// TestRegistry checks what the rest of raftsnap relies on: the kinds in
// their documented order, and the lists derived for messages.
func TestRegistry(t *testing.T) {
	var names []string
	for _, s := range Kinds() {
		names = append(names, string(s.Kind))
		if got, ok := Lookup(s.Kind); !ok || got.Path != s.Path {
			t.Errorf("Lookup(%s) = %+v, %v", s.Kind, got, ok)
		}
	}
	if got := strings.Join(names, " "); got != "consul nomad vault raft raft-dir" {
		t.Errorf("Kinds() in order %q", got)
	}
	if got := KindNames(); got != "consul, nomad, vault, raft or raft-dir" {
		t.Errorf("KindNames() = %q", got)
	}
	if got := allowedFor(func(s Spec) bool { return s.CheckDigest }); got != "nomad and raft sources only" {
		t.Errorf("allowedFor(digest) = %q", got)
	}
	if _, ok := Lookup("etcd"); ok {
		t.Error("etcd is registered")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering consul twice did not panic")
		}
	}()
	spec, _ := Lookup(Consul)
	register(spec)
}
