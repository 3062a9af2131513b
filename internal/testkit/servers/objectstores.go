package servers

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/raftsnap/raftsnap/internal/testkit"
	"github.com/raftsnap/raftsnap/nethelpers"
)

// Object store servers for tests, pinned as in .ci/build-servers.
const (
	VersityVersion = "1.8.0"
	AzuriteVersion = "3.35.0"
)

// Azurite's well-known development account (public, documented by
// Microsoft; Azurite accepts nothing else by default).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// S3 is a versitygw S3 gateway on loopback (posix backend in a temp dir).
type S3 struct {
	*gateway
	// Endpoint is the gateway's base URL, e.g. http://127.0.0.1:41234.
	Endpoint             string
	AccessKey, SecretKey string
}

// Azurite is an Azurite blob service on loopback.
type Azurite struct {
	*gateway
	// Endpoint is the service URL with the account: http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
}

// gateway is an object store server (versitygw, Azurite) on one free
// loopback port with its data in Dir/data, which Restart starts again on
// the same port and data, as after a crash.
type gateway struct {
	*Server
	bin  string
	args []string
}

// launchGateway runs kind from bin with its data in dir/data on a free
// loopback port, and waits until it answers; args is its command line for
// that port and data directory. The gateway is returned, with the error,
// once it was started.
func launchGateway(kind, bin, dir string, args func(port int, data string) []string) (*gateway, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	ports, err := nethelpers.FreeLoopbackPorts(1)
	if err != nil {
		return nil, err
	}
	g := &gateway{Server: &Server{kind: kind, Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}, bin: bin, args: args(ports[0], data)}
	return g, g.launch()
}

func (g *gateway) launch() error {
	if err := g.start(g.bin, true, g.args...); err != nil {
		return err
	}
	return g.killOn(g.waitTCP())
}

// Restart kills the server (as a crash would) and starts it again on the
// same port and data, waiting until it answers.
func (g *gateway) Restart() error {
	if err := g.Kill(); err != nil {
		return err
	}
	return g.launch()
}

// objectStoreBinary finds versitygw or azurite-blob: $RAFTSNAP_VERSITYGW_BIN /
// $RAFTSNAP_AZURITE_BIN, else the tools directory (.ci/build-servers).
func objectStoreBinary(name string) (string, error) {
	envVar := "RAFTSNAP_" + strings.ToUpper(name) + "_BIN"
	if p := os.Getenv(envVar); p != "" {
		return p, checkExecutable(p, envVar)
	}
	dir := toolsDir()
	var candidates []string
	switch name {
	case "versitygw":
		candidates = []string{filepath.Join(dir, "versitygw"), filepath.Join(dir, "versitygw-"+VersityVersion)}
	case "azurite":
		candidates = []string{filepath.Join(dir, "azurite-blob"), filepath.Join(dir, "npm", "node_modules", ".bin", "azurite-blob")}
	}
	for _, p := range candidates {
		if checkExecutable(p, envVar) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found at %s: run .ci/build-servers (or set %s)", name, candidates[0], envVar)
}

func checkExecutable(p, envVar string) error {
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable (%s)", p, envVar)
	}
	return nil
}

func toolsDir() string {
	if dir := os.Getenv("RAFTSNAP_TOOLS_DIR"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "raftsnap-tools")
}

// VersityBinaryPath is the versitygw binary ($RAFTSNAP_VERSITYGW_BIN, else
// the tools directory), or an error that says how to build it: for
// programs such as the bench; tests call VersityBinary.
func VersityBinaryPath() (string, error) { return objectStoreBinary("versitygw") }

// VersityBinary and AzuriteBinary are objectStoreBinary for a test: a
// missing binary fails it (testkit.Missing), -short skips it.
func VersityBinary(t testing.TB) string {
	t.Helper()
	testkit.Integration(t, "a real S3 server (versitygw)")
	p, err := VersityBinaryPath()
	if err != nil {
		testkit.Missing(t, err.Error())
	}
	return p
}

func AzuriteBinary(t testing.TB) string {
	t.Helper()
	testkit.Integration(t, "a real Azure Blob server (azurite)")
	p, err := objectStoreBinary("azurite")
	if err != nil {
		testkit.Missing(t, err.Error())
	}
	// azurite-blob is a node script.
	if _, err := exec.LookPath("node"); err != nil {
		testkit.Missing(t, "node is not installed (azurite runs on it): apt-get install nodejs")
	}
	return p
}

// StartVersity runs versitygw for the test and stops it when the test ends.
func StartVersity(t testing.TB) *S3 {
	t.Helper()
	bin := VersityBinary(t)
	s, err := LaunchVersity(bin, t.TempDir())
	stopAtCleanup(t, serverOf(s), err)
	return s
}

// LaunchVersity runs versitygw in dir (the buckets live in dir/data) on a
// free loopback port with random credentials, and waits until it answers.
// The caller stops it with Kill.
func LaunchVersity(bin, dir string) (*S3, error) {
	s := &S3{AccessKey: "raftsnap-test", SecretKey: randomSecret()}
	g, err := launchGateway("versitygw", bin, dir, func(port int, data string) []string {
		return []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet", "posix", data}
	})
	if g == nil {
		return nil, err
	}
	s.gateway, s.Endpoint = g, g.Addr
	return s, err
}

// Env is the environment a client of this gateway needs (credentials in
// AWS's standard variables); AWS_CA_BUNDLE and proxies are dropped.
func (s *S3) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// SetEnv puts Env into the test's environment.
func (s *S3) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	os.Unsetenv("AWS_CA_BUNDLE")
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE")
}

// Client is an S3 client for the gateway (path-style), for set-up and
// inspection the code under test does not do.
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{Proxy: nil}},
	})
}

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.MakeBucket(name); err != nil {
		t.Fatal(err)
	}
}

// MakeBucket creates a bucket (for programs).
func (s *S3) MakeBucket(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("versitygw: creating bucket %s: %w", name, err)
	}
	return nil
}

// IncompleteUploads lists the keys of the multipart uploads under way (or
// abandoned without an abort) in a bucket.
func (s *S3) IncompleteUploads(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("versitygw: listing the uploads of %s: %w", name, err)
	}
	var keys []string
	for _, up := range out.Uploads {
		keys = append(keys, aws.ToString(up.Key))
	}
	return keys, nil
}

// Age makes everything in bucket name look older by d, as if that much
// time had passed since it was written: its objects and its incomplete
// multipart uploads (versitygw's posix backend dates both by their files'
// modification times). A test of what is cleaned once stale needs no wait.
func (s *S3) Age(name string, d time.Duration) error {
	return filepath.WalkDir(filepath.Join(s.Dir, "data", name), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		at := info.ModTime().Add(-d)
		return os.Chtimes(p, at, at)
	})
}

// StartAzurite runs azurite-blob for the test and stops it when the test
// ends.
func StartAzurite(t testing.TB) *Azurite {
	t.Helper()
	bin := AzuriteBinary(t)
	a, err := LaunchAzurite(bin, t.TempDir())
	stopAtCleanup(t, serverOf(a), err)
	return a
}

// LaunchAzurite runs azurite-blob with its data in dir on a free loopback
// port, with telemetry off (it would reach the internet otherwise), and
// waits until it answers.
func LaunchAzurite(bin, dir string) (*Azurite, error) {
	// --skipApiVersionCheck: the Azure SDK speaks a newer API version than
	// Azurite 3.35 declares; the blob operations used are the same.
	g, err := launchGateway("azurite", bin, dir, func(port int, data string) []string {
		return []string{"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", data, "--disableTelemetry", "--skipApiVersionCheck", "--silent"}
	})
	if g == nil {
		return nil, err
	}
	return &Azurite{gateway: g, Endpoint: g.Addr + "/" + AzuriteAccount}, err
}

// Env is the environment a client of this Azurite needs: the account and
// its key in Azure's standard variables.
func (a *Azurite) Env() []string {
	return []string{"AZURE_STORAGE_ACCOUNT=" + AzuriteAccount, "AZURE_STORAGE_KEY=" + AzuriteKey}
}

// SetEnv puts Env into the test's environment (and clears the other Azure
// credential variables).
func (a *Azurite) SetEnv(t testing.TB) {
	t.Helper()
	for _, k := range []string{"AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for _, kv := range a.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// ContainerClient is a client of one container, for set-up and inspection.
func (a *Azurite) ContainerClient(name string) (*container.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		return nil, err
	}
	return container.NewClientWithSharedKeyCredential(a.Endpoint+"/"+name, cred,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: &http.Transport{Proxy: nil}}}})
}

// CreateContainer creates a container.
func (a *Azurite) CreateContainer(t testing.TB, name string) {
	t.Helper()
	if err := a.MakeContainer(name); err != nil {
		t.Fatal(err)
	}
}

// MakeContainer creates a container (for programs).
func (a *Azurite) MakeContainer(name string) error {
	c, err := a.ContainerClient(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		return fmt.Errorf("azurite: creating container %s: %w", name, err)
	}
	return nil
}

// waitTCP waits until the server accepts connections on Addr.
func (s *Server) waitTCP() error {
	host := strings.TrimPrefix(s.Addr, "http://")
	return s.WaitUntil("listening", StartTimeout, func() bool {
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// serverOf is the *Server of a started S3 or Azurite, nil when it did not
// start.
func serverOf(x interface{ server() *Server }) *Server {
	if x == nil {
		return nil
	}
	return x.server()
}

func (s *S3) server() *Server {
	if s == nil {
		return nil
	}
	return s.Server
}

func (a *Azurite) server() *Server {
	if a == nil {
		return nil
	}
	return a.Server
}

func randomSecret() string {
	u, err := newUUID()
	if err != nil {
		return "raftsnap-test-secret"
	}
	return strings.ReplaceAll(u, "-", "")
}
