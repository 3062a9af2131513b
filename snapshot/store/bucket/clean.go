package bucket

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"

	"github.com/raftsnap/raftsnap/snapshot/store"
)

// Clean implements store.Cleaner. It removes, under the store's prefix and
// for the named jobs (every job when none is named), what interrupted
// writes left behind, once older than the grace period (Options.StaleAfter)
// and not being written by this process:
//   - incomplete multipart uploads (S3; Azure drops uncommitted blocks and
//     GCS abandoned resumable uploads by themselves after a week);
//   - archives without their manifest (a crash between completing the
//     upload and writing the manifest, or in a delete);
//   - manifests without their archive (only a hand edit makes one).
//
// Only names of the snapshot form are touched, so anything else under the
// prefix (another tool's files) is left alone, whatever its age.
func (s *Store) Clean(ctx context.Context, jobs []string) ([]string, error) {
	cutoff := time.Now().Add(-s.opts.StaleAfter)
	ours := func(name string) bool {
		job, _, _, ok := store.ParseName(strings.TrimSuffix(strings.TrimSuffix(name, ManifestSuffix), store.EncryptedSuffix))
		return ok && (len(jobs) == 0 || slices.Contains(jobs, job))
	}
	var removed []string
	var errs []error
	if s.cfg.Provider == S3 {
		r, err := s.abortUploads(ctx, cutoff, ours)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Always a fresh listing, which later Lists reuse: a job cleans first
	// when it starts or becomes active (ha), and must then see what other
	// agents stored while its listing was cached.
	l, err := s.listCached(ctx, true)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return removed, err
	}
	for _, f := range l.foreign {
		obj := l.objects[f.Name]
		if obj == nil || obj.IsDir || !ours(f.Name) || !obj.ModTime.Before(cutoff) {
			continue
		}
		// An encrypted archive (NAME.snap.age) has NAME.snap's manifest.
		archive := strings.TrimSuffix(strings.TrimSuffix(f.Name, ManifestSuffix), store.EncryptedSuffix)
		isOrphanArchive := !isManifest(f.Name) && l.objects[archive+ManifestSuffix] == nil
		isOrphanManifest := isManifest(f.Name) && l.objects[archive] == nil && l.objects[archive+store.EncryptedSuffix] == nil
		if !isOrphanArchive && !isOrphanManifest {
			continue // damaged, not left over: the operator's to look at
		}
		if s.writing(archive) {
			continue
		}
		s.Requests.Delete.Add(1)
		if err := b.Delete(ctx, s.key(f.Name)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			errs = append(errs, s.wrap("clean", f.Name, err))
			continue
		}
		what := "archive without its manifest"
		if isOrphanManifest {
			what = "manifest without its archive"
		}
		s.logger.Warn("removed a leftover of an interrupted write: "+what, "object", s.key(f.Name), "modified", obj.ModTime)
		removed = append(removed, f.Name)
	}
	if len(removed) > 0 {
		s.mu.Lock()
		s.listing = nil // the next List lists again
		s.mu.Unlock()
	}
	return removed, errors.Join(errs...)
}

// abortUploads aborts the incomplete multipart uploads of our names
// started before cutoff.
func (s *Store) abortUploads(ctx context.Context, cutoff time.Time, ours func(string) bool) ([]string, error) {
	b, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	var client *s3.Client
	if !b.As(&client) {
		return nil, nil
	}
	var removed []string
	var errs []error
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.cfg.Prefix)}
	for {
		s.Requests.List.Add(1)
		out, err := client.ListMultipartUploads(ctx, in)
		if err != nil {
			return removed, errors.Join(append(errs, s.wrap("clean", "", err))...)
		}
		for _, up := range out.Uploads {
			key := aws.ToString(up.Key)
			name, ok := strings.CutPrefix(key, s.cfg.Prefix)
			if !ok || strings.Contains(name, "/") || !ours(name) || up.Initiated == nil || !up.Initiated.Before(cutoff) {
				continue
			}
			if s.writing(name) {
				continue
			}
			s.Requests.Abort.Add(1)
			_, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.cfg.Bucket), Key: up.Key, UploadId: up.UploadId})
			var apiErr smithy.APIError
			if err != nil && !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload") {
				// The others are still worth aborting.
				errs = append(errs, s.wrap("clean", name, err))
				if ctx.Err() != nil {
					return removed, errors.Join(errs...)
				}
				continue
			}
			s.logger.Warn("aborted an incomplete upload left by an interrupted write", "object", key, "initiated", up.Initiated)
			removed = append(removed, name+" (incomplete upload)")
		}
		if !aws.ToBool(out.IsTruncated) {
			return removed, errors.Join(errs...)
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
