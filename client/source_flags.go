package client

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// addSourceFlags binds the flags that name a source and how to reach it
// onto cfg, the same settings a configuration file's source block fills.
// Each flag's help names the vendors' variables it falls back to
// (source.Config.Resolve). Shared by `snapshot save` (op source.OpSave)
// and `snapshot restore` (source.OpRestore), which neither offers nor
// takes the kinds that cannot be restored into.
func addSourceFlags(cmd *cobra.Command, cfg *source.Config, op string) {
	fs := cmd.Flags()
	env := func(pick func(source.EnvVars) string) string {
		if list := envList(pick, "$"); list != "" {
			return " (default: " + list + ")"
		}
		return ""
	}
	usable := func(s source.Spec) bool { return op == source.OpSave || s.NoRestoreReason == "" }
	fs.StringVar((*string)(&cfg.Kind), "source", "", "source kind: "+source.JoinKinds(usable, "or")+" (required)")
	if dirKinds := source.JoinKinds(func(s source.Spec) bool { return s.Directory && usable(s) }, "and"); dirKinds != "" {
		fs.StringVar(&cfg.Path, "path", "", dirKinds+": the stopped server's raft directory, or its data_dir "+
			"(the raft directory is found in a Consul data_dir as DATA/raft, in a Nomad one as DATA/server/raft)")
		_ = cmd.MarkFlagDirname("path")
	}
	fs.StringVar(&cfg.Address, "address", "", "server address: an http:// or https:// URL, unix:///PATH ("+
		source.JoinKinds(func(s source.Spec) bool { return s.UnixSocket }, "and")+") or HOST:PORT ("+
		source.JoinKinds(func(s source.Spec) bool { return s.SchemelessAddress }, "and")+
		") (default: "+envList(func(e source.EnvVars) string { return e.Address }, "$")+", else the vendor's local default)")
	fs.StringVar(&cfg.TokenFile, "token-file", "", "read the ACL token from this file"+env(func(e source.EnvVars) string { return e.TokenFile }))
	fs.StringVar(&cfg.TokenEnv, "token-env", "", "read the ACL token from this environment variable (default: "+envList(func(e source.EnvVars) string { return e.Token }, "")+homeTokenFiles()+")")
	login := source.JoinKinds(func(s source.Spec) bool { return s.AppRoleLoginPath != "" }, "and")
	fs.StringVar(&cfg.AppRole.RoleIDFile, "role-id-file", "", login+": log in with AppRole instead of a token, the role ID read from this file (with --secret-id-file)")
	fs.StringVar(&cfg.AppRole.SecretIDFile, "secret-id-file", "", login+": file holding the AppRole secret ID (with --role-id-file)")
	fs.StringVar(&cfg.AppRole.Mount, "approle-mount", "", login+": path the AppRole auth method is enabled at, without auth/ (default: "+source.DefaultAppRoleMount+")")
	fs.BoolVar(&cfg.Stale, "stale", false, "let any server answer, not only the leader (works without a leader; may be slightly behind)")
	fs.StringVar(&cfg.Datacenter, "datacenter", "", "consul: datacenter to query")
	fs.StringVar(&cfg.Region, "region", "", "nomad: region to query"+env(func(e source.EnvVars) string { return e.Region }))
	fs.StringVar(&cfg.Namespace, "namespace", "", "vault: namespace (X-Vault-Namespace)"+env(func(e source.EnvVars) string { return e.Namespace }))
	fs.StringVar(&cfg.TLS.CAFile, "ca-file", "", "PEM CA bundle to verify the server's certificate"+env(func(e source.EnvVars) string { return e.CACert }))
	fs.StringVar(&cfg.TLS.CertFile, "client-cert", "", "PEM client certificate for mutual TLS"+env(func(e source.EnvVars) string { return e.ClientCert }))
	fs.StringVar(&cfg.TLS.KeyFile, "client-key", "", "PEM key of --client-cert"+env(func(e source.EnvVars) string { return e.ClientKey }))
	fs.StringVar(&cfg.TLS.ServerName, "tls-server-name", "", "server name expected in the server's certificate"+env(func(e source.EnvVars) string { return e.TLSServerName }))
	fs.BoolVar(&cfg.TLS.InsecureSkipVerify, "tls-skip-verify", false, "do not verify the server's certificate (insecure; for tests only; also when "+
		envList(func(e source.EnvVars) string { return e.SkipVerify }, "$")+" is true or "+envList(func(e source.EnvVars) string { return e.Verify }, "$")+" false)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on connecting and the TLS handshake")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole transfer (0: none; Ctrl-C cancels)")
	_ = cmd.RegisterFlagCompletionFunc("source", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var kinds []string
		for _, spec := range source.Kinds() {
			if usable(spec) {
				kinds = append(kinds, string(spec.Kind)+"\t"+spec.Title)
			}
		}
		return kinds, cobra.ShellCompDirectiveNoFileComp
	})
}

// homeTokenFiles names the login files a kind falls back to: "; then
// ~/.vault-token for vault".
func homeTokenFiles() string {
	var files []string
	for _, spec := range source.Kinds() {
		if spec.Env.HomeTokenFile != "" {
			files = append(files, "~/"+spec.Env.HomeTokenFile+" for "+string(spec.Kind))
		}
	}
	if len(files) == 0 {
		return ""
	}
	return "; then " + strings.Join(files, ", ")
}

// envList names one environment variable of every kind that has it, for
// help texts: "$CONSUL_HTTP_ADDR, $NOMAD_ADDR or $VAULT_ADDR".
func envList(pick func(source.EnvVars) string, prefix string) string {
	var names []string
	for _, spec := range source.Kinds() {
		if name := pick(spec.Env); name != "" {
			names = append(names, prefix+name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// buildSource checks the flags bound by addSourceFlags, completes them
// from the environment (flag > environment > default) and builds the
// source; every problem is a usage error. op is source.OpSave or
// source.OpRestore: a kind that cannot restore is refused for the latter.
func buildSource(cfg source.Config, op string, logger *slog.Logger) (source.Source, error) {
	spec, known := source.Lookup(cfg.Kind)
	switch {
	case cfg.Kind == "":
		return nil, usageError(fmt.Errorf("--source is required: %s", source.KindNames()))
	case !known:
		return nil, usageError(fmt.Errorf("unknown --source %q: use %s", cfg.Kind, source.KindNames()))
	case op == source.OpRestore && spec.NoRestoreReason != "":
		return nil, usageError(fmt.Errorf("--source %s cannot be a restore target: %s", cfg.Kind, spec.NoRestoreReason))
	}
	cfg.UserAgent = buildinfo.UserAgent()
	cfg.StaleHint = "--stale"
	cfg, err := cfg.Resolve(nil, logger)
	if err != nil {
		return nil, usageError(err)
	}
	switch {
	case spec.Directory && cfg.Path == "":
		return nil, usageError(fmt.Errorf("--path is required for --source %s", cfg.Kind))
	case spec.Directory:
		// Absolute, so that the source's name in the output says where.
		if cfg.Path, err = filepath.Abs(cfg.Path); err != nil {
			return nil, usageError(err)
		}
	case cfg.Address == "":
		return nil, usageError(fmt.Errorf("--address is required for --source %s", cfg.Kind))
	}
	src, err := source.NewWithLogger(cfg, logger)
	if err != nil {
		return nil, usageError(err)
	}
	return src, nil
}
