package source

import (
	"fmt"
	"log/slog"
	"os"
)

// Resolve returns c completed for New: its token loaded. lookupEnv reads
// the environment (nil: os.LookupEnv); logger receives token-file
// permission warnings, never the token (nil: slog.Default). Call it before
// each use of the settings, so that a rotated token file is read again.
//
// The token comes from the first of:
//
//  1. TokenFile: the file's content, trimmed. A missing, unreadable, empty
//     or multi-line file is an error.
//  2. TokenEnv: the variable it names, trimmed; an unset variable is an
//     error (it was named on purpose).
//  3. The kind's token variable (Spec.Env.Token, e.g. CONSUL_HTTP_TOKEN),
//     when set and not blank.
//  4. No token, which is right for servers without ACLs.
func (c Config) Resolve(lookupEnv func(string) (string, bool), logger *slog.Logger) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if logger == nil {
		logger = slog.Default()
	}
	spec, err := lookupKind(c.Kind)
	if err != nil {
		return c, err
	}
	token, err := resolveToken(c, spec, lookupEnv, logger)
	if err != nil {
		return c, fmt.Errorf("%s source: %w", c.Kind, err)
	}
	c.Token = token
	return c, nil
}

func resolveToken(c Config, spec Spec, lookupEnv func(string) (string, bool), logger *slog.Logger) (Secret, error) {
	switch {
	case c.TokenFile != "":
		return loadTokenFile(c.TokenFile, logger)
	case c.TokenEnv != "":
		if _, set := lookupEnv(c.TokenEnv); !set {
			return "", fmt.Errorf("token_env names %s, which is not set in this environment", c.TokenEnv)
		}
		return tokenFromEnv(c.TokenEnv, lookupEnv)
	case spec.Env.Token != "":
		return tokenFromEnv(spec.Env.Token, lookupEnv)
	}
	return "", nil
}

// lookupKind is Lookup with the error New gives for an unknown kind.
func lookupKind(kind Kind) (Spec, error) {
	spec, ok := Lookup(kind)
	switch {
	case ok:
		return spec, nil
	case kind == "":
		return spec, &ConfigError{Kind: kind, Field: "type", Reason: "is empty (want " + KindNames() + ")"}
	default:
		return spec, &ConfigError{Kind: kind, Field: "type", Reason: fmt.Sprintf("unknown kind %q (want %s)", kind, KindNames())}
	}
}
