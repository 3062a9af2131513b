package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/internal/testkit/servers"
	"github.com/raftsnap/raftsnap/snapshot/store"
	"github.com/raftsnap/raftsnap/snapshot/store/storetest"
)

// storeCLI runs store commands against one store, keeping every output so
// that a test can check no secret ever appeared in any.
type storeCLI struct {
	t       *testing.T
	loc     string // --store
	outputs strings.Builder
}

func (c *storeCLI) run(args ...string) cliResult {
	c.t.Helper()
	r := raftsnap(c.t, args...)
	c.outputs.WriteString(r.Stdout + r.Stderr)
	return r
}

// store runs `raftsnap store SUB --store LOC ARGS...`.
func (c *storeCLI) store(sub string, args ...string) cliResult {
	c.t.Helper()
	return c.run(append([]string{"store", sub, "--store", c.loc}, args...)...)
}

func (c *storeCLI) mustStore(sub string, args ...string) cliResult {
	c.t.Helper()
	r := c.store(sub, args...)
	if r.Code != ExitOK {
		c.t.Fatalf("raftsnap store %s %s: %s", sub, strings.Join(args, " "), r)
	}
	return r
}

// assertNoSecrets fails if any output held one of secrets.
func (c *storeCLI) assertNoSecrets(secrets ...string) {
	c.t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(c.outputs.String(), s) {
			c.t.Fatalf("a credential appeared in the output:\n%s", c.outputs.String())
		}
	}
}

// displayLoc is how output names the store: its directory, or its URL
// without parameters.
func (c *storeCLI) displayLoc() string {
	loc, _, _ := strings.Cut(c.loc, "?")
	return loc
}

func (c *storeCLI) list() storeListJSON {
	c.t.Helper()
	r := c.mustStore("list", "--format", "json")
	var l storeListJSON
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
		c.t.Fatalf("store list --format json: %v\n%s", err, r.Stdout)
	}
	return l
}

// writeStoreArchive writes a real archive of job at term/index into dir, dated
// modified, and returns its path and bytes.
func writeStoreArchive(t *testing.T, dir, file, job string, index uint64, modified time.Time) (string, []byte) {
	t.Helper()
	data, _ := storetest.Archive(t, job, 2, index, 64<<10)
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, modified, modified); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// rawPutFunc writes an object (a file) into the store behind raftsnap's
// back: to damage a stored archive, as rot or a careless hand would, or to
// leave something that is not a snapshot.
type rawPutFunc func(t *testing.T, name string, data []byte)

func flipMiddle(data []byte) []byte {
	bad := bytes.Clone(data)
	for i := len(bad) / 2; i < len(bad)/2+64; i++ {
		bad[i] ^= 0xff
	}
	return bad
}

// storeRoundTrip is the story every kind of store must tell: put, list,
// get (to a file and to stdout), verify; a truncated archive refused with
// nothing listed; what is not a snapshot listed apart and never fetched; a
// corrupt copy found by get (nothing written) and verify (exit 3,
// recorded), after which latest is the older snapshot.
func storeRoundTrip(t *testing.T, c *storeCLI, raw rawPutFunc) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	older, olderData := writeStoreArchive(t, dir, "older.snap", "consul-main", 100, t0)
	newer, newerData := writeStoreArchive(t, dir, "newer.snap", "consul-main", 200, t0.Add(time.Hour))

	put := c.mustStore("put", "--job", "consul-main", older)
	olderName := "consul-main-20261201T100000Z-100.snap"
	if !strings.Contains(put.Stdout, "Stored "+older+" as "+olderName) {
		t.Fatalf("put output: %s", put)
	}
	c.mustStore("put", "--job", "consul-main", newer)
	newerName := "consul-main-20261201T110000Z-200.snap"
	// The same name again is refused.
	// Putting it again does nothing.
	if r := c.store("put", "--job", "consul-main", newer); r.Code != ExitOK || !strings.Contains(r.Stdout, "Already in "+c.displayLoc()+" as "+newerName) {
		t.Fatalf("a second put of the same snapshot: %s", r)
	}

	l := c.list()
	if len(l.Snapshots) != 2 || l.Snapshots[0].Name != newerName || l.Snapshots[1].Name != olderName {
		t.Fatalf("list: want %s then %s, got %+v", newerName, olderName, l.Snapshots)
	}
	s := l.Snapshots[0]
	if s.Job != "consul-main" || s.Index != 200 || s.Term != 2 || s.Size != int64(len(newerData)) || len(s.SHA256) != 64 ||
		!s.Verified || s.VerifiedAt == nil || !s.CreatedAt.Equal(t0.Add(time.Hour)) || len(s.Copies) != 1 {
		t.Fatalf("list entry: %+v", s)
	}
	if l.Latest != newerName || len(l.Foreign) != 0 {
		t.Fatalf("list: latest %q, foreign %+v", l.Latest, l.Foreign)
	}
	text := c.mustStore("list")
	for _, want := range []string{"NAME", "VERIFIED", newerName, olderName, "2 snapshot(s)", "latest verified: " + newerName} {
		if !strings.Contains(text.Stdout, want) {
			t.Fatalf("list text lacks %q:\n%s", want, text.Stdout)
		}
	}

	// get latest, into a file and to stdout.
	outDir := t.TempDir()
	out := filepath.Join(outDir, "restore.snap")
	get := c.mustStore("get", "latest", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, newerData) {
		t.Fatalf("get latest wrote %d bytes, not the newest archive (%s)", len(got), get)
	}
	if !strings.Contains(get.Stdout, "Fetched "+newerName) {
		t.Fatalf("get output: %s", get)
	}
	stdout := c.mustStore("get", olderName, "-")
	if stdout.Stdout != string(olderData) || !strings.Contains(stdout.Stderr, "Fetched "+olderName) {
		t.Fatalf("get to stdout: %d bytes, stderr %s", len(stdout.Stdout), stdout.Stderr)
	}
	// Into a directory: the snapshot's own name.
	c.mustStore("get", olderName, outDir)
	assertOnlyFiles(t, outDir, olderName, "restore.snap")

	verify := c.mustStore("verify", "--all")
	if strings.Count(verify.Stdout, "OK    ") != 2 {
		t.Fatalf("verify --all: %s", verify)
	}

	// A truncated archive is refused before anything is created.
	truncated := filepath.Join(dir, "truncated.snap")
	if err := os.WriteFile(truncated, newerData[:len(newerData)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if r := c.store("put", "--job", "consul-main", truncated); r.Code != ExitInvalid || !strings.Contains(r.Stderr, "nothing was stored") {
		t.Fatalf("put of a truncated archive: %s", r)
	}
	if l := c.list(); len(l.Snapshots) != 2 || len(l.Foreign) != 0 {
		t.Fatalf("after a refused put: %+v", l)
	}

	// Something that is not a snapshot is listed apart, never fetched or
	// verified.
	// Neither is an archive that was never committed (no record).
	raw(t, "notes.txt", []byte("restore drill on Friday"))
	uncommitted := "consul-main-20261201T090000Z-50.snap"
	raw(t, uncommitted, []byte("the first part of an upload"))
	l = c.list()
	if len(l.Snapshots) != 2 || len(l.Foreign) != 2 {
		t.Fatalf("list with foreign objects: %+v", l)
	}
	for _, f := range l.Foreign {
		if !(f.Name == "notes.txt" && f.Size == 23 && f.Problem == "") && !(f.Name == uncommitted && strings.Contains(f.Problem, "without")) {
			t.Fatalf("list: foreign object %+v", f)
		}
	}
	if r := c.mustStore("list"); !strings.Contains(r.Stdout, "Not snapshots") || !strings.Contains(r.Stdout, "notes.txt") || !strings.Contains(r.Stdout, uncommitted) {
		t.Fatalf("list text with foreign objects: %s", r)
	}
	for _, name := range []string{"notes.txt", uncommitted} {
		if r := c.store("get", name, "-"); r.Code == ExitOK || r.Stdout != "" {
			t.Fatalf("get of a foreign object: %s", r)
		}
	}
	if r := c.mustStore("verify", "--all"); strings.Count(r.Stdout, "OK    ") != 2 || strings.Contains(r.Stdout, "notes.txt") {
		t.Fatalf("verify --all with a foreign object: %s", r)
	}

	// The newest copy rots: get refuses it and writes nothing...
	raw(t, newerName, flipMiddle(newerData))
	for _, target := range []string{filepath.Join(outDir, "bad.snap"), out} {
		if r := c.store("get", newerName, target); r.Code != ExitInvalid || !strings.Contains(r.Stderr, "nothing written") {
			t.Fatalf("get of a corrupt snapshot: %s", r)
		}
	}
	assertOnlyFiles(t, outDir, olderName, "restore.snap")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, newerData) {
		t.Fatal("a refused get changed the existing file")
	}
	if r := c.store("get", newerName, "-"); r.Code != ExitInvalid || r.Stdout != "" {
		t.Fatalf("get of a corrupt snapshot to stdout: exit %d, %d bytes out\n%s", r.Code, len(r.Stdout), r.Stderr)
	}
	// ...verify fails with exit 3 and records it...
	if r := c.store("verify", newerName, olderName); r.Code != ExitInvalid || !strings.Contains(r.Stdout, "FAIL  "+newerName) || !strings.Contains(r.Stdout, "OK    "+olderName) {
		t.Fatalf("verify of a corrupt snapshot: %s", r)
	}
	if r := c.store("verify", "--all"); r.Code != ExitInvalid || !strings.Contains(r.Stderr, "1 of 2") {
		t.Fatalf("verify --all with a corrupt snapshot: %s", r)
	}
	l = c.list()
	if l.Snapshots[0].Name != newerName || l.Snapshots[0].Verified || l.Snapshots[0].VerifiedAt == nil || l.Latest != olderName {
		t.Fatalf("after verify failed: %+v, latest %q", l.Snapshots[0], l.Latest)
	}
	// ...and latest is now the older, good snapshot.
	get = c.mustStore("get", "latest", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, olderData) || !strings.Contains(get.Stdout, "Fetched "+olderName) {
		t.Fatalf("get latest after the newest rotted: %s", get)
	}

	// Unknown names.
	if r := c.store("get", "consul-main-20261201T120000Z-300.snap", out); r.Code != ExitError || !strings.Contains(r.Stderr, "no snapshot named") {
		t.Fatalf("get of an unknown snapshot: %s", r)
	}
	if r := c.store("verify", "consul-main-20261201T120000Z-300.snap"); r.Code != ExitError {
		t.Fatalf("verify of an unknown snapshot: %s", r)
	}
}

func TestStoreLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	c := &storeCLI{t: t, loc: dir}
	storeRoundTrip(t, c, func(t *testing.T, name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStoreS3(t *testing.T) {
	gw := versityBackups(t)
	c := &storeCLI{t: t, loc: "s3://backups/consul-main/?endpoint=" + gw.Endpoint + "&region=us-east-1&use_path_style=true"}
	storeRoundTrip(t, c, func(t *testing.T, name string, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := gw.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("backups"), Key: aws.String("consul-main/" + name),
			Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	})

	// Wrong credentials: a clear failure, without the secret.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-4c1d2e9f")
	r := c.store("list")
	if r.Code != ExitError || !strings.Contains(r.Stderr, "s3 store s3://backups/consul-main/") {
		t.Fatalf("list with a wrong secret: %s", r)
	}
	t.Logf("list with a wrong secret: %s", r.Stderr)
	if r := c.run("--log-level", "debug", "store", "get", "--store", c.loc, "latest", t.TempDir()); r.Code != ExitError {
		t.Fatalf("get with a wrong secret: %s", r)
	}
	c.assertNoSecrets(gw.SecretKey, "wrong-secret-4c1d2e9f")
}

func TestStoreAzure(t *testing.T) {
	az := servers.StartAzurite(t)
	az.SetEnv(t)
	az.CreateContainer(t, "backups")
	c := &storeCLI{t: t, loc: "azblob://backups/consul-main/?endpoint=" + az.Endpoint}
	storeRoundTrip(t, c, func(t *testing.T, name string, data []byte) {
		cc, err := az.ContainerClient("backups")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cc.NewBlockBlobClient("consul-main/"+name).UploadBuffer(ctx, data, nil); err != nil {
			t.Fatal(err)
		}
	})
	c.assertNoSecrets(servers.AzuriteKey)
}

func TestStoreUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "raftsnap.yml")
	if err := os.WriteFile(cfg, []byte(`jobs:
  - name: j
    type: snapshot
    source: {type: consul, address: http://127.0.0.1:8500}
    interval: 1h
    pruning: {keep: [{last_n: {count: 3}}]}
    store: {path: `+filepath.Join(dir, "store")+`}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"store"}, ExitUsage, "needs a subcommand"},
		{[]string{"store", "list"}, ExitUsage, "no store given"},
		{[]string{"store", "list", "--store", "ftp://x/y"}, ExitUsage, "s3://, azblob:// or gs://"},
		{[]string{"store", "list", "--store", "s3://Bad_Bucket/"}, ExitUsage, "not an S3 bucket name"},
		{[]string{"store", "list", "--store", "s3://user:secret@bucket/"}, ExitUsage, "credentials do not belong in the URL"},
		{[]string{"store", "list", "--config", cfg}, ExitUsage, "needs --job NAME"},
		{[]string{"store", "list", "--config", cfg, "--job", "x"}, ExitUsage, "no job named x with a store; jobs with a store: j"},
		{[]string{"store", "list", "--store", filepath.Join(dir, "none")}, ExitError, "does not exist"},
		{[]string{"store", "get", "--store", dir, "latest"}, ExitUsage, "expects NAME|latest and OUTFILE|-"},
		{[]string{"store", "get", "--store", dir, "latest", "-"}, ExitError, "no snapshot to fetch"},
		{[]string{"store", "verify", "--store", dir}, ExitUsage, "NAME... or --all"},
		{[]string{"store", "verify", "--store", dir, "--all", "x.snap"}, ExitUsage, "not both"},
		{[]string{"store", "put", "--store", dir, "x.snap"}, ExitUsage, "--job is required"},
		{[]string{"store", "put", "--store", dir, "--job", "j", filepath.Join(dir, "none.snap")}, ExitError, "no such file"},
		{[]string{"store", "put", "--store", dir, "--job", "j", cfg}, ExitInvalid, "nothing was stored"},
	} {
		r := raftsnap(t, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.inStderr) {
			t.Errorf("raftsnap %s: want exit %d with %q in stderr; got %s", strings.Join(tc.args, " "), tc.code, tc.inStderr, r)
		}
	}
	assertOnlyFiles(t, dir, "raftsnap.yml")
}

// TestStoreLatestNeedsAJob: a store holding several jobs' snapshots has
// no one latest; --job-filter picks.
func TestStoreLatestNeedsAJob(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	c := &storeCLI{t: t, loc: storeDir}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a, _ := writeStoreArchive(t, dir, "a.snap", "consul-main", 100, t0)
	b, bData := writeStoreArchive(t, dir, "b.snap", "nomad-main", 7, t0)
	c.mustStore("put", "--job", "consul-main", a)
	c.mustStore("put", "--job", "nomad-main", b)
	if r := c.store("get", "latest", "-"); r.Code != ExitUsage || !strings.Contains(r.Stderr, "consul-main, nomad-main") || !strings.Contains(r.Stderr, "--job-filter") {
		t.Fatalf("get latest over two jobs: %s", r)
	}
	if r := c.mustStore("get", "--job-filter", "nomad-main", "latest", "-"); r.Stdout != string(bData) {
		t.Fatalf("get latest of nomad-main: %s", r.Stderr)
	}
	if l := c.list(); len(l.Snapshots) != 2 || l.Latest != "" {
		t.Fatalf("list of two jobs: %+v", l)
	}
	r := c.mustStore("list", "--job-filter", "consul-main", "--format", "json")
	if !strings.Contains(r.Stdout, `"latest": "consul-main-20261201T100000Z-100.snap"`) || strings.Contains(r.Stdout, "nomad-main-") {
		t.Fatalf("list --job-filter: %s", r.Stdout)
	}
	// --name must be a name for the job and the archive's index.
	if r := c.store("put", "--job", "consul-main", "--name", "consul-main-20261201T100000Z-99.snap", a); r.Code != ExitUsage || !strings.Contains(r.Stderr, "index 100") {
		t.Fatalf("put --name with another index: %s", r)
	}
	c.mustStore("put", "--job", "consul-main", "--name", "consul-main-20261130T100000Z-100.snap", a)
}

// TestStoreConfigStores reads a job's two stores from the configuration:
// list shows which store holds each copy, --store picks one, get falls
// back to the other store's copy when the preferred one is corrupt, and
// put writes into both.
func TestStoreConfigStores(t *testing.T) {
	gw := versityBackups(t)
	dir := t.TempDir()
	local := filepath.Join(dir, "store")
	cfg := writeConsulMainConfig(t, dir, fmt.Sprintf(`stores:
      - {name: disk, type: local, path: %s}
      - {name: offsite, type: s3, bucket: backups, prefix: consul-main/, endpoint: %s, path_style: true}`, local, gw.Endpoint),
		"{last_n: {count: 3}}", "")
	c := &storeCLI{t: t}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a, aData := writeStoreArchive(t, dir, "a.snap", "consul-main", 100, t0)
	b, _ := writeStoreArchive(t, dir, "b.snap", "consul-main", 200, t0.Add(time.Hour))
	job := []string{"--config", cfg, "--job", "consul-main"}
	cmd := func(sub string, args ...string) cliResult {
		return c.run(append(append([]string{"store", sub}, job...), args...)...)
	}
	if r := cmd("put", a); r.Code != ExitOK || strings.Count(r.Stdout, "Stored ") != 2 {
		t.Fatalf("put into both stores: %s", r)
	}
	if r := cmd("put", "--store", "offsite", b); r.Code != ExitOK || strings.Count(r.Stdout, "Stored ") != 1 {
		t.Fatalf("put into one store: %s", r)
	}
	r := cmd("list", "--format", "json")
	var l storeListJSON
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil || r.Code != ExitOK {
		t.Fatalf("list: %v\n%s", err, r)
	}
	if len(l.Stores) != 2 || len(l.Snapshots) != 2 || len(l.Snapshots[0].Copies) != 1 || l.Snapshots[0].Store != "offsite" ||
		len(l.Snapshots[1].Copies) != 2 || l.Snapshots[1].Copies[0].Store != "disk" || l.Snapshots[1].Copies[1].Store != "offsite" {
		t.Fatalf("list of two stores: %s", r.Stdout)
	}
	if r := cmd("list"); !strings.Contains(r.Stdout, "STORES") || !strings.Contains(r.Stdout, "disk, offsite") {
		t.Fatalf("list text of two stores: %s", r)
	}
	if r := cmd("list", "--store", "disk", "--format", "json"); !strings.Contains(r.Stdout, "-100.snap") || strings.Contains(r.Stdout, "-200.snap") {
		t.Fatalf("list --store disk: %s", r)
	}
	if r := cmd("list", "--store", "nowhere"); r.Code != ExitUsage || !strings.Contains(r.Stderr, "its stores: disk, offsite") {
		t.Fatalf("list --store of an unknown store: %s", r)
	}
	// The local copy rots: get takes the bucket's, and says so.
	aName := "consul-main-20261201T100000Z-100.snap"
	if err := os.WriteFile(filepath.Join(local, aName), flipMiddle(aData), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.snap")
	r = cmd("get", aName, out)
	if got, _ := os.ReadFile(out); r.Code != ExitOK || !bytes.Equal(got, aData) || !strings.Contains(r.Stdout, "from offsite") || !strings.Contains(r.Stderr, "the copy in disk") {
		t.Fatalf("get with a corrupt local copy: %s", r)
	}
	if r := cmd("verify", aName); r.Code != ExitInvalid || !strings.Contains(r.Stdout, "FAIL  "+aName+"  disk") || !strings.Contains(r.Stdout, "OK    "+aName+"  offsite") {
		t.Fatalf("verify of two copies, one corrupt: %s", r)
	}
	// On a new machine the local store is not there: the bucket is read.
	if err := os.RemoveAll(local); err != nil {
		t.Fatal(err)
	}
	r = cmd("get", "latest", out)
	if r.Code != ExitOK || !strings.Contains(r.Stderr, "store left out") || !strings.Contains(r.Stdout, "Fetched consul-main-20261201T110000Z-200.snap from offsite") {
		t.Fatalf("get latest without the local store: %s", r)
	}
	c.assertNoSecrets(gw.SecretKey)
}

// TestStorePutMultipart: an archive larger than a part goes up as a
// multipart upload that is completed only after the second verification
// pass; when that pass fails (the file is not the one first verified), the
// upload is abandoned: nothing listed, no incomplete upload left.
func TestStorePutMultipart(t *testing.T) {
	gw := versityBackups(t)
	url := "s3://backups/consul-main/?endpoint=" + gw.Endpoint + "&region=us-east-1&path_style=true&part_size=5242880"
	dir := t.TempDir()
	good, report := storetest.Archive(t, "consul-main", 2, 100, 12<<20)
	path := filepath.Join(dir, "big.snap")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &storeCLI{t: t, loc: url}
	c.mustStore("put", "--job", "consul-main", path)
	name := c.list().Snapshots[0].Name
	if r := c.mustStore("get", name, "-"); r.Stdout != string(good) {
		t.Fatalf("get of the multipart upload returned %d bytes, want %d", len(r.Stdout), len(good))
	}

	// The file changes between the first pass and the upload.
	if err := os.WriteFile(path, flipMiddle(good), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := openStores(&globalOptions{logger: testkit.Logger(t, slog.LevelDebug)}, &storeOptions{store: url}, openWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	st := set.stores[0].st
	other := "consul-main-20261201T100000Z-100.snap"
	_, err = putFile(context.Background(), st, "consul-main", other, path, report, storetest.EntryFor(report, time.Now()))
	var verr *store.VerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("put of a file that changed: %v, want a verification error", err)
	}
	if l := c.list(); len(l.Snapshots) != 1 || len(l.Foreign) != 0 {
		t.Fatalf("after an abandoned put: %+v", l)
	}
	if keys, err := gw.IncompleteUploads("backups"); err != nil || len(keys) > 0 {
		t.Fatalf("incomplete uploads left: %v (%v)", keys, err)
	}
}

// versityBackups starts a versitygw for the test with a bucket "backups",
// and points the AWS environment variables at it.
func versityBackups(t *testing.T) *servers.S3 {
	t.Helper()
	gw := servers.StartVersity(t)
	gw.SetEnv(t)
	gw.CreateBucket(t, "backups")
	return gw
}
