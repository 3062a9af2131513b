package bucket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"google.golang.org/api/googleapi"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// AWS error codes by what they mean for a job.
var (
	awsDenied = map[string]bool{
		"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "ExpiredToken": true,
		"InvalidToken": true, "TokenRefreshRequired": true, "AllAccessDisabled": true, "AccountProblem": true,
		"InvalidSecurity": true, "UnauthorizedAccess": true, "Forbidden": true, "InvalidObjectState": true,
		"KMS.DisabledException": true, "KMS.NotFoundException": true, "KMS.AccessDeniedException": true,
	}
	awsConfig = map[string]bool{
		"RequestTimeTooSkewed": true, "AuthorizationHeaderMalformed": true, "PermanentRedirect": true,
		"InvalidBucketName": true, "InvalidStorageClass": true, "InvalidArgument": true, "InvalidRequest": true,
		"NotImplemented": true, "EntityTooLarge": true,
	}
	awsUnavailable = map[string]bool{
		"SlowDown": true, "ServiceUnavailable": true, "InternalError": true, "RequestTimeout": true,
		"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	}
	azureDenied = map[string]bool{
		"AuthenticationFailed": true, "AuthorizationFailure": true, "AuthorizationPermissionMismatch": true,
		"InsufficientAccountPermissions": true, "AccountIsDisabled": true, "AuthorizationProtocolMismatch": true,
		"AuthorizationSourceIPMismatch": true, "KeyVaultEncryptionKeyNotFound": true,
	}
)

// classify says what kind of failure err is (see store.ErrorKind).
func classify(err error) store.ErrorKind {
	var (
		apiErr   smithy.APIError
		awsResp  *awshttp.ResponseError
		signErr  *v4.SigningError
		azResp   *azcore.ResponseError
		azAuth   *azidentity.AuthenticationFailedError
		azNoCred interface{ NonRetriable() }
		gErr     *googleapi.Error
		netErr   net.Error
	)
	status := 0
	switch {
	case errors.As(err, &awsResp):
		status = awsResp.HTTPStatusCode()
	case errors.As(err, &azResp):
		status = azResp.StatusCode
	case errors.As(err, &gErr):
		status = gErr.Code
	}
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		return store.KindNoBucket
	case errors.As(err, &apiErr):
		code := apiErr.ErrorCode()
		switch {
		case code == "NoSuchBucket":
			return store.KindNoBucket
		case awsDenied[code]:
			return store.KindDenied
		case awsConfig[code]:
			return store.KindConfig
		case awsUnavailable[code]:
			return store.KindUnavailable
		}
	case errors.As(err, &signErr):
		// No credentials could be found or refreshed.
		return store.KindConfig
	case errors.As(err, &azAuth):
		return store.KindDenied
	case errors.As(err, &azResp):
		switch {
		case azResp.ErrorCode == "ContainerNotFound":
			return store.KindNoBucket
		case azureDenied[azResp.ErrorCode]:
			return store.KindDenied
		}
	case errors.As(err, &azNoCred):
		return store.KindConfig
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return store.KindDenied
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return store.KindUnavailable
	case status == http.StatusBadRequest || status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented:
		return store.KindConfig
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return store.KindUnavailable
	case errors.As(err, &netErr):
		return store.KindUnavailable
	}
	return store.KindOther
}

// isNoBucket tells a missing bucket from a missing object.
func isNoBucket(err error) bool { return err != nil && classify(err) == store.KindNoBucket }

// secretParams matches URL query parameters that carry a credential: an
// Azure SAS signature, an S3 presigned URL's.
var secretParams = regexp.MustCompile(`(?i)((?:^|[?&;\s])(?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|se|sp|sv|skoid|sktid|skt|ske|sks|skv|st|spr|srt|ss|code|token|access_token)=)[^&\s"']*`)

// scrub removes credentials from a provider's error text (an Azure error
// quotes its request URL, which carries a SAS token's signature), keeping
// the error's chain for errors.Is and errors.As.
func scrub(err error) error {
	msg := err.Error()
	clean := secretParams.ReplaceAllString(msg, "${1}REDACTED")
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }
