package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
)

// Pipeline tuning. Verification runs in three stages connected by channels
// of reused buffers: the caller hashes the raw bytes, one goroutine inflates,
// one walks the tar and hashes members. Inflate is the slowest stage and
// gets a core to itself; the depth only has to absorb jitter. Memory is
// bounded by 2*(pipelineDepth+2) chunks plus the inflater's state.
const (
	chunkSize     = 256 << 10
	pipelineDepth = 4
	// maxSumsSize caps SHA256SUMS, which real archives fill with two lines.
	maxSumsSize = 64 << 10
)

var gzipMagic = []byte{0x1f, 0x8b}

// Verifier checks a snapshot archive while it streams. Feed it the archive
// bytes with Write (for example through io.MultiWriter while downloading),
// then call Close for the Report. Write returns the verification error as
// soon as one is known, so a download can stop early; Close returns the
// same error. Every Verifier must end with Close or Abort, which release
// its goroutines. A Verifier is not safe for concurrent Writes; Abort may be
// called from any goroutine.
type Verifier struct {
	opts VerifyOptions

	rawHash  hash.Hash
	rawBytes int64
	fill     []byte // chunk being filled by Write

	compressed chan []byte // raw chunks, caller -> inflater
	rawPool    bufferPool
	plain      chan []byte // decompressed chunks, inflater -> walker
	plainPool  bufferPool
	inflateErr *inflateError // set by the inflater before it closes plain

	quit     chan struct{} // closed on the first failure or Abort
	failOnce sync.Once
	failErr  error
	wg       sync.WaitGroup

	report *Report // set by the walker on success
	closed bool
}

// NewVerifier starts a streaming verification. opts.MaxMetaSize 0 means
// DefaultMaxMetaSize.
func NewVerifier(opts VerifyOptions) *Verifier {
	if opts.MaxMetaSize <= 0 {
		opts.MaxMetaSize = DefaultMaxMetaSize
	}
	v := &Verifier{
		opts:       opts,
		rawHash:    sha256.New(),
		compressed: make(chan []byte, pipelineDepth),
		plain:      make(chan []byte, pipelineDepth),
		quit:       make(chan struct{}),
	}
	v.rawPool.init(pipelineDepth + 2)
	v.plainPool.init(pipelineDepth + 2)
	v.wg.Add(2)
	go v.inflate()
	go v.walk()
	return v
}

// Verify reads a whole archive from r and verifies it.
func Verify(r io.Reader, opts VerifyOptions) (*Report, error) {
	v := NewVerifier(opts)
	if _, err := v.ReadFrom(r); err != nil {
		var archiveErr *Error
		if !errors.As(err, &archiveErr) {
			v.Abort()
			v.Close()
			return nil, fmt.Errorf("reading snapshot archive: %w", err)
		}
	}
	return v.Close()
}

// VerifyFile verifies the archive stored at path.
func VerifyFile(path string, opts VerifyOptions) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Verify(f, opts)
}

// Write feeds archive bytes to the verifier. It returns an *Error as soon
// as the archive is known to be bad.
func (v *Verifier) Write(p []byte) (int, error) {
	if v.closed {
		return 0, errors.New("snapshot verifier: Write after Close")
	}
	if err := v.failure(); err != nil {
		return 0, err
	}
	v.rawHash.Write(p)
	v.rawBytes += int64(len(p))
	n := len(p)
	for len(p) > 0 {
		if v.fill == nil {
			buf, ok := v.rawPool.get(v.quit)
			if !ok {
				return n - len(p), v.failure()
			}
			v.fill = buf
		}
		copied := copy(v.fill[len(v.fill):cap(v.fill)], p)
		v.fill = v.fill[:len(v.fill)+copied]
		p = p[copied:]
		if len(v.fill) == cap(v.fill) {
			if !v.send() {
				return n - len(p), v.failure()
			}
		}
	}
	return n, nil
}

// ReadFrom feeds the verifier from r until EOF, reading straight into the
// pipeline's buffers. It returns r's error as is, or an *Error when the
// archive is known to be bad.
func (v *Verifier) ReadFrom(r io.Reader) (int64, error) {
	if v.closed {
		return 0, errors.New("snapshot verifier: ReadFrom after Close")
	}
	var total int64
	for {
		if err := v.failure(); err != nil {
			return total, err
		}
		if v.fill == nil {
			buf, ok := v.rawPool.get(v.quit)
			if !ok {
				return total, v.failure()
			}
			v.fill = buf
		}
		n, err := r.Read(v.fill[len(v.fill):cap(v.fill)])
		if n > 0 {
			v.rawHash.Write(v.fill[len(v.fill) : len(v.fill)+n])
			v.rawBytes += int64(n)
			total += int64(n)
			v.fill = v.fill[:len(v.fill)+n]
			if len(v.fill) == cap(v.fill) && !v.send() {
				return total, v.failure()
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends the input, waits for verification to finish and returns the
// report, or the first problem found.
func (v *Verifier) Close() (*Report, error) {
	if !v.closed {
		v.closed = true
		if len(v.fill) > 0 {
			v.send()
		}
		close(v.compressed)
	}
	v.wg.Wait()
	if err := v.failure(); err != nil {
		return nil, err
	}
	rep := *v.report
	rep.ArchiveBytes = v.rawBytes
	rep.ArchiveSHA256 = hex.EncodeToString(v.rawHash.Sum(nil))
	return &rep, nil
}

// Abort stops verification without waiting: its goroutines exit as soon
// as a State write in progress returns (Abort may be called while one is
// stalled). Close after Abort waits for them and returns ErrAborted, or the
// error found before.
func (v *Verifier) Abort() {
	v.fail(newError(ErrAborted, "", "snapshot verification aborted"))
}

func (v *Verifier) send() bool {
	select {
	case v.compressed <- v.fill:
		v.fill = nil
		return true
	case <-v.quit:
		return false
	}
}

func (v *Verifier) fail(err error) {
	v.failOnce.Do(func() {
		v.failErr = err
		close(v.quit)
	})
}

func (v *Verifier) failure() error {
	select {
	case <-v.quit:
		return v.failErr
	default:
		return nil
	}
}

// bufferPool hands out at most max chunk buffers, reusing returned ones, so
// a fast producer waits for the consumer instead of growing memory.
type bufferPool struct {
	free      chan []byte
	allocated int
	max       int
}

func (p *bufferPool) init(max int) {
	p.free = make(chan []byte, max)
	p.max = max
}

// get may only be called by the producing goroutine.
func (p *bufferPool) get(quit <-chan struct{}) ([]byte, bool) {
	select {
	case b := <-p.free:
		return b[:0], true
	default:
	}
	if p.allocated < p.max {
		p.allocated++
		return make([]byte, 0, chunkSize), true
	}
	select {
	case b := <-p.free:
		return b[:0], true
	case <-quit:
		return nil, false
	}
}

func (p *bufferPool) put(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}

// chunkReader is the consuming end of a chunk channel.
type chunkReader struct {
	ch    <-chan []byte
	pool  *bufferPool
	quit  <-chan struct{}
	buf   []byte // current chunk, returned to pool when exhausted
	rest  []byte
	n     int64 // bytes delivered
	head  []byte
	endFn func() error // error to return at the end of the channel
}

var errQuit = errors.New("snapshot verification stopped")

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		if r.buf != nil {
			r.pool.put(r.buf)
			r.buf = nil
		}
		select {
		case b, ok := <-r.ch:
			if !ok {
				if r.endFn != nil {
					if err := r.endFn(); err != nil {
						return 0, err
					}
				}
				return 0, io.EOF
			}
			r.buf, r.rest = b, b
		case <-r.quit:
			return 0, errQuit
		}
	}
	n := copy(p, r.rest)
	if len(r.head) < cap(r.head) {
		r.head = append(r.head, r.rest[:min(n, cap(r.head)-len(r.head))]...)
	}
	r.rest = r.rest[n:]
	r.n += int64(n)
	return n, nil
}

// inflateError is a problem the inflater found. The walker adds where in
// the tar stream it happened when withPosition is set.
type inflateError struct {
	kind         error
	msg          string
	withPosition bool
	cause        error
}

func (e *inflateError) Error() string { return e.msg }

func (v *Verifier) inflate() {
	defer v.wg.Done()
	defer close(v.plain)
	in := &chunkReader{ch: v.compressed, pool: &v.rawPool, quit: v.quit, head: make([]byte, 0, 16)}
	// A *bufio.Reader is both the fastest input for klauspost's inflater
	// and an io.ByteReader, which makes the gzip reader stop exactly at the
	// end of the stream so trailing bytes can be found. newGzipMember picks
	// the build's inflater (inflate_default.go, inflate_isal.go).
	br := bufio.NewReaderSize(in, chunkSize)
	zr, err := newGzipMember(br)
	if err != nil {
		v.inflateErr = gzipHeaderError(err, in)
		return
	}
	defer zr.Close()
	headerLen := in.n - int64(br.Buffered())
	for {
		buf, ok := v.plainPool.get(v.quit)
		if !ok {
			return
		}
		n, err := fillFrom(zr, buf[:cap(buf)])
		if n > 0 {
			select {
			case v.plain <- buf[:n]:
			case <-v.quit:
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			v.inflateErr = gzipStreamError(err, in.n-int64(br.Buffered()), headerLen)
			return
		}
	}
	end := in.n - int64(br.Buffered())
	first, _ := br.Peek(len(gzipMagic))
	secondMember := bytes.Equal(first, gzipMagic)
	extra, err := io.Copy(io.Discard, br)
	if err != nil {
		return // only errQuit: the walker has already failed
	}
	if extra == 0 {
		return
	}
	if secondMember {
		v.inflateErr = &inflateError{kind: ErrTrailingData, msg: fmt.Sprintf(
			"snapshot archive has trailing data: a second gzip member starts at byte %d (%d more bytes); snapshot archives are a single gzip member",
			end, extra)}
		return
	}
	v.inflateErr = &inflateError{kind: ErrTrailingData, msg: fmt.Sprintf(
		"snapshot archive has trailing data: %d bytes follow the end of the gzip stream at byte %d", extra, end)}
}

// fillFrom reads from r until buf is full, EOF or an error.
func fillFrom(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func gzipHeaderError(err error, in *chunkReader) *inflateError {
	if errors.Is(err, errQuit) {
		return &inflateError{kind: ErrAborted, msg: "snapshot verification aborted", cause: err}
	}
	head := in.head
	if len(head) == 0 {
		return &inflateError{kind: ErrEmpty, msg: "snapshot archive is empty (0 bytes)"}
	}
	if !bytes.HasPrefix(head, gzipMagic[:min(len(head), 2)]) {
		return &inflateError{kind: ErrNotGzip, msg: fmt.Sprintf(
			"snapshot archive is not gzip data: it starts with %q instead of the gzip magic bytes 1f 8b (was an error page or another file saved in its place?)",
			head)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &inflateError{kind: ErrTruncated, msg: fmt.Sprintf(
			"snapshot archive is truncated: input ended after %d bytes, inside the gzip header", in.n)}
	}
	return &inflateError{kind: ErrCorrupt, msg: fmt.Sprintf("snapshot archive is corrupt: invalid gzip header (%v)", err), cause: err}
}

func gzipStreamError(err error, consumed, headerLen int64) *inflateError {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, errQuit):
		return &inflateError{kind: ErrAborted, msg: "snapshot verification aborted", cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &inflateError{kind: ErrTruncated, withPosition: true, msg: fmt.Sprintf(
			"snapshot archive is truncated: input ended after %d bytes", consumed)}
	case errors.As(err, &corrupt):
		return &inflateError{kind: ErrCorrupt, withPosition: true, cause: err, msg: fmt.Sprintf(
			"snapshot archive is corrupt: invalid deflate data at byte %d", headerLen+int64(corrupt))}
	case errors.Is(err, kgzip.ErrChecksum):
		return &inflateError{kind: ErrCorrupt, cause: err, msg: "snapshot archive is corrupt: the gzip trailer's CRC-32 or length does not match the decompressed data"}
	default:
		return &inflateError{kind: ErrCorrupt, withPosition: true, cause: err, msg: fmt.Sprintf(
			"snapshot archive is corrupt: %v", err)}
	}
}

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
		buf:     make([]byte, chunkSize),
		digests: make(map[string][]byte, 4),
	}
	w.in = &chunkReader{ch: v.plain, pool: &v.plainPool, quit: v.quit, endFn: func() error {
		if v.inflateErr != nil {
			return v.inflateErr
		}
		return nil
	}}
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
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != '\x00' {
		return newError(ErrMemberType, name, "snapshot archive member %s is a %s, not a regular file", name, typeName(hdr.Typeflag))
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
		n, err := w.tr.Read(w.buf)
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
	n, err := io.ReadFull(w.tr, data)
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
	return nil
}

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

func (w *walker) readSums(hdr *tar.Header) error {
	if hdr.Size > maxSumsSize {
		return newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS is %d bytes, over the %d byte limit (a valid one has two short lines)", hdr.Size, maxSumsSize)
	}
	data, err := w.readSmall(hdr.Size)
	if err != nil {
		return err
	}
	// Checked in checkSums once the gzip stream has proven intact, so a
	// damaged stream is reported as corrupt, not as a checksum mismatch.
	w.sums = data
	return nil
}

func (w *walker) checkSums() error {
	listed, err := parseSums(w.sums)
	if err != nil {
		return err
	}
	for _, name := range []string{MetaName, StateName} {
		if _, ok := listed[name]; !ok {
			return newError(ErrSumsMismatch, SumsName, "snapshot SHA256SUMS has no entry for %s", name)
		}
	}
	for _, name := range []string{MetaName, StateName} {
		if got := w.digests[name]; !bytes.Equal(listed[name], got) {
			return newError(ErrChecksum, name, "%s checksum mismatch: SHA256SUMS says %x, content hashes to %x", name, listed[name], got)
		}
	}
	return nil
}

// parseSums parses "<64 lowercase hex>  <name>\n" lines, the format
// Consul writes with fmt.Fprintf("%x  %s\n"), in any order.
func parseSums(data []byte) (map[string][]byte, error) {
	if len(data) == 0 {
		return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS is empty")
	}
	if data[len(data)-1] != '\n' {
		return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS does not end with a newline (truncated or hand-edited?)")
	}
	listed := make(map[string][]byte, 2)
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	for i, line := range lines {
		digest, name, ok := parseSumsLine(line)
		if !ok {
			return nil, newError(ErrInvalidSums, SumsName,
				`snapshot SHA256SUMS line %d is not "<64 lowercase hex digits>  <file name>": %s`, i+1, quoteName(line))
		}
		if name != MetaName && name != StateName {
			return nil, newError(ErrSumsMismatch, SumsName,
				"snapshot SHA256SUMS lists %s, which is not a member it covers (only meta.json and state.bin)", quoteName(name))
		}
		if _, dup := listed[name]; dup {
			return nil, newError(ErrInvalidSums, SumsName, "snapshot SHA256SUMS lists %s twice", name)
		}
		listed[name] = digest
	}
	return listed, nil
}

func parseSumsLine(line string) ([]byte, string, bool) {
	const hexLen = 2 * sha256.Size
	if len(line) < hexLen+3 || line[hexLen:hexLen+2] != "  " {
		return nil, "", false
	}
	for _, c := range line[:hexLen] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, "", false
		}
	}
	digest, err := hex.DecodeString(line[:hexLen])
	if err != nil {
		return nil, "", false
	}
	return digest, line[hexLen+2:], true
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
	var inflateErr *inflateError
	switch {
	case errors.As(err, &inflateErr):
		msg := inflateErr.msg
		if inflateErr.withPosition {
			msg += ", " + w.position()
		}
		return &Error{Kind: inflateErr.kind, Member: w.member, Msg: msg, Err: inflateErr.cause}
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
	case tar.TypeGNUSparse:
		return "sparse file"
	default:
		return fmt.Sprintf("tar entry of type %q", flag)
	}
}

// quoteName quotes an untrusted name and keeps it short, so a hostile
// archive cannot flood logs or inject control characters.
func quoteName(name string) string {
	const max = 100
	if len(name) > max {
		return fmt.Sprintf("%q... (%d bytes)", name[:max], len(name))
	}
	return fmt.Sprintf("%q", name)
}
