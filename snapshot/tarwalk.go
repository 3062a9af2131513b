package snapshot

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/raft"
)

// memberIndex gives each allowed member its position in the archive.
var memberOrder = []string{MetaName, StateName, SumsName, SealedSumsName}

func memberIndex(name string) int {
	for i, n := range memberOrder {
		if n == name {
			return i
		}
	}
	return -1
}

// walker is the tar-walking stage.
type walker struct {
	v       *Verifier
	in      *chunkReader
	tr      *tar.Reader
	body    backedReader // the current member's bytes
	buf     []byte
	seen    [4]bool
	last    string // last member fully read
	member  string // member being read, "" between members
	read    int64  // bytes of member read
	size    int64  // its declared size
	atEnd   bool   // tar end-of-archive reached
	report  Report
	digests map[string][]byte
	sums    []byte // SHA256SUMS content, checked at the end
}

func (v *Verifier) walk() {
	defer v.wg.Done()
	w := &walker{
		v:       v,
		digests: make(map[string][]byte, 4),
	}
	w.in = &chunkReader{ch: v.plain, pool: &v.plainPool, quit: v.quit, endFn: func() error {
		if v.inflateErr != nil {
			return v.inflateErr
		}
		return nil
	}}
	defer w.in.drop()
	// The read buffer is taken once there is something to walk, and given
	// back when the walk ends (a State write, the one place it leaves the
	// walker, has returned by then).
	w.in.await()
	w.buf = getChunk()[:chunkSize]
	defer putChunk(w.buf)
	w.tr = tar.NewReader(w.in)
	if err := w.run(); err != nil {
		v.fail(err)
		return
	}
	v.report = &w.report
}

func (w *walker) run() error {
	for {
		hdr, err := w.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return w.streamError(err)
		}
		if err := w.member1(hdr); err != nil {
			return err
		}
	}
	w.atEnd = true
	if err := w.drain(); err != nil {
		return err
	}
	switch {
	case !w.seen[0]:
		return newError(ErrMissingMember, MetaName, "snapshot archive has no meta.json member")
	case !w.seen[1]:
		return newError(ErrMissingMember, StateName, "snapshot archive has no state.bin member")
	case !w.seen[2]:
		return newError(ErrMissingSums, SumsName, "snapshot archive has no SHA256SUMS member, so its contents cannot be checked")
	case !w.seen[3] && w.v.opts.RequireSealed:
		return newError(ErrMissingSealed, SealedSumsName, "snapshot archive has no SHA256SUMS.sealed member, which archives from this source (Vault) always carry")
	}
	return w.checkSums()
}

func (w *walker) member1(hdr *tar.Header) error {
	name := hdr.Name
	idx := memberIndex(name)
	if idx < 0 {
		return newError(ErrUnknownMember, name,
			"snapshot archive has an unexpected member %s; only meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed may appear",
			quoteName(name))
	}
	if err := checkMemberType(hdr); err != nil {
		return err
	}
	if w.seen[idx] {
		return newError(ErrDuplicateMember, name, "snapshot archive has %s twice", name)
	}
	for before := 0; before < idx; before++ {
		if !w.seen[before] {
			return newError(ErrMemberOrder, name,
				"snapshot archive has %s before %s (missing or out of order); members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed",
				name, memberOrder[before])
		}
	}
	for after := idx + 1; after < len(memberOrder); after++ {
		if w.seen[after] {
			return newError(ErrMemberOrder, name,
				"snapshot archive has %s after %s; members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed",
				name, memberOrder[after])
		}
	}
	w.seen[idx] = true
	w.member, w.read, w.size = name, 0, hdr.Size
	w.body = backedReader{r: w.tr, delivered: w.in.delivered, start: w.in.delivered()}
	var err error
	switch name {
	case MetaName:
		err = w.readMeta(hdr)
	case StateName:
		err = w.readState(hdr)
	case SumsName:
		err = w.readSums(hdr)
	case SealedSumsName:
		_, err = w.hashMember(nil)
		w.report.Sealed = true
	}
	if err != nil {
		return err
	}
	w.last, w.member = name, ""
	return nil
}

// hashMember streams the current member through SHA-256 (and into sink,
// if set) and records it in the report.
func (w *walker) hashMember(sink io.Writer) ([]byte, error) {
	h := sha256.New()
	for {
		n, err := w.body.Read(w.buf)
		if n > 0 {
			h.Write(w.buf[:n])
			if sink != nil {
				if _, werr := sink.Write(w.buf[:n]); werr != nil {
					return nil, &Error{Kind: ErrStateWriter, Member: w.member, Err: werr, Msg: fmt.Sprintf(
						"snapshot verification stopped: the consumer of state.bin failed after %d bytes: %v", w.read, werr)}
				}
			}
			w.read += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, w.streamError(err)
		}
	}
	return w.record(h.Sum(nil)), nil
}

func (w *walker) record(sum []byte) []byte {
	w.digests[w.member] = sum
	w.report.Members = append(w.report.Members, Member{Name: w.member, Size: w.read, SHA256: hex.EncodeToString(sum)})
	return sum
}

// readSmall reads a member that must fit in memory; the caller has
// already capped its size.
func (w *walker) readSmall(size int64) ([]byte, error) {
	data := make([]byte, size)
	n, err := io.ReadFull(&w.body, data)
	w.read = int64(n)
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, w.streamError(err)
	}
	sum := sha256.Sum256(data)
	w.record(sum[:])
	return data, nil
}

func (w *walker) readMeta(hdr *tar.Header) error {
	if hdr.Size > w.v.opts.MaxMetaSize {
		return newError(ErrMetaTooLarge, MetaName,
			"snapshot meta.json is %d bytes, over the %d byte limit (real ones are a few KiB; raise VerifyOptions.MaxMetaSize only for huge cluster configurations)",
			hdr.Size, w.v.opts.MaxMetaSize)
	}
	data, err := w.readSmall(hdr.Size)
	if err != nil {
		return err
	}
	meta, err := decodeMeta(data)
	if err != nil {
		return err
	}
	w.report.Meta = *meta
	if w.v.opts.Meta != nil {
		w.v.opts.Meta(*meta)
	}
	return nil
}

// ParseMeta decodes a meta.json and checks it by the rules verification
// applies to an archive's (valid JSON, one object, a known Version, an ID,
// Index and Term not 0, Size not negative), with the same *Error messages.
// Fields it does not know (the CRC of raft's snapshot directories) are
// ignored. The caller bounds data's size.
func ParseMeta(data []byte) (*raft.SnapshotMeta, error) { return decodeMeta(data) }

func decodeMeta(data []byte) (*raft.SnapshotMeta, error) {
	var meta raft.SnapshotMeta
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&meta); err != nil {
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json is not valid JSON: it ends before the JSON object does")
		case errors.As(err, &syntaxErr):
			return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json is not valid JSON: %v at byte %d", syntaxErr, syntaxErr.Offset)
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json is a JSON %s, not an object", typeErr.Value)
		case errors.As(err, &typeErr):
			return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json field %q is a JSON %s, which does not fit", typeErr.Field, typeErr.Value)
		default:
			return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json is invalid: %v", err)
		}
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has %d bytes of extra data after the JSON object", len(rest))
	}
	switch {
	case meta.Version < raft.SnapshotVersionMin || meta.Version > raft.SnapshotVersionMax:
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has Version %d; raft snapshots use versions %d to %d",
			meta.Version, raft.SnapshotVersionMin, raft.SnapshotVersionMax)
	case meta.ID == "":
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has no ID")
	case meta.Index == 0:
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has Index 0; a raft snapshot always covers at least one log entry")
	case meta.Term == 0:
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has Term 0; raft terms start at 1")
	case meta.Size < 0:
		return nil, newError(ErrInvalidMeta, MetaName, "snapshot meta.json has a negative Size (%d)", meta.Size)
	}
	return &meta, nil
}

func (w *walker) readState(hdr *tar.Header) error {
	want := w.report.Meta.Size
	if hdr.Size != want {
		return newError(ErrStateSize, StateName,
			"snapshot state.bin is %d bytes according to its tar header, but meta.json says Size %d", hdr.Size, want)
	}
	var sink io.Writer
	if w.v.opts.State != nil {
		sink = w.v.opts.State
	}
	if _, err := w.hashMember(sink); err != nil {
		return err
	}
	if w.read != want {
		// archive/tar enforces the header size; this guards the invariant.
		return newError(ErrStateSize, StateName, "snapshot state.bin has %d bytes, but meta.json says Size %d", w.read, want)
	}
	return nil
}

// drain reads what follows the tar end-of-archive marker to the end of the
// gzip stream. Zero padding (tar pads to its record size) is fine.
func (w *walker) drain() error {
	var nonZero, total int64
	for {
		n, err := w.in.Read(w.buf)
		if n > 0 {
			total += int64(n)
			if nonZero == 0 {
				if i := bytes.IndexFunc(w.buf[:n], func(r rune) bool { return r != 0 }); i >= 0 {
					nonZero = total - int64(n) + int64(i) + 1
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return w.streamError(err)
		}
	}
	if nonZero > 0 {
		return newError(ErrTrailingData, "",
			"snapshot archive has trailing data: %d bytes follow the tar end-of-archive marker inside the gzip stream, and they are not zero padding", total)
	}
	return nil
}

// position says where in the tar stream the walker is, for messages.
func (w *walker) position() string {
	switch {
	case w.atEnd:
		return "after the tar end-of-archive marker"
	case w.member != "":
		return fmt.Sprintf("%d of %d bytes into %s", w.read, w.size, w.member)
	case w.last != "":
		return "in the tar header after " + w.last
	default:
		return "in the tar header of the first member"
	}
}

// streamError turns a read error from the tar stream into an *Error.
func (w *walker) streamError(err error) error {
	var (
		inflateErr *inflateError
		unbacked   *unbackedError
	)
	switch {
	case errors.As(err, &inflateErr):
		msg := inflateErr.msg
		if inflateErr.withPosition {
			msg += ", " + w.position()
		}
		return &Error{Kind: inflateErr.kind, Member: w.member, Msg: msg, Err: inflateErr.cause}
	case errors.As(err, &unbacked):
		return newError(ErrMemberType, w.member,
			"snapshot archive member %s yields more bytes than the archive holds for it (%d read, %d in the tar stream since its header); only plain regular files are accepted",
			w.member, unbacked.yielded, unbacked.arrived)
	case errors.Is(err, errQuit):
		// Abort, or another stage failed first; either way the first
		// failure is what Close reports.
		return newError(ErrAborted, w.member, "snapshot verification aborted")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(ErrTruncated, w.member,
			"snapshot archive is truncated: the tar stream ends %s, although the gzip stream is complete", w.position())
	case errors.Is(err, tar.ErrHeader):
		where := "at the start of the tar stream"
		if w.last != "" {
			where = "after " + w.last + " (a member's declared size may be wrong)"
		}
		return newError(ErrInvalidTar, w.member, "snapshot archive has an invalid tar header %s", where)
	default:
		return &Error{Kind: ErrInvalidTar, Member: w.member, Err: err, Msg: fmt.Sprintf(
			"snapshot archive has an invalid tar stream %s: %v", w.position(), err)}
	}
}

// checkMemberType accepts a plain regular file and nothing else: it is all
// that Consul, Nomad and Vault write, and the only kind whose bytes all
// come from the stream. archive/tar makes up the holes of a GNU sparse
// file (type 'S', or a regular file with PAX GNU.sparse.* records) as
// zeros, so a few hundred bytes could declare exabytes of state.bin. PAX
// and GNU long-name headers stay accepted: they only carry metadata (Go's
// tar writer emits a PAX size record for a state.bin of 8 GiB or more).
//
// hdr.Name is a known member name (checked before), so it needs no quoting.
func checkMemberType(hdr *tar.Header) error {
	// archive/tar reads V7's NUL type as TypeReg (TypeDir for a name ending in /).
	if hdr.Typeflag != tar.TypeReg {
		return newError(ErrMemberType, hdr.Name, "snapshot archive member %s is a %s, not a regular file", hdr.Name, typeName(hdr.Typeflag))
	}
	for key := range hdr.PAXRecords {
		if strings.HasPrefix(key, "GNU.sparse.") {
			return newError(ErrMemberType, hdr.Name,
				"snapshot archive member %s is a GNU sparse file (PAX GNU.sparse.* records), not a regular file: its holes would be zeros that are not in the archive",
				hdr.Name)
		}
	}
	return nil
}

func typeName(flag byte) string {
	switch flag {
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeGNUSparse:
		return "GNU sparse file"
	case tar.TypeXGlobalHeader:
		return "PAX global header"
	case 'D':
		return "GNU directory dump"
	case 'M':
		return "GNU multi-volume continuation"
	case 'V':
		return "GNU volume label"
	default:
		return fmt.Sprintf("tar entry of type %q", flag)
	}
}

// backedReader reads the current member from archive/tar and refuses any
// byte the stream did not carry: for a regular file archive/tar hands on
// exactly what it reads, so yielding more means it made bytes up. This
// bounds the work on a member by the bytes that arrive, whatever header
// checkMemberType has not foreseen.
type backedReader struct {
	r         io.Reader
	delivered func() int64 // bytes the stream under r has delivered so far
	start     int64        // delivered() when the member's data began
	yielded   int64
}

// unbackedError says a member yielded bytes its stream did not deliver.
type unbackedError struct{ yielded, arrived int64 }

func (e *unbackedError) Error() string {
	return fmt.Sprintf("tar member yielded %d bytes, but only %d arrived", e.yielded, e.arrived)
}

func (b *backedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.yielded += int64(n)
	if arrived := b.delivered() - b.start; b.yielded > arrived {
		return 0, &unbackedError{yielded: b.yielded, arrived: arrived}
	}
	return n, err
}
