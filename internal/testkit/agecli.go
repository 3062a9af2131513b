package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AgeCLI is the standard age command line (Debian's age package), used
// to check that what raftsnap encrypts is plain age and the other way
// round.
type AgeCLI struct {
	Age, Keygen string
}

// FindAgeCLI finds age and age-keygen ($PATH, then /usr/bin), failing
// the test (Missing) when they are not installed.
func FindAgeCLI(t testing.TB) AgeCLI {
	t.Helper()
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if _, err := os.Stat("/usr/bin/" + name); err == nil {
			return "/usr/bin/" + name
		}
		Missing(t, name+" is not installed (apt-get install age)")
		return ""
	}
	return AgeCLI{Age: find("age"), Keygen: find("age-keygen")}
}

// NewKey makes an identity file with age-keygen (mode 0600) under dir and
// returns its path and its public key.
func (a AgeCLI) NewKey(t testing.TB, dir, name string) (identityFile, recipient string) {
	t.Helper()
	identityFile = filepath.Join(dir, name)
	a.Run(t, a.Keygen, "-o", identityFile)
	return identityFile, strings.TrimSpace(a.Run(t, a.Keygen, "-y", identityFile))
}

// Run runs one of the age commands, failing the test on an error; it
// returns standard output.
func (a AgeCLI) Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
