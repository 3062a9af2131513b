package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftsnap/raftsnap/internal/testkit"
)

// consulHeader and nomadHeader are the state.bin headers statebin.Sniff
// tells apart.
var (
	consulHeader = []byte{0x81, 0xa9, 'L', 'a', 's', 't', 'I', 'n', 'd', 'e', 'x', 0xcd, 0x04, 0xd2}
	nomadHeader  = []byte{0x80}
)

// drain reads s to its end or first error with small reads, as an HTTP
// transport does, and returns what was released.
func drain(t *testing.T, s *SendReader) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 7001)
	for {
		n, err := s.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

func TestSendReaderReleasesExactlyTheVerifiedArchive(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tc := range []struct {
		name  string
		state []byte
		want  Flavor
	}{
		{"empty state", nil, FlavorOther},
		{"small consul", testkit.Noise(consulHeader, 3000, 1), FlavorConsul},
		{"nomad, many chunks", testkit.Noise(nomadHeader, 3*DefaultHoldBack+12345, 2), FlavorNomad},
		{"other", testkit.Noise([]byte(`{"json":true}`), 5*chunkSize, 3), FlavorOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive, written := writeTestArchive(t, tc.state)
			var heads int
			s := NewSendReader(context.Background(), bytes.NewReader(archive), SendOptions{
				Head: func(h *Head) error {
					heads++
					if h.Meta.Index != 1234 || h.Flavor != tc.want {
						return fmt.Errorf("head %+v", h)
					}
					return nil
				},
			})
			defer s.Close()
			out, err := drain(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, archive) || s.Sent() != int64(len(archive)) {
				t.Fatalf("released %d bytes (Sent %d), want the %d of the archive, unchanged", len(out), s.Sent(), len(archive))
			}
			rep, flavor, err := s.Result()
			if err != nil || rep.ArchiveSHA256 != sha256Hex(archive) || rep.Meta.Index != written.Meta.Index || flavor != tc.want || heads != 1 {
				t.Fatalf("Result = %+v, %q, %v; Head called %d times", rep, flavor, err, heads)
			}
		})
	}
}

// damage returns ways to spoil a valid archive that are found only at its
// end, the case the held-back tail exists for.
func damagedAtTheEnd(t *testing.T, archive []byte) map[string][]byte {
	crc := bytes.Clone(archive)
	crc[len(crc)-6] ^= 0x40 // inside the gzip trailer's CRC-32
	return map[string][]byte{
		// Go's and Consul's gzip readers accept a second, empty member:
		// sent whole, this archive would be restored.
		"second gzip member": testkit.WithEmptyGzipMember(archive),
		"trailing garbage":   append(bytes.Clone(archive), "garbage"...),
		"trailer CRC":        crc,
		"truncated":          archive[:len(archive)-3],
	}
}

func TestSendReaderNeverReleasesTheWholeOfABadArchive(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 3*DefaultHoldBack, 4))
	for name, bad := range damagedAtTheEnd(t, archive) {
		t.Run(name, func(t *testing.T) {
			s := NewSendReader(context.Background(), bytes.NewReader(bad), SendOptions{})
			defer s.Close()
			out, err := drain(t, s)
			if !VerificationFailed(err) {
				t.Fatalf("error %v, want the archive's verification failure", err)
			}
			// It streamed (one pass), and held back at least the tail.
			if len(out) == 0 || int64(len(out)) > int64(len(bad))-DefaultHoldBack || !bytes.Equal(out, bad[:len(out)]) {
				t.Fatalf("released %d of %d bytes, want a prefix of at most %d", len(out), len(bad), len(bad)-DefaultHoldBack)
			}
			if _, _, rerr := s.Result(); !errors.Is(rerr, err) {
				t.Fatalf("Result error %v, want the read error %v", rerr, err)
			}
			// The error stays.
			if n, again := s.Read(make([]byte, 10)); n != 0 || !errors.Is(again, err) {
				t.Fatalf("Read after the error: %d, %v", n, again)
			}
		})
	}
}

func TestSendReaderHoldBackOption(t *testing.T) {
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 600<<10, 5))
	bad := damagedAtTheEnd(t, archive)["trailer CRC"]
	for _, hold := range []int{1, 64 << 10, len(bad)} {
		s := NewSendReader(context.Background(), bytes.NewReader(bad), SendOptions{HoldBack: hold})
		out, err := drain(t, s)
		s.Close()
		if !VerificationFailed(err) || len(out) > len(bad)-hold {
			t.Fatalf("hold %d: released %d of %d bytes, err %v", hold, len(out), len(bad), err)
		}
		if hold == len(bad) && len(out) != 0 {
			t.Fatalf("an archive no longer than the hold-back released %d bytes before it verified", len(out))
		}
	}
}

func TestSendReaderHeadRefusalReleasesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive, _ := writeTestArchive(t, testkit.Noise(nomadHeader, 8*DefaultHoldBack, 6))
	refusal := errors.New("not a consul snapshot")
	src := &countingReader{r: bytes.NewReader(archive)}
	s := NewSendReader(context.Background(), src, SendOptions{Head: func(h *Head) error {
		if h.Flavor != FlavorNomad {
			t.Errorf("head flavour %q", h.Flavor)
		}
		return refusal
	}})
	defer s.Close()
	out, err := drain(t, s)
	if !errors.Is(err, refusal) || len(out) != 0 || s.Sent() != 0 || VerificationFailed(err) {
		t.Fatalf("released %d bytes, error %v; want none and the refusal", len(out), err)
	}
	// Decided on the head, not after reading the whole archive.
	if read := src.n; read > int64(len(archive))/2 {
		t.Fatalf("read %d of %d bytes before refusing the head", read, len(archive))
	}
}

func TestSendReaderCheckRefusalKeepsTheEnd(t *testing.T) {
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 2*DefaultHoldBack, 7))
	refusal := errors.New("not the recorded SHA-256")
	var checked *Report
	s := NewSendReader(context.Background(), bytes.NewReader(archive), SendOptions{Check: func(r *Report, f Flavor) error {
		checked = r
		if f != FlavorConsul {
			t.Errorf("flavour %q", f)
		}
		return refusal
	}})
	defer s.Close()
	out, err := drain(t, s)
	if !errors.Is(err, refusal) || len(out) > len(archive)-DefaultHoldBack || checked == nil || checked.ArchiveSHA256 != sha256Hex(archive) {
		t.Fatalf("released %d of %d bytes, error %v, checked %+v", len(out), len(archive), err, checked)
	}
}

// changingFile changes the file it reads in place once its reader has
// passed at: another process rewriting the file during a slow upload.
type changingFile struct {
	f       *os.File
	at, pos int64
	change  func()
	changed bool
}

func (c *changingFile) Read(p []byte) (int, error) {
	if !c.changed && c.pos >= c.at {
		c.changed = true
		c.change()
	}
	n, err := c.f.Read(p)
	c.pos += int64(n)
	return n, err
}

func TestSendReaderFileChangedWhileSent(t *testing.T) {
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 4*DefaultHoldBack, 8))
	other, _ := writeTestArchive(t, testkit.Noise(consulHeader, 4*DefaultHoldBack, 9))
	path := filepath.Join(t.TempDir(), "a.snap")
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Halfway through, the rest of the file becomes another valid
	// archive's rest: each half verifies as far as it goes, the whole
	// does not.
	half := int64(len(archive) / 2)
	src := &changingFile{f: f, at: half, change: func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := w.WriteAt(other[half+chunkSize:min(len(other), len(archive))], half+chunkSize); err != nil {
			t.Fatal(err)
		}
	}}
	s := NewSendReader(context.Background(), src, SendOptions{})
	defer s.Close()
	out, err := drain(t, s)
	if !src.changed || !VerificationFailed(err) || int64(len(out)) >= int64(len(archive)) {
		t.Fatalf("changed %v: released %d of %d bytes, error %v", src.changed, len(out), len(archive), err)
	}
	// What left is what was read (and verified as far as it went): the
	// file as it now is.
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, now[:len(out)]) {
		t.Fatal("released bytes differ from what was read")
	}
}

func TestSendReaderCloseAndContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 3*DefaultHoldBack, 10))

	ctx, cancel := context.WithCancel(context.Background())
	s := NewSendReader(ctx, bytes.NewReader(archive), SendOptions{})
	if _, err := s.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err := drain(t, s)
	if !errors.Is(err, context.Canceled) || VerificationFailed(err) {
		t.Fatalf("after cancel: %v", err)
	}
	s.Close()

	s = NewSendReader(context.Background(), bytes.NewReader(archive), SendOptions{})
	if _, err := s.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, ErrSendClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, _, err := s.Result(); !errors.Is(err, ErrSendUnfinished) {
		t.Fatalf("Result after Close: %v", err)
	}
}

func TestReadHead(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	big, _ := writeTestArchive(t, testkit.Noise(consulHeader, 16*DefaultHoldBack, 11))
	src := &countingReader{r: bytes.NewReader(big)}
	head, err := ReadHead(context.Background(), src, VerifyOptions{})
	if err != nil || head.Flavor != FlavorConsul || head.Meta.Index != 1234 {
		t.Fatalf("ReadHead = %+v, %v", head, err)
	}
	if read := src.n; read > int64(len(big))/2 {
		t.Fatalf("ReadHead read %d of %d bytes", read, len(big))
	}

	for _, tc := range []struct {
		name   string
		state  []byte
		want   Flavor
		reason string
	}{
		{"nomad", testkit.Noise(nomadHeader, 100, 12), FlavorNomad, ""},
		{"empty", nil, FlavorOther, "state.bin is empty"},
		{"json", []byte(`{"k":1}`), FlavorOther, "want a map"},
	} {
		archive, _ := writeTestArchive(t, tc.state)
		head, err := ReadHead(context.Background(), bytes.NewReader(archive), VerifyOptions{})
		if err != nil || head.Flavor != tc.want || !strings.Contains(head.FlavorReason, tc.reason) {
			t.Fatalf("%s: ReadHead = %+v, %v", tc.name, head, err)
		}
	}

	// A damaged head is the archive's error; a short archive's verdict is
	// the whole one.
	sparse := sparseArchive("1.0", 1<<60, false)()
	if _, err := ReadHead(context.Background(), bytes.NewReader(sparse), VerifyOptions{}); !VerificationFailed(err) || !errors.Is(err, ErrMemberType) {
		t.Fatalf("sparse state: %v", err)
	}
	small, _ := writeTestArchive(t, []byte{0x80})
	if _, err := ReadHead(context.Background(), bytes.NewReader(small[:20]), VerifyOptions{}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated small archive: %v", err)
	}
}

// A consumer that reads exactly the archive's size (an HTTP body of a
// known Content-Length) never asks for io.EOF: the stream is still done.
func TestSendReaderDoneWithoutEOF(t *testing.T) {
	archive, _ := writeTestArchive(t, testkit.Noise(consulHeader, 2*DefaultHoldBack, 13))
	rep, flavor, err := Send(context.Background(), bytes.NewReader(archive), int64(len(archive)), SendOptions{}, func(body io.Reader, size int64) error {
		got, err := io.ReadAll(io.LimitReader(body, size))
		if !bytes.Equal(got, archive) {
			t.Errorf("sent %d bytes, not the archive", len(got))
		}
		return err
	})
	if err != nil || rep.ArchiveBytes != int64(len(archive)) || flavor != FlavorConsul {
		t.Fatalf("Send = %+v, %q, %v", rep, flavor, err)
	}
	// A receiver that stops early and says it is done gets no success.
	_, _, err = Send(context.Background(), bytes.NewReader(archive), int64(len(archive)), SendOptions{}, func(body io.Reader, size int64) error {
		_, err := io.CopyN(io.Discard, body, size/2)
		return err
	})
	if !errors.Is(err, ErrSendUnfinished) {
		t.Fatalf("receiver answering early: %v", err)
	}
}

// FuzzSendReader: whatever the input, what a SendReader releases is a
// prefix of it; all of it exactly when the input verifies (Verify agrees),
// never all of it when it does not. HoldBack is small so that short inputs
// stream too.
func FuzzSendReader(f *testing.F) {
	valid, _ := writeTestArchive(f, testkit.Noise(consulHeader, 5000, 20))
	f.Add(valid, uint16(64))
	f.Add(testkit.WithEmptyGzipMember(valid), uint16(1))
	f.Add(valid[:len(valid)-5], uint16(512))
	f.Add(append(bytes.Clone(valid), 0), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, hold uint16) {
		s := NewSendReader(context.Background(), bytes.NewReader(data), SendOptions{HoldBack: int(hold) + 1})
		defer s.Close()
		out, err := drain(t, s)
		if !bytes.HasPrefix(data, out) {
			t.Fatalf("released %d bytes that are not the input's prefix", len(out))
		}
		_, verifyErr := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{})
		switch {
		case (err == nil) != (verifyErr == nil):
			t.Fatalf("SendReader says %v, Verify %v", err, verifyErr)
		case err == nil && len(out) != len(data):
			t.Fatalf("verified, but released %d of %d bytes", len(out), len(data))
		case err != nil && len(data) > 0 && len(out) >= len(data):
			t.Fatalf("failed (%v), but released all %d bytes", err, len(data))
		}
	})
}
