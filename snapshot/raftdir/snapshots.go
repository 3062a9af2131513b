package raftdir

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// Limits that keep memory bounded whatever a directory holds.
const (
	// maxListed bounds the snapshot directories listed (the newest are
	// kept); raft itself retains two.
	maxListed = 64
	// maxTemporary bounds the names of .tmp directories kept for reports.
	maxTemporary = 16
	// readDirBatch is how many directory entries are read at a time.
	readDirBatch = 256
	// chunkSize is the read buffer for state.bin.
	chunkSize = 256 << 10
)

// crcTable is the table hashicorp/raft's FileSnapshotStore checks
// state.bin with.
var crcTable = crc64.MakeTable(crc64.ECMA)

// Status is the outcome of a snapshot's checks.
type Status string

// Status values; every one but StatusOK says what is wrong.
const (
	StatusOK Status = "ok"
	// StatusUnchecked: not checked (Inspect stopped early).
	StatusUnchecked Status = "unchecked"
	// StatusBadName: the directory's name is not TERM-INDEX-MILLISECONDS.
	StatusBadName Status = "bad_name"
	// StatusInvalidMeta: meta.json is missing, too large or not valid.
	StatusInvalidMeta Status = "invalid_meta"
	// StatusMissingState: there is no state.bin.
	StatusMissingState Status = "missing_state"
	// StatusSizeMismatch: state.bin is not meta.json's Size bytes long.
	StatusSizeMismatch Status = "size_mismatch"
	// StatusCRCMismatch: state.bin's CRC-64 is not meta.json's.
	StatusCRCMismatch Status = "crc_mismatch"
	// StatusUnreadable: a file could not be read (permissions, I/O error).
	StatusUnreadable Status = "unreadable"
)

// Snapshot is one directory under snapshots/.
type Snapshot struct {
	// Name is the directory's name, TERM-INDEX-MILLISECONDS (raft's
	// snapshot ID).
	Name string `json:"name"`
	// Term, Index and Created come from the name; meta.json must agree.
	Term    uint64    `json:"term"`
	Index   uint64    `json:"index"`
	Created time.Time `json:"created,omitzero"`
	// Size is state.bin's size according to meta.json (0 when meta.json
	// cannot be read).
	Size int64 `json:"size"`
	// CRC is meta.json's CRC-64 (ECMA) of state.bin, in hex.
	CRC    string `json:"crc,omitempty"`
	Status Status `json:"status"`
	// Problem says what is wrong when Status is not StatusOK.
	Problem string `json:"problem,omitempty"`

	dir  string
	meta *raft.SnapshotMeta
}

// listing is what snapshots/ holds.
type listing struct {
	snapshots []Snapshot // newest first, at most maxListed
	omitted   int        // older snapshot directories not listed
	temporary []string   // .tmp directories, at most maxTemporary names
	tmpCount  int
}

// listSnapshots reads snapshots/ in batches, keeping the newest maxListed
// directories. Files, symbolic links and .tmp directories are not
// snapshots (hashicorp/raft skips them too).
func listSnapshots(raftDir string) (*listing, error) {
	dir := filepath.Join(raftDir, SnapshotsDir)
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &listing{}, nil
	}
	if err != nil {
		return nil, newError(ErrNotRaftDir, dir, err, "cannot read %s: %v", dir, unwrapPath(err))
	}
	defer f.Close()
	l := &listing{}
	total := 0
	for {
		entries, err := f.ReadDir(readDirBatch)
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() {
				continue
			}
			if strings.HasSuffix(name, tmpSuffix) {
				l.tmpCount++
				if len(l.temporary) < maxTemporary {
					l.temporary = append(l.temporary, name)
				}
				continue
			}
			total++
			l.snapshots = append(l.snapshots, newSnapshot(dir, name))
			if len(l.snapshots) >= 2*maxListed {
				sortNewestFirst(l.snapshots)
				l.snapshots = l.snapshots[:maxListed]
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, newError(ErrNotRaftDir, dir, err, "cannot read %s: %v", dir, unwrapPath(err))
		}
	}
	sortNewestFirst(l.snapshots)
	if len(l.snapshots) > maxListed {
		l.snapshots = l.snapshots[:maxListed]
	}
	l.omitted = total - len(l.snapshots)
	sort.Strings(l.temporary)
	return l, nil
}

// newSnapshot parses a snapshot directory's name; a name raft would not
// have written is kept, marked StatusBadName, and sorts last.
func newSnapshot(parent, name string) Snapshot {
	s := Snapshot{Name: name, dir: filepath.Join(parent, name), Status: StatusUnchecked}
	term, index, created, ok := parseName(name)
	if !ok {
		s.Status = StatusBadName
		s.Problem = fmt.Sprintf("snapshot directory %s: its name is not TERM-INDEX-MILLISECONDS, as hashicorp/raft names snapshots", quote(name))
		return s
	}
	s.Term, s.Index, s.Created = term, index, created
	return s
}

// parseName reads hashicorp/raft's snapshot name, "%d-%d-%d" of term,
// index and the creation time in Unix milliseconds.
func parseName(name string) (term, index uint64, created time.Time, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return 0, 0, time.Time{}, false
	}
	var nums [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return 0, 0, time.Time{}, false
		}
		nums[i] = n
	}
	if nums[0] == 0 || nums[1] == 0 || nums[2] > 1<<62 {
		return 0, 0, time.Time{}, false
	}
	return nums[0], nums[1], time.UnixMilli(int64(nums[2])).UTC(), true
}

// sortNewestFirst orders as hashicorp/raft does: by term, index, then ID.
func sortNewestFirst(s []Snapshot) {
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if (a.Status == StatusBadName) != (b.Status == StatusBadName) {
			return b.Status == StatusBadName
		}
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.Name > b.Name
	})
}

// fileMeta is meta.json in a FileSnapshotStore directory: the snapshot's
// raft.SnapshotMeta plus the CRC-64 of state.bin.
type fileMeta struct {
	CRC []byte
}

// ParseMeta decodes the meta.json of the snapshot directory named dirName
// and checks it: the rules an archive's meta.json must meet
// (snapshot.ParseMeta), an 8-byte CRC, and an ID, term and index that
// match the directory's name, as hashicorp/raft writes them. Every problem
// is a *snapshot.Error of kind snapshot.ErrInvalidMeta. data must already
// be bounded (snapshot.DefaultMaxMetaSize).
func ParseMeta(data []byte, dirName string) (*raft.SnapshotMeta, uint64, error) {
	invalid := func(format string, args ...any) error {
		return &snapshot.Error{Kind: snapshot.ErrInvalidMeta, Member: snapshot.MetaName,
			Msg: fmt.Sprintf("snapshot directory %s: ", quote(dirName)) + fmt.Sprintf(format, args...)}
	}
	meta, err := snapshot.ParseMeta(data)
	if err != nil {
		var archiveErr *snapshot.Error
		if errors.As(err, &archiveErr) {
			return nil, 0, &snapshot.Error{Kind: archiveErr.Kind, Member: archiveErr.Member,
				Msg: fmt.Sprintf("snapshot directory %s: %s", quote(dirName), archiveErr.Msg), Err: archiveErr.Err}
		}
		return nil, 0, err
	}
	var fm fileMeta
	if err := json.Unmarshal(data, &fm); err != nil {
		return nil, 0, invalid("meta.json field \"CRC\" is not base64: %v", err)
	}
	switch {
	case fm.CRC == nil:
		return nil, 0, invalid("meta.json has no CRC; hashicorp/raft always records the CRC-64 of state.bin")
	case len(fm.CRC) != 8:
		return nil, 0, invalid("meta.json has a CRC of %d bytes; a CRC-64 has 8", len(fm.CRC))
	case meta.ID != dirName:
		return nil, 0, invalid("meta.json has ID %s, but hashicorp/raft names a snapshot's directory after its ID", quote(meta.ID))
	}
	if term, index, _, ok := parseName(dirName); ok && (term != meta.Term || index != meta.Index) {
		return nil, 0, invalid("meta.json has term %d and index %d, but the directory's name says term %d and index %d",
			meta.Term, meta.Index, term, index)
	}
	return meta, binary.BigEndian.Uint64(fm.CRC), nil
}

// check reads s's meta.json and state.bin and sets s.Status. The returned
// error is the *snapshot.Error saying what is wrong, or a context error.
func check(ctx context.Context, s *Snapshot) error {
	if s.Status == StatusBadName {
		return &snapshot.Error{Kind: snapshot.ErrInvalidMeta, Member: snapshot.MetaName, Msg: s.Problem}
	}
	err := s.checkFiles(ctx)
	switch {
	case err == nil:
		s.Status, s.Problem = StatusOK, ""
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		s.Status = StatusUnchecked
		return err
	}
	s.Problem = err.Error()
	var archiveErr *snapshot.Error
	switch {
	case !errors.As(err, &archiveErr):
		s.Status = StatusUnreadable
	case errors.Is(err, snapshot.ErrMissingMember):
		s.Status = StatusMissingState
	case errors.Is(err, snapshot.ErrStateSize):
		s.Status = StatusSizeMismatch
	case errors.Is(err, snapshot.ErrChecksum):
		s.Status = StatusCRCMismatch
	default:
		s.Status = StatusInvalidMeta
	}
	return err
}

func (s *Snapshot) checkFiles(ctx context.Context) error {
	meta, crc, err := readMeta(s.dir, s.Name)
	if err != nil {
		return err
	}
	s.meta, s.Size, s.CRC = meta, meta.Size, fmt.Sprintf("%016x", crc)
	f, err := s.openState()
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := copyState(ctx, io.Discard, f, s)
	if err != nil {
		return err
	}
	return s.compareCRC(got)
}

// readMeta reads and parses dir/meta.json, at most
// snapshot.DefaultMaxMetaSize bytes of it.
func readMeta(dir, name string) (*raft.SnapshotMeta, uint64, error) {
	path := filepath.Join(dir, snapshot.MetaName)
	f, info, err := openRegular(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, &snapshot.Error{Kind: snapshot.ErrInvalidMeta, Member: snapshot.MetaName,
				Msg: fmt.Sprintf("snapshot directory %s has no meta.json", quote(name))}
		}
		return nil, 0, &snapshot.Error{Kind: snapshot.ErrInvalidMeta, Member: snapshot.MetaName, Err: err,
			Msg: fmt.Sprintf("snapshot directory %s: cannot read meta.json: %v", quote(name), unwrapPath(err))}
	}
	defer f.Close()
	if info.Size() > snapshot.DefaultMaxMetaSize {
		return nil, 0, &snapshot.Error{Kind: snapshot.ErrMetaTooLarge, Member: snapshot.MetaName,
			Msg: fmt.Sprintf("snapshot directory %s: meta.json is %d bytes, over the %d byte limit (real ones are a few KiB)",
				quote(name), info.Size(), snapshot.DefaultMaxMetaSize)}
	}
	// One byte more than the limit tells a file that grew from one that fits.
	data, err := io.ReadAll(io.LimitReader(f, snapshot.DefaultMaxMetaSize+1))
	if err != nil {
		return nil, 0, &snapshot.Error{Kind: snapshot.ErrInvalidMeta, Member: snapshot.MetaName, Err: err,
			Msg: fmt.Sprintf("snapshot directory %s: cannot read meta.json: %v", quote(name), err)}
	}
	if int64(len(data)) > snapshot.DefaultMaxMetaSize {
		return nil, 0, &snapshot.Error{Kind: snapshot.ErrMetaTooLarge, Member: snapshot.MetaName,
			Msg: fmt.Sprintf("snapshot directory %s: meta.json grew past the %d byte limit while it was read", quote(name), snapshot.DefaultMaxMetaSize)}
	}
	return ParseMeta(data, name)
}

// openState opens state.bin and checks its size against meta.json's.
func (s *Snapshot) openState() (*os.File, error) {
	path := filepath.Join(s.dir, snapshot.StateName)
	f, info, err := openRegular(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &snapshot.Error{Kind: snapshot.ErrMissingMember, Member: snapshot.StateName,
				Msg: fmt.Sprintf("snapshot directory %s has no state.bin", quote(s.Name))}
		}
		return nil, fmt.Errorf("snapshot directory %s: cannot read state.bin: %w", quote(s.Name), err)
	}
	if info.Size() != s.meta.Size {
		f.Close()
		return nil, &snapshot.Error{Kind: snapshot.ErrStateSize, Member: snapshot.StateName,
			Msg: fmt.Sprintf("snapshot directory %s: state.bin is %d bytes, but meta.json says Size %d", quote(s.Name), info.Size(), s.meta.Size)}
	}
	return f, nil
}

// copyState copies exactly meta.Size bytes of state.bin into w, checking
// the context between chunks, and returns their CRC-64. A file that turns
// out shorter or longer than its size is a snapshot.ErrStateSize.
func copyState(ctx context.Context, w io.Writer, f io.Reader, s *Snapshot) (uint64, error) {
	h := crc64.New(crcTable)
	n, err := io.CopyBuffer(io.MultiWriter(h, w), &ctxReader{ctx: ctx, r: io.LimitReader(f, s.meta.Size)}, make([]byte, chunkSize))
	if err != nil {
		return 0, err
	}
	if n != s.meta.Size {
		return 0, &snapshot.Error{Kind: snapshot.ErrStateSize, Member: snapshot.StateName,
			Msg: fmt.Sprintf("snapshot directory %s: state.bin ended after %d bytes while it was read, but meta.json says Size %d", quote(s.Name), n, s.meta.Size)}
	}
	if extra, _ := f.Read(make([]byte, 1)); extra > 0 {
		return 0, &snapshot.Error{Kind: snapshot.ErrStateSize, Member: snapshot.StateName,
			Msg: fmt.Sprintf("snapshot directory %s: state.bin grew past meta.json's Size %d while it was read", quote(s.Name), s.meta.Size)}
	}
	return h.Sum64(), nil
}

func (s *Snapshot) compareCRC(got uint64) error {
	if want := s.CRC; fmt.Sprintf("%016x", got) != want {
		return &snapshot.Error{Kind: snapshot.ErrChecksum, Member: snapshot.StateName,
			Msg: fmt.Sprintf("snapshot directory %s: state.bin's CRC-64 is %016x, but meta.json says %s: state.bin is damaged", quote(s.Name), got, want)}
	}
	return nil
}

// ctxReader stops reading once ctx ends, within one chunk.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// quote quotes a name read from disk, short and escaped.
var quote = snapshot.QuoteName
