package client

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/raftsnap/raftsnap/config"
	"github.com/raftsnap/raftsnap/daemon"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// The man pages cobra generates have NAME, SYNOPSIS, DESCRIPTION, OPTIONS
// and SEE ALSO. addManSections adds EXIT STATUS, ENVIRONMENT and FILES
// (in the order man-pages(7) gives) before SEE ALSO, built from the exit
// codes, the sources' variables and the default paths in the code.

// manFileName is the page GenManTree writes for cmd.
func manFileName(cmd *cobra.Command) string {
	return strings.ReplaceAll(cmd.CommandPath(), " ", "-") + ".1"
}

// manEscape makes text safe in a roff text line.
func manEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func manItem(b *strings.Builder, term, text string) {
	fmt.Fprintf(b, ".TP\n\\fB%s\\fP\n%s\n", manEscape(term), manEscape(text))
}

// sourceVariables describes each kind of variable a source reads
// (source.EnvVars), in the order the ENVIRONMENT section lists them.
var sourceVariables = []struct {
	pick    func(source.EnvVars) string
	meaning func(source.Spec) string
}{
	{func(e source.EnvVars) string { return e.Address }, func(s source.Spec) string {
		return fmt.Sprintf("The %s server's address when no --address or address setting is given (else %s).", s.Kind, s.DefaultAddress)
	}},
	{func(e source.EnvVars) string { return e.HTTPS }, func(s source.Spec) string {
		return "true: a scheme-less " + string(s.Kind) + " address is https."
	}},
	{func(e source.EnvVars) string { return e.TokenFile }, func(s source.Spec) string {
		return fmt.Sprintf("A file holding the %s token, when no --token-file, --token-env, token_file or token_env is given; it wins over %s.", s.Kind, s.Env.Token)
	}},
	{func(e source.EnvVars) string { return e.Token }, func(s source.Spec) string {
		t := fmt.Sprintf("The %s token, when no --token-file, --token-env, token_file or token_env is given", s.Kind)
		if s.Env.HomeTokenFile != "" {
			t += " (else ~/" + s.Env.HomeTokenFile + ", if it exists)"
		}
		return t + "."
	}},
	{func(e source.EnvVars) string { return e.CACert }, func(s source.Spec) string {
		return "The CA bundle for an https " + string(s.Kind) + " address (as tls.ca_file)."
	}},
	{func(e source.EnvVars) string { return e.CAPath }, func(s source.Spec) string {
		return "A CA directory, which raftsnap does not read: set without a CA file, it is an error."
	}},
	{func(e source.EnvVars) string { return e.ClientCert }, func(s source.Spec) string {
		return "The client certificate for an https " + string(s.Kind) + " address (as tls.cert_file)."
	}},
	{func(e source.EnvVars) string { return e.ClientKey }, func(s source.Spec) string {
		return "The client key for an https " + string(s.Kind) + " address (as tls.key_file)."
	}},
	{func(e source.EnvVars) string { return e.TLSServerName }, func(s source.Spec) string {
		return "The name to verify the " + string(s.Kind) + " server's certificate against (as tls.server_name)."
	}},
	{func(e source.EnvVars) string { return e.SkipVerify }, func(s source.Spec) string {
		return "true: do not verify the " + string(s.Kind) + " server's certificate (insecure)."
	}},
	{func(e source.EnvVars) string { return e.Verify }, func(s source.Spec) string {
		return "false: do not verify the " + string(s.Kind) + " server's certificate (insecure)."
	}},
	{func(e source.EnvVars) string { return e.Region }, func(s source.Spec) string {
		return "The " + string(s.Kind) + " region, when no --region or region setting is given."
	}},
	{func(e source.EnvVars) string { return e.Namespace }, func(s source.Spec) string {
		return "The " + string(s.Kind) + " namespace, when no --namespace or namespace setting is given."
	}},
}

// manEnvironment lists the variables raftsnap reads: the sources' come
// from the source-kind registry, as the vendors' CLIs read them; a flag
// or a configuration setting always wins over them.
func manEnvironment() string {
	var b strings.Builder
	b.WriteString(".SH ENVIRONMENT\n")
	for _, s := range source.Kinds() {
		for _, v := range sourceVariables {
			if name := v.pick(s.Env); name != "" {
				manItem(&b, name, v.meaning(s))
			}
		}
	}
	manItem(&b, "variables named by token_env", "The daemon reads a job's token from the variable its token_env names. Under systemd, set them in /etc/raftsnap/raftsnap.env.")
	manItem(&b, "NOTIFY_SOCKET, WATCHDOG_USEC", "Set by systemd (Type=notify, WatchdogSec=): the daemon reports readiness, reloads and stopping, and pings the watchdog.")
	manItem(&b, "JOURNAL_STREAM", "Set by systemd: when it names the daemon's stderr and global.logging.format is not set, log lines carry journald priority prefixes instead of a timestamp.")
	manItem(&b, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION", "Credentials of s3 stores, as the AWS CLI reads them (then ~/.aws, web identity, instance metadata). Never printed.")
	manItem(&b, "AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING", "Credentials of azure stores (else Azure's default chain: AZURE_CLIENT_ID and friends, managed identity). Never printed.")
	manItem(&b, "GOOGLE_APPLICATION_CREDENTIALS", "Credentials of gcs stores (else gcloud's application-default login or the metadata server).")
	manItem(&b, "GOGC, GOMEMLIMIT", fmt.Sprintf("Go's collector settings. The daemon runs at GOGC=%d unless GOGC is set (Go's default is 100): its heap is mostly transfer buffers, and a lower target keeps its peak memory lower. GOMEMLIMIT sets a soft limit; it never fails an allocation.", daemon.DefaultGCPercent))
	manItem(&b, "TMPDIR", "raftsnap daemon --dev keeps its files under $TMPDIR/raftsnap-dev by default (/tmp if unset); raftsnap store get ... - holds the snapshot there until it verified.")
	return b.String()
}

func manExitStatus() string {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	for _, c := range exitCodeDocs {
		manItem(&b, fmt.Sprint(c.code), c.meaning)
	}
	return b.String()
}

func manFiles() string {
	var b strings.Builder
	b.WriteString(".SH FILES\n")
	manItem(&b, config.DefaultPath, "The daemon's configuration, described in raftsnap.yml(5): the default of --config.")
	manItem(&b, "/etc/raftsnap/raftsnap.env", "Environment of the systemd service (EnvironmentFile=), for tokens named by token_env; read by systemd as root, mode 0600.")
	manItem(&b, config.DefaultSockPath, "The daemon's control socket (global.control.sockpath): the default of --socket. Only root and the daemon's user may connect.")
	manItem(&b, "/var/lib/raftsnap", "The service's state directory, where the shipped configuration keeps its stores.")
	manItem(&b, "/usr/lib/systemd/system/raftsnap.service", "The systemd unit; change it with a drop-in (systemctl edit raftsnap).")
	manItem(&b, "/usr/share/doc/raftsnap/examples", "Example configurations for Consul, Nomad, Vault and several clusters.")
	return b.String()
}

// addManSections adds the sections to every page GenManTree wrote, and
// raftsnap.yml(5) to SEE ALSO of the pages of commands that read it.
func addManSections(root *cobra.Command, dir string) error {
	sections := manExitStatus() + manEnvironment() + manFiles()
	var walk func(*cobra.Command) error
	walk = func(cmd *cobra.Command) error {
		if !cmd.IsAvailableCommand() || cmd.IsAdditionalHelpTopicCommand() {
			return nil
		}
		for _, c := range cmd.Commands() {
			if err := walk(c); err != nil {
				return err
			}
		}
		path := filepath.Join(dir, manFileName(cmd))
		page, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		at := bytes.Index(page, []byte("\n.SH SEE ALSO\n"))
		if at < 0 {
			return fmt.Errorf("%s: no SEE ALSO section", path)
		}
		at++
		seeAlso := string(page[at:])
		if cmd == root || cmd.Flags().Lookup("config") != nil {
			seeAlso = strings.TrimRight(seeAlso, "\n") + ", \\fBraftsnap.yml(5)\\fP\n"
		}
		out := string(page[:at]) + sections + seeAlso
		return os.WriteFile(path, []byte(out), 0o644)
	}
	return walk(root)
}

// mdHeading1 and mdSection find the parts of the configuration reference
// that are not for the man page: its title (the page has its own) and the
// section for Go programmers.
var (
	mdHeading1 = regexp.MustCompile(`(?m)\A# [^\n]*\n+`)
	mdGoCode   = regexp.MustCompile(`(?ms)^## For Go code\n.*?(\n## |\z)`)
	mdLink     = regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`)
)

// writeConfigManPage renders the Markdown configuration reference as
// raftsnap.yml(5) with the man page converter cobra uses for the others.
func writeConfigManPage(mdPath, dir string, header *doc.GenManHeader) error {
	md, err := os.ReadFile(mdPath)
	if err != nil {
		return err
	}
	body := mdHeading1.ReplaceAll(md, nil)
	body = mdGoCode.ReplaceAll(body, []byte("$1"))
	// Links to other documents and anchors mean nothing in a man page:
	// keep the link text.
	body = mdLink.ReplaceAll(body, []byte("$1"))
	body = tablesToDefinitions(body)
	roff := string(md2man.Render(body))
	// md2man starts with the tbl hint and .nh; the hint must stay the
	// first line, before the header below.
	roff = strings.TrimPrefix(roff, "'\\\" t\n")
	roff = strings.TrimPrefix(roff, ".nh\n")

	date := time.Now()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		var sec int64
		if _, err := fmt.Sscan(epoch, &sec); err == nil {
			date = time.Unix(sec, 0)
		}
	}
	var b strings.Builder
	b.WriteString("'\\\" t\n.nh\n")
	fmt.Fprintf(&b, ".TH \"RAFTSNAP.YML\" \"5\" %q %q %q\n", date.UTC().Format("Jan 2006"), header.Source, header.Manual)
	b.WriteString(".SH NAME\nraftsnap.yml \\- configuration file of the raftsnap daemon\n")
	fmt.Fprintf(&b, ".SH SYNOPSIS\n\\fB%s\\fP\n", config.DefaultPath)
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString(roff)
	b.WriteString("\n" + manFiles())
	b.WriteString(".SH SEE ALSO\n\\fBraftsnap(1)\\fP, \\fBraftsnap-daemon(1)\\fP, \\fBraftsnap-configcheck(1)\\fP, \\fBraftsnap-test-pruning(1)\\fP\n")
	return os.WriteFile(filepath.Join(dir, "raftsnap.yml.5"), []byte(b.String()), 0o644)
}

// tablesToDefinitions turns the Markdown tables of the reference into
// definition lists, which a man page shows as tagged paragraphs: a table
// with a long text column does not fit a terminal. A "Key | Type | Default
// | Meaning" row becomes "key" over "type, default D. Meaning"; other
// tables become "first cell" over "Header: cell." for the other columns.
func tablesToDefinitions(md []byte) []byte {
	lines := strings.Split(string(md), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || i+1 >= len(lines) || !tableSeparator.MatchString(lines[i+1]) {
			out = append(out, lines[i])
			continue
		}
		header := tableCells(lines[i])
		i += 2
		for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			cells := tableCells(lines[i])
			if len(cells) != len(header) || len(cells) < 2 {
				out = append(out, lines[i]) // not a row of this table: leave it
				continue
			}
			out = append(out, cells[0], ": "+definition(header, cells), "")
		}
		i-- // the line after the table is handled by the loop
	}
	return []byte(strings.Join(out, "\n"))
}

var tableSeparator = regexp.MustCompile(`^\|(\s*:?-+:?\s*\|)+\s*$`)

// tableCells splits a table row on the pipes that are not escaped.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(strings.TrimSuffix(row, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cell.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func definition(header, cells []string) string {
	if strings.Join(header, "|") == "Key|Type|Default|Meaning" {
		def := "*" + cells[1] + "*"
		if cells[2] != "—" && cells[2] != "" {
			def += ", default " + cells[2]
		}
		return def + ". " + cells[3]
	}
	var parts []string
	for j := 1; j < len(cells); j++ {
		parts = append(parts, header[j]+": "+strings.TrimSuffix(cells[j], ".")+".")
	}
	return strings.Join(parts, " ")
}
