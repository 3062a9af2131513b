package testkit

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

// TempUser creates a throw-away local system user (no home, no login
// shell, a group of its own) and removes it when the test ends: what
// another user may not do (reach the control socket, write the store)
// cannot be shown as root. It needs root (RequireRoot) and useradd.
func TempUser(t testing.TB) (name string, uid, gid int) {
	t.Helper()
	RequireRoot(t, "creating a local user")
	name = fmt.Sprintf("rs-test-%d", rand.IntN(1_000_000))
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		Missing(t, "creating a local user with useradd: "+err.Error()+": "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return name, uid, gid
}
