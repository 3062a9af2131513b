package client

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsnap/raftsnap/daemon/buildinfo"
	"github.com/raftsnap/raftsnap/snapshot/source"
)

// addSourceFlags binds the flags that name a source and how to reach it
// onto cfg, the same settings a configuration file's source block fills.
// Shared by `snapshot save` and `snapshot restore`.
func addSourceFlags(cmd *cobra.Command, cfg *source.Config) {
	fs := cmd.Flags()
	fs.StringVar((*string)(&cfg.Kind), "source", "", "source kind: "+source.KindNames()+" (required)")
	fs.StringVar(&cfg.Address, "address", "", "source URL (default: "+envList(func(e source.EnvVars) string { return e.Address }, "$")+", else the vendor's local default)")
	fs.StringVar(&cfg.TokenFile, "token-file", "", "read the ACL token from this file")
	fs.StringVar(&cfg.TokenEnv, "token-env", "", "read the ACL token from this environment variable (default: "+envList(func(e source.EnvVars) string { return e.Token }, "")+")")
	fs.BoolVar(&cfg.Stale, "stale", false, "let any server answer, not only the leader (works without a leader; may be slightly behind)")
	fs.StringVar(&cfg.Datacenter, "datacenter", "", "consul: datacenter to query")
	fs.StringVar(&cfg.Region, "region", "", "nomad: region to query")
	fs.StringVar(&cfg.Namespace, "namespace", "", "vault: namespace (X-Vault-Namespace)")
	fs.StringVar(&cfg.TLS.CAFile, "ca-file", "", "PEM CA bundle to verify the server's certificate")
	fs.StringVar(&cfg.TLS.CertFile, "client-cert", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&cfg.TLS.KeyFile, "client-key", "", "PEM key of --client-cert")
	fs.StringVar(&cfg.TLS.ServerName, "tls-server-name", "", "server name expected in the server's certificate")
	fs.BoolVar(&cfg.TLS.InsecureSkipVerify, "tls-skip-verify", false, "do not verify the server's certificate (insecure; for tests only)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on connecting and the TLS handshake")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole transfer (0: none; Ctrl-C cancels)")
	_ = cmd.RegisterFlagCompletionFunc("source", completeSourceKinds)
}

// completeSourceKinds offers the registered kinds, each with what it talks to.
func completeSourceKinds(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var kinds []string
	for _, spec := range source.Kinds() {
		kinds = append(kinds, string(spec.Kind)+"\t"+spec.Title)
	}
	return kinds, cobra.ShellCompDirectiveNoFileComp
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

// defaultAddress follows the vendor's CLI (its address variable, else its
// local default) so that raftsnap works wherever `consul snapshot save`
// already does.
func defaultAddress(spec source.Spec) string {
	if spec.Env.Address != "" {
		if addr := os.Getenv(spec.Env.Address); addr != "" {
			return addr
		}
	}
	return spec.DefaultAddress
}

// buildSource checks the flags bound by addSourceFlags, loads the token
// and builds the source; every problem is a usage error.
func buildSource(cfg source.Config, logger *slog.Logger) (source.Source, error) {
	spec, known := source.Lookup(cfg.Kind)
	switch {
	case cfg.Kind == "":
		return nil, usageError(fmt.Errorf("--source is required: %s", source.KindNames()))
	case !known:
		return nil, usageError(fmt.Errorf("unknown --source %q: use %s", cfg.Kind, source.KindNames()))
	}
	if cfg.Address == "" {
		cfg.Address = defaultAddress(spec)
	}
	if cfg.Address == "" {
		return nil, usageError(fmt.Errorf("--address is required for --source %s", cfg.Kind))
	}
	cfg.UserAgent = buildinfo.UserAgent()
	cfg, err := cfg.Resolve(nil, logger)
	if err != nil {
		return nil, usageError(err)
	}
	src, err := source.New(cfg)
	if err != nil {
		return nil, usageError(err)
	}
	return src, nil
}
