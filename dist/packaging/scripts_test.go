// Package packaging_test checks the packages' maintainer scripts against
// the code whose files they clean up.
package packaging_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// TestPurgeRemovesStoreLocks: dpkg --purge removes a store directory only
// when it is empty, so the postrm must delete the lock file every store
// directory keeps (dist/debtest shows the whole purge on a real install).
func TestPurgeRemovesStoreLocks(t *testing.T) {
	data, err := os.ReadFile("deb/postrm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "-name "+store.LockName+" -delete") {
		t.Errorf("deb/postrm does not delete the stores' lock files (%s) on purge", store.LockName)
	}
}

// TestScriptsParse checks every maintainer script with sh -n.
func TestScriptsParse(t *testing.T) {
	for _, f := range []string{"deb/postinst", "deb/prerm", "deb/postrm", "postinstall.sh", "preremove.sh", "postremove.sh"} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&0o111 == 0 && strings.HasPrefix(f, "deb/") {
			t.Errorf("%s is not executable", f)
		}
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", f, err, out)
		}
	}
}
