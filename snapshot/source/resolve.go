package source

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Resolve returns c completed for New from the environment, as the kind's
// vendor CLI would complete it: every setting left empty is taken from the
// kind's variable (Spec.Env) if that is set, else from the kind's default.
// So a flag or a configuration key always wins over the environment, which
// wins over the default. lookupEnv reads the environment (nil:
// os.LookupEnv); logger receives token-file permission warnings, never the
// token (nil: slog.Default). Call it before each use of the settings, so
// that a rotated token file is read again.
//
//   - Address: the address variable (CONSUL_HTTP_ADDR...), else
//     Spec.DefaultAddress. A scheme-less address becomes https:// when the
//     HTTPS variable (CONSUL_HTTP_SSL) is true.
//   - TLS, for https:// addresses only (they mean nothing to http:// and
//     unix://): the CA, client certificate and key, and server name
//     variables; verification is skipped when SkipVerify is true or Verify
//     false. A variable naming a file that cannot be read is an error
//     naming the variable. Since InsecureSkipVerify cannot tell "not set"
//     from false, the environment can switch it on but not off.
//   - Region and Namespace (NOMAD_REGION, VAULT_NAMESPACE).
//   - Token, from the first of: TokenFile; the variable TokenEnv names,
//     which must be set (it was named on purpose); the token-file variable
//     (CONSUL_HTTP_TOKEN_FILE); the token variable (CONSUL_HTTP_TOKEN...);
//     the vendor's login file in $HOME (~/.vault-token) if it exists. Else
//     no token, which is right for servers without ACLs. Token files are
//     trimmed; a missing, empty or multi-line one is an error. With
//     AppRole settings no token is loaded: the source logs in (the role
//     and secret ID files are read then, not here).
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
	if spec.Directory {
		return c, nil // no address, token or TLS to complete; New refuses any set
	}
	env := environment{kind: c.Kind, lookup: lookupEnv}

	if c.Address == "" {
		c.Address = env.get(spec.Env.Address)
	}
	if c.Address == "" {
		c.Address = spec.DefaultAddress
	}
	if spec.SchemelessAddress && c.Address != "" && !strings.Contains(c.Address, "://") {
		https, err := env.boolean(spec.Env.HTTPS, "address")
		if err != nil {
			return c, err
		}
		if https {
			c.Address = "https://" + c.Address
		}
	}
	if strings.HasPrefix(strings.ToLower(c.Address), "https://") {
		if err := env.fillTLS(&c.TLS, spec.Env); err != nil {
			return c, err
		}
	}
	if c.Region == "" {
		c.Region = env.get(spec.Env.Region)
	}
	if c.Namespace == "" {
		c.Namespace = env.get(spec.Env.Namespace)
	}

	if c.AppRole.IsSet() {
		// The token comes from a login at the first request (see
		// AppRoleConfig); the environment's tokens are not read.
		return c, nil
	}
	token, err := resolveToken(c, spec, env, logger)
	if err != nil {
		return c, fmt.Errorf("%s source: %w", c.Kind, err)
	}
	c.Token = token
	return c, nil
}

// environment reads a kind's variables; a set but empty variable counts as
// unset, as in the vendors' CLIs.
type environment struct {
	kind   Kind
	lookup func(string) (string, bool)
}

func (e environment) get(name string) string {
	if name == "" {
		return ""
	}
	value, _ := e.lookup(name)
	return value
}

// boolean reads a true/false variable as strconv.ParseBool does (1, t,
// true, 0, f, false...); unset is false. field is the setting it affects,
// for the error.
func (e environment) boolean(name, field string) (bool, error) {
	value := strings.TrimSpace(e.get(name))
	if value == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(value)
	if err != nil {
		return false, &ConfigError{Kind: e.kind, Field: field,
			Reason: fmt.Sprintf("environment variable %s=%s is neither true nor false", name, capText(strconv.Quote(value)))}
	}
	return b, nil
}

// file reads a variable naming a file that must exist; "" when unset.
func (e environment) file(name, field string) (string, error) {
	path := e.get(name)
	if path == "" {
		return "", nil
	}
	info, err := os.Stat(path)
	if err == nil && !info.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err == nil {
		// Opened, not read: New reads it, and a FIFO was refused above.
		var f *os.File
		if f, err = os.Open(path); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // our message names the file already
		}
		return "", &ConfigError{Kind: e.kind, Field: field,
			Reason: fmt.Sprintf("environment variable %s names %s: %v", name, path, err), Err: err}
	}
	return path, nil
}

func (e environment) fillTLS(tls *TLSConfig, vars EnvVars) error {
	for _, f := range []struct {
		setting    *string
		name, key  string
		pathToFile bool
	}{
		{&tls.CAFile, vars.CACert, "tls.ca_file", true},
		{&tls.CertFile, vars.ClientCert, "tls.cert_file", true},
		{&tls.KeyFile, vars.ClientKey, "tls.key_file", true},
		{&tls.ServerName, vars.TLSServerName, "tls.server_name", false},
	} {
		if *f.setting != "" {
			continue
		}
		value := e.get(f.name)
		if f.pathToFile {
			var err error
			if value, err = e.file(f.name, f.key); err != nil {
				return err
			}
		}
		*f.setting = value
	}
	if dir := e.get(vars.CAPath); dir != "" && tls.CAFile == "" {
		return &ConfigError{Kind: e.kind, Field: "tls.ca_file",
			Reason: fmt.Sprintf("environment variable %s names a directory of CA certificates, which raftsnap does not read: "+
				"give the CA bundle file instead (%s, or tls.ca_file / --ca-file)", vars.CAPath, vars.CACert)}
	}
	if !tls.InsecureSkipVerify {
		skip, err := e.boolean(vars.SkipVerify, "tls.insecure_skip_verify")
		if err != nil {
			return err
		}
		verify := true
		if strings.TrimSpace(e.get(vars.Verify)) != "" {
			if verify, err = e.boolean(vars.Verify, "tls.insecure_skip_verify"); err != nil {
				return err
			}
		}
		tls.InsecureSkipVerify = skip || !verify
	}
	return nil
}

func resolveToken(c Config, spec Spec, env environment, logger *slog.Logger) (Secret, error) {
	switch {
	case c.TokenFile != "":
		return loadTokenFile(c.TokenFile, logger)
	case c.TokenEnv != "":
		if _, set := env.lookup(c.TokenEnv); !set {
			return "", fmt.Errorf("token_env names %s, which is not set in this environment", c.TokenEnv)
		}
		return tokenFromEnv(c.TokenEnv, env.lookup)
	}
	if file := env.get(spec.Env.TokenFile); file != "" {
		token, err := loadTokenFile(file, logger)
		if err != nil {
			return "", fmt.Errorf("environment variable %s: %w", spec.Env.TokenFile, err)
		}
		return token, nil
	}
	if spec.Env.Token != "" {
		if token, err := tokenFromEnv(spec.Env.Token, env.lookup); err != nil || token.IsSet() {
			return token, err
		}
	}
	if home := env.get("HOME"); spec.Env.HomeTokenFile != "" && home != "" {
		file := filepath.Join(home, spec.Env.HomeTokenFile)
		if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
			return "", nil // never logged in: no token
		}
		return loadTokenFile(file, logger)
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
