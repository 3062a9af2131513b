package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ModulePath is raftsnap's module path.
const ModulePath = "github.com/raftsnap/raftsnap"

// ReleaseTags are the build tags of every release binary, the Makefile's
// TAGS (TestReleaseTagsMatchMakefile keeps the two equal): the tests run
// the binary that ships.
const ReleaseTags = "disable_grpc_modules"

// buildTags are ReleaseTags and those GOFLAGS asks for (-tags=isal): a
// -tags flag on the command line would replace GOFLAGS' instead.
func buildTags() string {
	tags := []string{ReleaseTags}
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if v, ok := strings.CutPrefix(strings.TrimLeft(f, "-"), "tags="); ok && v != "" {
			tags = append(tags, v)
		}
	}
	return strings.Join(tags, ",")
}

var built struct {
	once sync.Once
	path string
	err  error
}

// Raftsnap returns the path of the raftsnap binary built from this tree.
// It is Integration: under -short the test skips. The binary is built once
// per test process and kept in a cache directory under a hash of
// everything that goes into it (the module's Go and embedded files,
// go.mod, go.sum, the commit, the toolchain and build environment), so
// that test binaries of several packages, and later runs on an unchanged
// tree, share one build.
func Raftsnap(t testing.TB) string {
	t.Helper()
	Integration(t, "the built raftsnap binary")
	built.once.Do(func() { built.path, built.err = buildRaftsnap() })
	if built.err != nil {
		t.Fatalf("building raftsnap: %v", built.err)
	}
	return built.path
}

// ModuleRoot is the directory of raftsnap's go.mod, found upwards from the
// working directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + ModulePath + " above the working directory")
		}
		dir = parent
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// binaryCacheDir holds the built binaries; $RAFTSNAP_TEST_CACHE overrides it.
func binaryCacheDir() (string, error) {
	if d := os.Getenv("RAFTSNAP_TEST_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "raftsnap-test"), nil
}

// keepBinaries is how many built binaries the cache keeps (the most
// recently used): enough for a few branches, bounded on disk.
const keepBinaries = 4

func buildRaftsnap() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	goBin := goTool()
	key, err := buildKey(goBin, root)
	if err != nil {
		return "", fmt.Errorf("hashing the build inputs: %w", err)
	}
	cache, err := binaryCacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// One builder at a time: `go test ./...` runs several test binaries at
	// once, and the second should reuse the first one's build, not redo it.
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	// Named raftsnap, in a directory named by the key: the binary prints
	// its own name in hints (raftsnap daemon --dev).
	dir := filepath.Join(cache, "bin-"+key)
	bin := filepath.Join(dir, "raftsnap")
	if info, err := os.Stat(bin); err == nil && info.Mode()&0o111 != 0 {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // most recently used: kept by pruneCache
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	build := exec.Command(goBin, "build", "-tags", buildTags(), "-o", tmp, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	pruneCache(cache)
	return bin, nil
}

// buildKey hashes what the binary is built from.
func buildKey(goBin, root string) (string, error) {
	h := sha256.New()
	// The toolchain and the environment that changes its output.
	fmt.Fprintln(h, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, v := range []string{"GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT", "GOAMD64", "CC"} {
		fmt.Fprintf(h, "%s=%s\n", v, os.Getenv(v))
	}
	fmt.Fprintf(h, "tags=%s\n", buildTags())
	// The commit is stamped into the binary (go build's VCS info).
	if head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		h.Write(head)
	}
	list := exec.Command(goBin, "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "`+ModulePath+`"}}{{.Dir}}|{{join .GoFiles ","}},{{join .CgoFiles ","}},{{join .CFiles ","}},{{join .HFiles ","}},{{join .SFiles ","}},{{join .EmbedFiles ","}}{{"\n"}}{{end}}{{end}}`, ".")
	list.Dir = root
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %v: %s", err, stderr.Bytes())
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, names, _ := strings.Cut(line, "|")
		for _, name := range strings.Split(names, ",") {
			if name != "" {
				files = append(files, filepath.Join(dir, name))
			}
		}
	}
	sort.Strings(files)
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// pruneCache removes all but the keepBinaries most recently used binaries.
func pruneCache(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "bin-*"))
	type bin struct {
		path string
		used time.Time
	}
	var bins []bin
	for _, m := range matches {
		if info, err := os.Stat(m); err == nil {
			bins = append(bins, bin{m, info.ModTime()})
		}
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].used.After(bins[j].used) })
	for i := keepBinaries; i < len(bins); i++ {
		os.RemoveAll(bins[i].path)
	}
}
