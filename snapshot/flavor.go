package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// Flavor says whose state an archive holds, as far as its bytes tell: the
// system it can be restored into. A state restored into a system that
// cannot read it crashes that system's leader: hashicorp/raft panics when
// the state machine fails to restore a snapshot it was handed.
type Flavor string

const (
	// FlavorConsul: state.bin begins with Consul's header, a msgpack map
	// holding LastIndex.
	FlavorConsul Flavor = "consul"
	// FlavorNomad: state.bin begins with Nomad's header, an empty msgpack
	// map. Another application's state can begin so too.
	FlavorNomad Flavor = "nomad"
	// FlavorVault: the archive carries SHA256SUMS.sealed; its state.bin is
	// Vault's, which raftsnap cannot read.
	FlavorVault Flavor = "vault"
	// FlavorOther: none of these, typically the state of an application
	// embedding hashicorp/raft (or an empty state.bin).
	FlavorOther Flavor = "other"
)

// Describe names the flavour in a sentence: "a Consul snapshot".
func (f Flavor) Describe() string {
	switch f {
	case FlavorConsul:
		return "a Consul snapshot"
	case FlavorNomad:
		return "a Nomad snapshot"
	case FlavorVault:
		return "a Vault snapshot"
	}
	return "a snapshot of another application (neither Consul, Nomad nor Vault)"
}

// FlavorError is a valid archive of another flavour than the one wanted:
// `inspect --flavor`, or a restore into a system that cannot read it.
type FlavorError struct {
	Want, Got Flavor
	// Reason says what state.bin's header is, when known.
	Reason string
}

func (e *FlavorError) Error() string {
	msg := fmt.Sprintf("it is %s, not %s", e.Got.Describe(), e.Want.Describe())
	switch {
	case e.Got == FlavorVault:
		msg += " (it carries Vault's SHA256SUMS.sealed)"
	case e.Got == FlavorOther && e.Reason != "":
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// ArchiveFlavor is the flavour of a whole archive: FlavorVault when it is
// sealed (Vault's last member is known only at the end), else what its
// head says.
func ArchiveFlavor(head *Head, sealed bool) Flavor {
	if sealed {
		return FlavorVault
	}
	return head.Flavor
}

// Head is what the start of an archive says, once verified: its meta.json
// and, from the first bytes of state.bin, whose state it holds.
type Head struct {
	Meta raft.SnapshotMeta
	// Flavor is FlavorConsul, FlavorNomad or FlavorOther, from state.bin's
	// header (statebin.Sniff). A Vault archive is told apart only by its
	// last member, so its head may show any of the three (ArchiveFlavor
	// gives the archive's).
	Flavor Flavor
	// FlavorReason says why the header is neither Consul's nor Nomad's,
	// for FlavorOther.
	FlavorReason string
}

// maxHeadInput bounds what ReadHead and SendReader read before the
// archive's head has verified. A real archive's head (meta.json, capped at
// 1 MiB, and the start of state.bin) arrives within a few MiB even counting
// the verifier's buffers; only deflate data that decompresses to almost
// nothing, which no writer produces, needs more.
const maxHeadInput = 32 << 20

var errHeadTooFar = fmt.Errorf("snapshot archive: its first %d MiB did not yield meta.json and the start of state.bin (no snapshot writer produces that; was it crafted?)", maxHeadInput>>20)

// ReadHead verifies the start of an archive read from r, until meta.json
// and the start of state.bin have passed, and returns what they say. It
// reads a little past the head (the verifier works in chunks) and never
// more than the head needs plus the verifier's buffers; an archive short
// enough to end first is verified whole. opts' State and Meta are ignored.
// A problem found on the way is the archive's *Error; r's errors come back
// wrapped; when ctx ends, an error wrapping its cause.
func ReadHead(ctx context.Context, r io.Reader, opts VerifyOptions) (*Head, error) {
	sniff := newHeadSniffer(nil)
	opts.State, opts.Meta = sniff, sniff.setMeta
	v := NewVerifier(ctx, opts)
	defer func() {
		v.Abort()
		v.Close()
	}()
	buf := make([]byte, chunkSize)
	var read int64
	for {
		if head := sniff.poll(); head != nil {
			return head, nil
		}
		if read >= maxHeadInput {
			return nil, errHeadTooFar
		}
		n, err := r.Read(buf)
		if n > 0 {
			read += int64(n)
			if _, werr := v.Write(buf[:n]); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			// The whole archive fitted: the verdict is final.
			if _, verr := v.Close(); verr != nil {
				return nil, verr
			}
			if head := sniff.poll(); head != nil {
				return head, nil
			}
			return nil, errors.New("snapshot archive verified, but its head was never seen (a bug)")
		}
		if err != nil {
			return nil, fmt.Errorf("reading snapshot archive: %w", err)
		}
	}
}

// headSniffer sits in VerifyOptions.Meta and State: it keeps meta.json and
// the first bytes of state.bin, and once it has enough, tells the flavour
// and closes ready. It runs on the verifier's walker goroutine; poll may be
// called from any.
type headSniffer struct {
	next  StateWriter // the caller's State, fed after
	head  Head
	buf   []byte
	want  int
	ready chan struct{}
	done  bool
}

func newHeadSniffer(next StateWriter) *headSniffer {
	return &headSniffer{next: next, ready: make(chan struct{})}
}

func (s *headSniffer) setMeta(meta raft.SnapshotMeta) {
	s.head.Meta = meta
	s.want = int(min(meta.Size, statebin.SniffSize))
	s.buf = make([]byte, 0, s.want)
	if s.want == 0 {
		s.decide()
	}
}

func (s *headSniffer) Write(p []byte) (int, error) {
	if !s.done {
		s.buf = append(s.buf, p[:min(len(p), s.want-len(s.buf))]...)
		if len(s.buf) == s.want {
			s.decide()
		}
	}
	if s.next != nil {
		return s.next.Write(p)
	}
	return len(p), nil
}

func (s *headSniffer) decide() {
	switch flavor, err := statebin.Sniff(s.buf); {
	case err != nil:
		s.head.Flavor, s.head.FlavorReason = FlavorOther, err.Error()
	case flavor == statebin.Consul:
		s.head.Flavor = FlavorConsul
	default:
		s.head.Flavor = FlavorNomad
	}
	if s.want == 0 {
		s.head.FlavorReason = "state.bin is empty"
	}
	s.done, s.buf = true, nil
	close(s.ready)
}

// poll returns the head once it is known, else nil.
func (s *headSniffer) poll() *Head {
	select {
	case <-s.ready:
		h := s.head
		return &h
	default:
		return nil
	}
}
