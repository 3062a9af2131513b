// Package drill proves a snapshot restorable: it starts a throwaway Consul
// or Nomad server from a configured binary (loopback only, ports picked
// free, a temporary data directory, nothing shared with any other
// server), restores into it, and compares what the server then reports
// with what the archive holds. The drill job (daemon/job) drives it.
//
// The throwaway server is isolated from every live cluster by
// construction: it gets a fresh random node name, its own ports on
// 127.0.0.1, no join or auto-join of any kind, a clean environment (no
// CONSUL_*, NOMAD_* or proxy variables), and the integrations that would
// reach outside after a restore switched off (Consul: Connect, whose CA
// may be a real Vault, and cluster peering; Nomad: Consul and Vault). Its
// identity is checked before a byte is restored.
package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kinds of server a drill starts.
const (
	Consul = "consul"
	Nomad  = "nomad"
	Vault  = "vault"
)

// Version is a server's version, "1.22.7".
type Version struct {
	Major, Minor, Patch int
	// Text is the version as the binary printed it, without the "v".
	Text string
}

func (v Version) String() string { return v.Text }

// Same tells whether v and w are the same release (major, minor, patch).
func (v Version) Same(w Version) bool {
	return v.Major == w.Major && v.Minor == w.Minor && v.Patch == w.Patch
}

// ParseVersion reads "1.22.7" (or "v1.22.7", "1.22.7-dev+ent").
func ParseVersion(s string) (Version, bool) {
	m := versionPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	v.Text = strings.TrimPrefix(strings.TrimSpace(s), "v")
	return v, true
}

var versionPattern = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)\.([0-9]+)`)

// Binary is a server binary a drill can start, as Probe found it.
type Binary struct {
	Path    string
	Kind    string // Consul, Nomad or Vault
	Version Version
}

// String is "consul 1.22.7".
func (b Binary) String() string { return b.Kind + " " + b.Version.Text }

// probeTimeout bounds `BINARY version` (a variable for the tests).
var probeTimeout = 15 * time.Second

// maxProbeOutput bounds what is read of `BINARY version`.
const maxProbeOutput = 64 << 10

// versionLine is the first line `consul version`, `nomad version` and
// `vault version` print: "Consul v1.22.7", "Nomad v1.11.3",
// "Vault v1.21.4 (...)".
var versionLine = regexp.MustCompile(`^(Consul|Nomad|Vault) (v[0-9]+\.[0-9]+\.[0-9]+\S*)`)

// CheckBinary tells, without running it, whether path can be a server
// binary: it exists, is a file and is executable.
func CheckBinary(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("binary %s does not exist: install the server binary there or change binary", path)
	case err != nil:
		return fmt.Errorf("binary %s: %w", path, unwrapPath(err))
	case info.IsDir():
		return fmt.Errorf("binary %s is a directory", path)
	case info.Mode()&0o111 == 0:
		return fmt.Errorf("binary %s is not executable", path)
	}
	return nil
}

// Probe runs `path version` and tells which server, at which version, the
// binary is. A missing or unusable binary, one that hangs, and a program
// that is not a Consul, Nomad or Vault binary are each a clear error.
func Probe(ctx context.Context, path string) (Binary, error) {
	if err := CheckBinary(path); err != nil {
		return Binary{}, err
	}
	probeCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var out limitedBuffer
	out.max = maxProbeOutput
	cmd := exec.CommandContext(probeCtx, path, "version")
	cmd.Dir = "/"
	cmd.Env = serverEnv("/")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return Binary{}, ctx.Err()
	case probeCtx.Err() != nil:
		return Binary{}, fmt.Errorf("`%s version` did not answer within %s", path, probeTimeout)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	m := versionLine.FindStringSubmatch(strings.TrimSpace(first))
	if m == nil {
		what := fmt.Sprintf("printed %q", truncate(first, 120))
		if runErr != nil {
			what = fmt.Sprintf("failed (%v) and %s", runErr, what)
		}
		return Binary{}, fmt.Errorf("%s is not a consul or nomad binary: `%s version` %s", path, path, what)
	}
	v, _ := ParseVersion(m[2])
	return Binary{Path: path, Kind: strings.ToLower(m[1]), Version: v}, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// serverEnv is the whole environment a server (or `BINARY version`) runs
// with: never the daemon's own, which may hold tokens (token_env) or
// variables that change whom a server talks to (CONSUL_*, NOMAD_*,
// proxies). home is its HOME.
func serverEnv(home string) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "LANG=C"}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}
