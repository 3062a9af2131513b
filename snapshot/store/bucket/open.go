package bucket

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/s3blob"
	"google.golang.org/api/option"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Open makes the store cfg describes. It contacts nothing: credentials are
// found, and the client made, at the first operation, so that a credential
// that is missing now fails that operation (and the job that asked), not
// the daemon, and works once it is there. Credentials come from each
// cloud's standard chain, never from cfg:
//   - s3: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//     AWS_SESSION_TOKEN), the shared config and credentials files
//     (~/.aws/config, ~/.aws/credentials; cfg.Profile or AWS_PROFILE), web
//     identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), then the ECS
//     or EC2 instance metadata service;
//   - azure: AZURE_STORAGE_CONNECTION_STRING; or the account (cfg.Account,
//     else AZURE_STORAGE_ACCOUNT) with AZURE_STORAGE_KEY or
//     AZURE_STORAGE_SAS_TOKEN; else Azure's default credential chain
//     (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload
//     identity, managed identity, the az CLI's login);
//   - gcs: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
//     gcloud's login, the metadata server); none for an emulator endpoint.
func Open(cfg Config, opts Options, logger *slog.Logger) (*Store, error) {
	cfg.Normalize()
	if ps := cfg.Check(); len(ps) > 0 {
		return nil, fmt.Errorf("%s store %s: %s: %s", cfg.Provider, cfg.Location(), ps[0].Key, ps[0].Msg)
	}
	s := New(nil, cfg, opts, logger)
	s.opener = &opener{open: func(ctx context.Context) (*blob.Bucket, error) { return openBucket(ctx, cfg) }}
	return s, nil
}

// opener opens the bucket at first use, again after a failure.
type opener struct {
	mu   sync.Mutex
	open func(context.Context) (*blob.Bucket, error)
}

// bucket returns the opened bucket, opening it now if needed.
func (s *Store) bucket(ctx context.Context) (*blob.Bucket, error) {
	if s.opener == nil {
		return s.b, nil
	}
	s.opener.mu.Lock()
	defer s.opener.mu.Unlock()
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	if b != nil {
		return b, nil
	}
	b, err := s.opener.open(ctx)
	if err != nil {
		kind := classify(err)
		if kind == store.KindOther {
			kind = store.KindConfig
		}
		return nil, &store.Error{Store: s.String(), Op: "open", Kind: kind, Err: scrub(err)}
	}
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
	return b, nil
}

// httpClient is the client every provider's SDK sends through: bounded
// connection set-up and answers, so that a store that hangs fails the
// operation instead of holding it forever; proxies from the environment.
func httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	// An upload's answer comes once its part is sent and stored.
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}

func openBucket(ctx context.Context, cfg Config) (*blob.Bucket, error) {
	switch cfg.Provider {
	case S3:
		return openS3(ctx, cfg)
	case Azure:
		return openAzure(ctx, cfg)
	case GCS:
		return openGCS(ctx, cfg)
	}
	return nil, fmt.Errorf("unknown object store type %q", cfg.Provider)
}

func openS3(ctx context.Context, cfg Config) (*blob.Bucket, error) {
	// The SDK's own buildable client, so that AWS_CA_BUNDLE (a private CA)
	// still applies, with the same bounds as httpClient's.
	client := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout, d.KeepAlive = 10*time.Second, 30*time.Second }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = 10 * time.Second
			t.ResponseHeaderTimeout = 2 * time.Minute
			t.MaxIdleConnsPerHost = 32
		})
	load := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region), awsconfig.WithHTTPClient(client)}
	if cfg.Profile != "" {
		load = append(load, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	checksums := aws.RequestChecksumCalculationWhenSupported
	if cfg.Endpoint != "" {
		// S3-compatible servers may not know the newer checksum headers.
		checksums = aws.RequestChecksumCalculationWhenRequired
		load = append(load, awsconfig.WithRequestChecksumCalculation(checksums),
			awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	s3client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return s3blob.OpenBucket(ctx, s3client, cfg.Bucket, &s3blob.Options{
		EncryptionType:             s3types.ServerSideEncryption(cfg.SSE),
		KMSEncryptionID:            cfg.KMSKeyID,
		RequestChecksumCalculation: checksums,
	})
}

func openAzure(ctx context.Context, cfg Config) (*blob.Bucket, error) {
	clientOpts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: httpClient()}}
	if cs := firstEnv("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"); cs != "" {
		client, err := container.NewClientFromConnectionString(cs, cfg.Bucket, clientOpts)
		if err != nil {
			return nil, errors.New("AZURE_STORAGE_CONNECTION_STRING cannot be used (not shown: it holds the account key)")
		}
		return azureblob.OpenBucket(ctx, client, nil)
	}
	account := cfg.Account
	if account == "" {
		account = os.Getenv("AZURE_STORAGE_ACCOUNT")
	}
	service := cfg.Endpoint
	if service == "" {
		if account == "" {
			return nil, errors.New("no storage account: set account in the store, or AZURE_STORAGE_ACCOUNT")
		}
		service = "https://" + account + ".blob.core.windows.net"
	} else if account == "" {
		// Azurite and other emulators take the account as the path.
		if u, err := url.Parse(service); err == nil {
			account = strings.Trim(u.Path, "/")
		}
	}
	containerURL, err := url.JoinPath(service, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	var client *container.Client
	switch key, sas := os.Getenv("AZURE_STORAGE_KEY"), os.Getenv("AZURE_STORAGE_SAS_TOKEN"); {
	case key != "":
		cred, err := azblob.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, errors.New("AZURE_STORAGE_KEY is not a valid account key")
		}
		client, err = container.NewClientWithSharedKeyCredential(containerURL, cred, clientOpts)
		if err != nil {
			return nil, err
		}
	case sas != "":
		client, err = container.NewClientWithNoCredential(containerURL+"?"+strings.TrimPrefix(sas, "?"), clientOpts)
		if err != nil {
			return nil, err
		}
	default:
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: policy.ClientOptions{Transport: httpClient()}})
		if err != nil {
			return nil, fmt.Errorf("no Azure credential: set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or use a managed identity: %w", err)
		}
		client, err = container.NewClient(containerURL, cred, clientOpts)
		if err != nil {
			return nil, err
		}
	}
	return azureblob.OpenBucket(ctx, client, nil)
}

func openGCS(ctx context.Context, cfg Config) (*blob.Bucket, error) {
	opts := []option.ClientOption{option.WithHTTPClient(httpClient())}
	if cfg.Endpoint != "" {
		// An emulator (fake-gcs-server) takes no credentials.
		opts = []option.ClientOption{option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/") + "/storage/v1/"), option.WithoutAuthentication()}
	} else {
		// The HTTP client above carries no credentials: let the library
		// find the default ones and wrap its own transport.
		opts = nil
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("no Google Cloud credentials (Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, or the metadata server): %w", err)
	}
	return gcsblob.OpenBucket(ctx, nil, cfg.Bucket, &gcsblob.Options{Client: client})
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// listETag is a listed object's ETag where the provider gives one.
func listETag(obj *blob.ListObject) string {
	var s3o s3types.Object
	if obj.As(&s3o) {
		return aws.ToString(s3o.ETag)
	}
	var az container.BlobItem
	if obj.As(&az) {
		if az.Properties != nil && az.Properties.ETag != nil {
			return string(*az.Properties.ETag)
		}
		return ""
	}
	var g storage.ObjectAttrs
	if obj.As(&g) {
		return g.Etag
	}
	if obj.MD5 != nil {
		return hex.EncodeToString(obj.MD5)
	}
	return ""
}
