package nethelpers

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// shortDir returns a fresh directory with a path short enough for a unix
// socket (t.TempDir's can exceed sun_path's 108 bytes).
var shortDir = testkit.ShortTempDir

func mustListen(t *testing.T, sock string) *Listener {
	t.Helper()
	l, err := ListenPrivate(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var perm = testkit.Perm

func TestListenPrivateCreatesPrivateDirAndSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "run", "raftsnap", "control")
	l := mustListen(t, sock)

	if got := perm(t, filepath.Dir(sock)); got != 0o700 {
		t.Errorf("socket directory mode %04o, want 0700", got)
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	pid, err := os.ReadFile(sock + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid %d", pid, os.Getpid())
	}

	// It really serves, and the CLI's client reaches it.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "pong "+r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	resp, err := DialHTTPClient(sock).Get(BaseURL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pong /ping" {
		t.Fatalf("answer %q", body)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	// The lock is released: a new listener gets it.
	mustListen(t, sock)
}

func TestListenPrivateRefusesOpenDirectory(t *testing.T) {
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ListenPrivate(filepath.Join(dir, "control"))
	if err == nil || !strings.Contains(err.Error(), "accessible by group or others (mode 0755)") {
		t.Fatalf("want a refusal naming mode 0755, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "control.lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused listen left a lock file: %v", err)
	}
}

func TestListenPrivateRefusesFileAsDirectory(t *testing.T) {
	dir := shortDir(t)
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ListenPrivate(filepath.Join(file, "control"))
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("want 'is not a directory', got %v", err)
	}
}

func TestListenPrivateRefusesDirectoryOwnedByOthers(t *testing.T) {
	// As root, hand a directory to nobody; otherwise "/" is someone else's.
	dir := "/"
	if os.Geteuid() == 0 {
		dir = shortDir(t)
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ListenPrivate(filepath.Join(dir, "control"))
	if err == nil || !strings.Contains(err.Error(), "is owned by uid") {
		t.Fatalf("want a refusal naming the owner, got %v", err)
	}
}

func TestListenPrivateRefusesLongPath(t *testing.T) {
	_, err := ListenPrivate("/tmp/" + strings.Repeat("x", 120))
	if err == nil || !strings.Contains(err.Error(), "at most 107") {
		t.Fatalf("want a path length error, got %v", err)
	}
}

func TestListenPrivateSecondDaemonRefused(t *testing.T) {
	sock := filepath.Join(shortDir(t), "control")
	mustListen(t, sock)

	_, err := ListenPrivate(sock)
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second listener: want *InUseError, got %v", err)
	}
	want := "another raftsnap daemon is using " + sock + " (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	// The refused attempt must not have disturbed the first listener.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("first listener no longer reachable: %v", err)
	}
	conn.Close()
}

func TestListenPrivateRemovesStaleSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "control")
	// What a killed daemon leaves: a bound socket file with no listener.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	l := mustListen(t, sock)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("new"))
			c.Close()
		}
	}()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "new" {
		t.Fatalf("read %q from the reused socket", got)
	}
}

func TestListenPrivateRefusesLiveUnlockedSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "control")
	// A listener that holds no lock (e.g. an older daemon): it must not be
	// stolen.
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ul.Close() })
	_, err = ListenPrivate(sock)
	if err == nil || !strings.Contains(err.Error(), "another process is answering on "+sock) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("live socket removed: %v", err)
	}
}

func TestListenPrivateRefusesNonSocketFile(t *testing.T) {
	sock := filepath.Join(shortDir(t), "control")
	if err := os.WriteFile(sock, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ListenPrivate(sock)
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("want 'is not a socket', got %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "data" {
		t.Fatal("regular file was replaced")
	}
}

func TestExplainDialError(t *testing.T) {
	dir := shortDir(t)
	missing := filepath.Join(dir, "control")
	_, err := DialHTTPClient(missing).Get(BaseURL + "/status")
	err = ExplainDialError(missing, err)
	want := "no raftsnap daemon is listening on " + missing + ": start it with `raftsnap daemon` (or pass --socket)"
	if err == nil || err.Error() != want {
		t.Fatalf("missing socket: got %v, want %q", err, want)
	}

	// Refused: a stale socket file.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: missing, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	_, err = DialHTTPClient(missing).Get(BaseURL + "/status")
	if err = ExplainDialError(missing, err); err == nil || err.Error() != want {
		t.Fatalf("refused socket: got %v, want %q", err, want)
	}

	// Permission: what connect(2) returns for a socket we may not write.
	// Root bypasses file permissions, so build the error net returns.
	denied := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	if os.Geteuid() != 0 {
		sock := filepath.Join(dir, "closed", "control")
		mustListen(t, sock)
		if err := os.Chmod(filepath.Dir(sock), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Dir(sock), 0o700) })
		_, realErr := DialHTTPClient(sock).Get(BaseURL + "/status")
		if !errors.Is(realErr, syscall.EACCES) {
			t.Fatalf("expected EACCES dialing a closed directory, got %v", realErr)
		}
		if err := ExplainDialError(sock, realErr); !strings.HasPrefix(err.Error(), "permission denied on "+sock+": ") {
			t.Fatalf("permission: got %v", err)
		}
	}
	err = ExplainDialError("/run/raftsnap/control", denied)
	if err == nil || !strings.HasPrefix(err.Error(), "permission denied on /run/raftsnap/control: ") {
		t.Fatalf("permission: got %v", err)
	}

	// Not a dial error: unchanged.
	if got := ExplainDialError(missing, context.Canceled); got != context.Canceled {
		t.Fatalf("non-dial error changed: %v", got)
	}
}
