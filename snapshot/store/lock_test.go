package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// TestHelperHoldStore is not a test: TestSecondProcessIsRefused runs it in
// a child process, which opens the store and holds it until stdin closes.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv("RAFTSNAP_HOLD_STORE")
	if dir == "" {
		t.Skip("helper process only")
	}
	l, err := Open(dir, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	bufio.NewReader(os.Stdin).ReadString('\n')
	l.Close()
	os.Exit(0)
}

func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$")
	cmd.Env = append(os.Environ(), "RAFTSNAP_HOLD_STORE="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "holding" {
		t.Fatalf("helper: %q %v", line, err)
	}

	_, err = Open(dir, nil)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != cmd.Process.Pid {
		t.Fatalf("Open of a store another process holds = %v, want an InUseError naming pid %d", err, cmd.Process.Pid)
	}
	if want := fmt.Sprintf("in use by another raftsnap process (pid %d)", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}

	// Once the holder is gone (it may as well have crashed: the kernel
	// drops the lock), the store opens.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir)
}

// TestSymlinkAliasSharesTheStore: a second job whose store path is a
// symlink to the first's gets the same store state, so a write in progress
// through one name is not removed as a leftover by opening the other.
func TestSymlinkAliasSharesTheStore(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	l := mustOpen(t, dir)
	alias := filepath.Join(base, "alias")
	if err := os.Symlink(dir, alias); err != nil {
		t.Fatal(err)
	}
	p, err := l.Create(context.Background(), "job", "job-20260101T000000Z-1.snap")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	mustOpen(t, alias)
	tmp := p.(*localPending).TempName()
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("opening the store under another name removed the write in progress: %v", err)
	}
}

func TestCheckDir(t *testing.T) {
	testkit.RequireRoot(t, "chown directories to another user and mount a read-only file system")
	me := DirCheck{UID: os.Geteuid(), Write: true}
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, -1); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	cases := []struct {
		name, dir string
		check     DirCheck
		want      string // "" for no error
	}{
		{"own 0700", mk("ok", 0o700, 0), me, ""},
		{"missing, creatable", filepath.Join(base, "new", "deeper"), me, ""},
		{"another user's", mk("nobody", 0o700, 65534), me, "is owned by uid 65534"},
		{"group-writable", mk("gw", 0o770, 0), me, "writable by group or others (mode 0770)"},
		{"world-writable", mk("ww", 0o777, 0), me, "writable by group or others (mode 0777)"},
		{"a file", file, me, "exists and is not a directory"},
		{"under a file", filepath.Join(file, "store"), me, "is not a directory"},
		{"checked for the daemon's user", mk("daemons", 0o700, 65534), DirCheck{UID: 65534, Write: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDir(c.dir, c.check)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("CheckDir(%s) = %v, want nil", c.dir, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("CheckDir(%s) = %v, want an error saying %q", c.dir, err, c.want)
			}
		})
	}

	t.Run("read-only file system", func(t *testing.T) {
		mnt := mountTmpfs(t, "1m")
		testkit.Remount(t, mnt, "ro")
		defer testkit.Remount(t, mnt, "rw")
		if err := CheckDir(mnt, me); err == nil || !strings.Contains(err.Error(), "read-only file system") {
			t.Fatalf("CheckDir on a read-only mount = %v", err)
		}
		if err := CheckDir(filepath.Join(mnt, "new"), me); err == nil || !strings.Contains(err.Error(), "read-only file system") {
			t.Fatalf("CheckDir under a read-only mount = %v", err)
		}
		if err := CheckDir(mnt, DirCheck{UID: os.Geteuid()}); err != nil {
			t.Fatalf("a read-only store that is only read: %v", err)
		}
	})
}
