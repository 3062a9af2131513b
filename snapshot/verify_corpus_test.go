package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The hostile corpus lives in testdata/corpus as small .tar.gz files, made
// by the generators below. Stored bytes keep the expected messages (with
// their byte offsets) stable even if compress/gzip's output changes;
// regenerate with: go test ./snapshot/ -run TestCorpus -update-corpus
var updateCorpus = flag.Bool("update-corpus", false, "rewrite snapshot/testdata/corpus from the generators")

const corpusDir = "testdata/corpus"

// tarEntry is one raw tar member. size < 0 means len(body); otherwise the
// header declares size whatever body holds, to make lying headers. raw,
// when set, is written as is instead (headers archive/tar's writer refuses
// to make).
type tarEntry struct {
	name     string
	body     []byte
	size     int64
	typeflag byte
	linkname string
	pax      map[string]string
	raw      []byte
}

func entry(name string, body []byte) tarEntry { return tarEntry{name: name, body: body, size: -1} }

// rawTar lays out headers and bodies by hand so headers can lie.
func rawTar(entries []tarEntry, endMarker bool) []byte {
	var out bytes.Buffer
	for _, e := range entries {
		if e.raw != nil {
			out.Write(e.raw)
			continue
		}
		size := e.size
		if size < 0 {
			size = int64(len(e.body))
		}
		typeflag := e.typeflag
		if typeflag == 0 {
			typeflag = tar.TypeReg
		}
		var hdrBuf bytes.Buffer
		tw := tar.NewWriter(&hdrBuf)
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: size, ModTime: testModTime, Typeflag: typeflag, Linkname: e.linkname, PAXRecords: e.pax}); err != nil {
			panic(err)
		}
		out.Write(hdrBuf.Bytes()) // header blocks only: tw is abandoned before the body
		out.Write(e.body)
		if pad := len(e.body) % 512; pad != 0 {
			out.Write(make([]byte, 512-pad))
		}
	}
	if endMarker {
		out.Write(make([]byte, 1024))
	}
	return out.Bytes()
}

// gz compresses like Consul: compress/gzip, default level, empty header.
func gz(data []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(data)
	zw.Close()
	return out.Bytes()
}

func sumsFor(meta, state []byte) []byte {
	return fmt.Appendf(nil, "%x  %s\n%x  %s\n", sha256.Sum256(meta), MetaName, sha256.Sum256(state), StateName)
}

const corpusStateSize = 6000

var (
	corpusState = syntheticState(corpusStateSize, 42)
	corpusMeta  = []byte(`{"Version":1,"ID":"2-1234-1714979289000","Index":1234,"Term":2,"Peers":null,"Configuration":{"Servers":[{"Suffrage":0,"ID":"server-1","Address":"127.0.0.1:8300"}]},"ConfigurationIndex":1,"Size":6000}` + "\n")
)

func validEntries() []tarEntry {
	return []tarEntry{entry(MetaName, corpusMeta), entry(StateName, corpusState), entry(SumsName, sumsFor(corpusMeta, corpusState))}
}

func validArchive() []byte { return gz(rawTar(validEntries(), true)) }

// metaWith returns a meta.json and matching entries for state.
func archiveWithMeta(meta []byte) []byte {
	return gz(rawTar([]tarEntry{entry(MetaName, meta), entry(StateName, corpusState), entry(SumsName, sumsFor(meta, corpusState))}, true))
}

// rawHeader makes a tar header block archive/tar's writer will not: a
// USTAR header for name and size, then typeflag set and patch applied,
// with the checksum recomputed.
func rawHeader(name string, size int64, typeflag byte, patch func(blk []byte)) []byte {
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: testModTime, Format: tar.FormatUSTAR}); err != nil {
		panic(err)
	}
	blk := buf.Bytes()[:512]
	blk[156] = typeflag
	if patch != nil {
		patch(blk)
	}
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return blk
}

// padded appends zeros up to the next 512-byte tar block.
func padded(b []byte) []byte {
	return append(append([]byte(nil), b...), make([]byte, (512-len(b)%512)%512)...)
}

// paxHeader is a PAX extended header ('x') carrying records in the order
// given (archive/tar's writer sorts them, which GNU sparse 0.0 forbids).
func paxHeader(records ...[2]string) []byte {
	var body []byte
	for _, r := range records {
		// "<length> key=value\n", where length counts its own digits.
		rest := " " + r[0] + "=" + r[1] + "\n"
		n := len(rest) + 1
		for n != len(rest)+len(strconv.Itoa(n)) {
			n = len(rest) + len(strconv.Itoa(n))
		}
		body = fmt.Appendf(body, "%d%s", n, rest)
	}
	return append(rawHeader("PaxHeaders/"+StateName, int64(len(body)), tar.TypeXHeader, nil), padded(body)...)
}

// sparseState is a state.bin of declared bytes, all of them a hole that
// archive/tar fills with zeros: a GNU sparse member in the given flavour
// ("S" for the old GNU type, "0.0", "0.1" or "1.0" for PAX).
func sparseState(flavor string, declared int64) tarEntry {
	size := fmt.Sprint(declared)
	switch flavor {
	case "S":
		return tarEntry{raw: rawHeader(StateName, 0, tar.TypeGNUSparse, func(blk []byte) {
			copy(blk[257:265], "ustar  \x00") // GNU magic: the sparse fields are GNU's
			copy(blk[345:500], make([]byte, 155))
			binary.BigEndian.PutUint64(blk[487:495], uint64(declared)) // realsize, base-256
			blk[483] = 0x80
		})}
	case "0.0":
		return tarEntry{raw: append(paxHeader([2]string{"GNU.sparse.size", size}, [2]string{"GNU.sparse.numblocks", "1"},
			[2]string{"GNU.sparse.offset", "0"}, [2]string{"GNU.sparse.numbytes", "0"}), rawHeader(StateName, 0, tar.TypeReg, nil)...)}
	case "0.1":
		return tarEntry{raw: append(paxHeader([2]string{"GNU.sparse.major", "0"}, [2]string{"GNU.sparse.minor", "1"}, [2]string{"GNU.sparse.size", size},
			[2]string{"GNU.sparse.numblocks", "1"}, [2]string{"GNU.sparse.map", "0,0"}), rawHeader(StateName, 0, tar.TypeReg, nil)...)}
	case "1.0":
		// The sparse map ("0 entries") is the member's data; the real name
		// comes from GNU.sparse.name.
		mapBlock := padded([]byte("0\n"))
		return tarEntry{raw: append(append(paxHeader([2]string{"GNU.sparse.major", "1"}, [2]string{"GNU.sparse.minor", "0"},
			[2]string{"GNU.sparse.name", StateName}, [2]string{"GNU.sparse.realsize", size}),
			rawHeader("GNUSparseFile.0/"+StateName, int64(len(mapBlock)), tar.TypeReg, nil)...), mapBlock...)}
	}
	panic("unknown sparse flavour " + flavor)
}

// sparseArchive declares a state.bin of declared bytes that is all hole.
// With sums set, SHA256SUMS matches those zeros, so a reader that fills
// holes accepts the archive.
func sparseArchive(flavor string, declared int64, sums bool) func() []byte {
	return func() []byte {
		meta := fmt.Appendf(nil, `{"Version":1,"ID":"x","Index":5,"Term":1,"Size":%d}`, declared)
		entries := []tarEntry{entry(MetaName, meta), sparseState(flavor, declared)}
		if sums {
			h := sha256.New()
			io.CopyN(h, zeroReader{}, declared)
			entries = append(entries, entry(SumsName, fmt.Appendf(nil, "%x  %s\n%x  %s\n", sha256.Sum256(meta), MetaName, h.Sum(nil), StateName)))
		}
		return gz(rawTar(entries, true))
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func cut(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }

func flipBit(b []byte, at int) []byte {
	out := append([]byte(nil), b...)
	out[at] ^= 0x10
	return out
}

type corpusCase struct {
	name   string
	make   func() []byte
	opts   VerifyOptions
	kind   error // nil: must verify
	errMsg string
}

// offsetOf finds where the compressed stream reaches a given uncompressed
// offset, so truncation points land inside the intended member whatever
// the compressor does.
func truncatedAt(uncompressed int) func() []byte {
	return func() []byte {
		tarData := rawTar(validEntries(), true)
		// Compress in two flushes so the cut falls exactly after the bytes
		// up to the chosen uncompressed offset.
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(tarData[:uncompressed])
		zw.Flush()
		return cut(out.Bytes(), out.Len())
	}
}

const sparsePAXMsg = "snapshot archive member state.bin is a GNU sparse file (PAX GNU.sparse.* records), not a regular file: its holes would be zeros that are not in the archive"

func corpusCases() []corpusCase {
	valid := validArchive
	stateCorrupted := func() []byte {
		state := append([]byte(nil), corpusState...)
		state[3000] ^= 1
		return gz(rawTar([]tarEntry{entry(MetaName, corpusMeta), entry(StateName, state), entry(SumsName, sumsFor(corpusMeta, corpusState))}, true))
	}
	withSums := func(sums string) func() []byte {
		return func() []byte {
			return gz(rawTar([]tarEntry{entry(MetaName, corpusMeta), entry(StateName, corpusState), entry(SumsName, []byte(sums))}, true))
		}
	}
	stateSum := fmt.Sprintf("%x", sha256.Sum256(corpusState))
	metaSum := fmt.Sprintf("%x", sha256.Sum256(corpusMeta))
	withEntries := func(entries ...tarEntry) func() []byte {
		return func() []byte { return gz(rawTar(entries, true)) }
	}
	metaE, stateE, sumsE := validEntries()[0], validEntries()[1], validEntries()[2]
	sealed := entry(SealedSumsName, []byte(`{"version":1,"type":"sealed","value":"c2VhbGVk"}`))
	zeroTrailer := func() []byte {
		a := valid()
		binary.LittleEndian.PutUint32(a[len(a)-8:], binary.LittleEndian.Uint32(a[len(a)-8:])^0xdeadbeef)
		return a
	}
	return []corpusCase{
		{name: "valid", make: valid},
		{name: "valid-vault-sealed", make: withEntries(metaE, stateE, sumsE, sealed), opts: VerifyOptions{RequireSealed: true}},
		{name: "valid-tar-record-padding", make: func() []byte {
			return gz(append(rawTar(validEntries(), true), make([]byte, 8192)...))
		}},
		{name: "valid-no-tar-end-marker", make: func() []byte { return gz(rawTar(validEntries(), false)) }},

		{name: "empty", make: func() []byte { return nil }, kind: ErrEmpty,
			errMsg: "snapshot archive is empty (0 bytes)"},
		{name: "not-gzip-json-error", make: func() []byte { return []byte(`{"errors":["Permission denied"]}` + "\n") }, kind: ErrNotGzip,
			errMsg: `snapshot archive is not gzip data: it starts with "{\"errors\":[\"Perm" instead of the gzip magic bytes 1f 8b (was an error page or another file saved in its place?)`},
		{name: "not-gzip-plain-tar", make: func() []byte { return rawTar(validEntries(), true) }, kind: ErrNotGzip,
			errMsg: `snapshot archive is not gzip data: it starts with "meta.json\x00\x00\x00\x00\x00\x00\x00" instead of the gzip magic bytes 1f 8b (was an error page or another file saved in its place?)`},
		{name: "truncated-gzip-header", make: func() []byte { return cut(valid(), 5) }, kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 5 bytes, inside the gzip header"},
		{name: "truncated-in-meta", make: truncatedAt(512 + 100), kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 166 bytes, 100 of 200 bytes into meta.json"},
		{name: "truncated-in-state", make: truncatedAt(1536 + 3000), kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 1591 bytes, 3000 of 6000 bytes into state.bin"},
		{name: "truncated-in-tar-header", make: truncatedAt(1536 + 6144 + 100), kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 2789 bytes, in the tar header after state.bin"},
		{name: "truncated-in-sums", make: truncatedAt(1536 + 6144 + 512 + 50), kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 2844 bytes, 50 of 152 bytes into SHA256SUMS"},
		{name: "truncated-before-gzip-trailer", make: func() []byte { a := valid(); return cut(a, len(a)-8) }, kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 2919 bytes, after the tar end-of-archive marker"},
		{name: "truncated-in-gzip-trailer", make: func() []byte { a := valid(); return cut(a, len(a)-3) }, kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: input ended after 2924 bytes, after the tar end-of-archive marker"},
		{name: "flipped-bit-deflate-data", make: func() []byte { return flipBit(valid(), 1500) }, kind: ErrCorrupt,
			errMsg: "snapshot archive is corrupt: the gzip trailer's CRC-32 or length does not match the decompressed data"},
		{name: "flipped-bit-huffman-table", make: func() []byte { return flipBit(valid(), 14) }, kind: ErrCorrupt,
			errMsg: "snapshot archive is corrupt: invalid deflate data at byte 18, in the tar header of the first member"},
		{name: "flipped-bit-gzip-trailer", make: zeroTrailer, kind: ErrCorrupt,
			errMsg: "snapshot archive is corrupt: the gzip trailer's CRC-32 or length does not match the decompressed data"},
		{name: "flipped-bit-state-content", make: stateCorrupted, kind: ErrChecksum,
			errMsg: "state.bin checksum mismatch: SHA256SUMS says " + stateSum + ", content hashes to " + fmt.Sprintf("%x", sha256.Sum256(func() []byte {
				s := append([]byte(nil), corpusState...)
				s[3000] ^= 1
				return s
			}()))},
		{name: "sums-wrong-digest", make: withSums(fmt.Sprintf("%064x  %s\n%s  %s\n", 1, MetaName, stateSum, StateName)), kind: ErrChecksum,
			errMsg: fmt.Sprintf("meta.json checksum mismatch: SHA256SUMS says %064x, content hashes to %s", 1, metaSum)},
		{name: "sums-missing", make: withEntries(metaE, stateE), kind: ErrMissingSums,
			errMsg: "snapshot archive has no SHA256SUMS member, so its contents cannot be checked"},
		{name: "sums-missing-entry", make: withSums(metaSum + "  meta.json\n"), kind: ErrSumsMismatch,
			errMsg: "snapshot SHA256SUMS has no entry for state.bin"},
		{name: "sums-lists-absent-file", make: withSums(metaSum + "  meta.json\n" + stateSum + "  state.bin\n" + stateSum + "  extra.bin\n"), kind: ErrSumsMismatch,
			errMsg: `snapshot SHA256SUMS lists "extra.bin", which is not a member it covers (only meta.json and state.bin)`},
		{name: "sums-malformed-line", make: withSums(metaSum + " meta.json\n" + stateSum + "  state.bin\n"), kind: ErrInvalidSums,
			errMsg: `snapshot SHA256SUMS line 1 is not "<64 lowercase hex digits>  <file name>": "` + metaSum + ` meta.json"`},
		{name: "sums-short-digest", make: withSums(metaSum[:60] + "  meta.json\n" + stateSum + "  state.bin\n"), kind: ErrInvalidSums,
			errMsg: `snapshot SHA256SUMS line 1 is not "<64 lowercase hex digits>  <file name>": "` + metaSum[:60] + `  meta.json"`},
		{name: "sums-no-final-newline", make: withSums(metaSum + "  meta.json\n" + stateSum + "  state.bin"), kind: ErrInvalidSums,
			errMsg: "snapshot SHA256SUMS does not end with a newline (truncated or hand-edited?)"},
		{name: "sums-duplicate-line", make: withSums(metaSum + "  meta.json\n" + metaSum + "  meta.json\n"), kind: ErrInvalidSums,
			errMsg: "snapshot SHA256SUMS lists meta.json twice"},
		{name: "unknown-member", make: withEntries(metaE, stateE, entry("notes.txt", []byte("hi")), sumsE), kind: ErrUnknownMember,
			errMsg: `snapshot archive has an unexpected member "notes.txt"; only meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed may appear`},
		{name: "unknown-member-path-traversal", make: withEntries(entry("../../etc/passwd", []byte("x")), metaE, stateE, sumsE), kind: ErrUnknownMember,
			errMsg: `snapshot archive has an unexpected member "../../etc/passwd"; only meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed may appear`},
		{name: "duplicate-member", make: withEntries(metaE, metaE, stateE, sumsE), kind: ErrDuplicateMember,
			errMsg: "snapshot archive has meta.json twice"},
		{name: "members-out-of-order", make: withEntries(stateE, metaE, sumsE), kind: ErrMemberOrder,
			errMsg: "snapshot archive has state.bin before meta.json (missing or out of order); members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed"},
		{name: "state-missing", make: withEntries(metaE, sumsE), kind: ErrMemberOrder,
			errMsg: "snapshot archive has SHA256SUMS before state.bin (missing or out of order); members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed"},
		{name: "sealed-before-sums", make: withEntries(metaE, stateE, sealed, sumsE), kind: ErrMemberOrder,
			errMsg: "snapshot archive has SHA256SUMS.sealed before SHA256SUMS (missing or out of order); members must come as meta.json, state.bin, SHA256SUMS, then SHA256SUMS.sealed"},
		{name: "empty-tar", make: func() []byte { return gz(make([]byte, 1024)) }, kind: ErrMissingMember,
			errMsg: "snapshot archive has no meta.json member"},
		{name: "meta-2GiB-declared", make: func() []byte {
			return gz(rawTar([]tarEntry{{name: MetaName, body: corpusMeta, size: 2 << 30}}, false))
		}, kind: ErrMetaTooLarge,
			errMsg: "snapshot meta.json is 2147483648 bytes, over the 1048576 byte limit (real ones are a few KiB; raise VerifyOptions.MaxMetaSize only for huge cluster configurations)"},
		{name: "meta-invalid-json", make: func() []byte { return archiveWithMeta([]byte(`{"Version":1,"ID":"x",`)) }, kind: ErrInvalidMeta,
			errMsg: "snapshot meta.json is not valid JSON: it ends before the JSON object does"},
		{name: "meta-syntax-error", make: func() []byte { return archiveWithMeta([]byte(`{"Version":1;}`)) }, kind: ErrInvalidMeta,
			errMsg: "snapshot meta.json is not valid JSON: invalid character ';' after object key:value pair at byte 13"},
		{name: "meta-wrong-type", make: func() []byte {
			return archiveWithMeta([]byte(`{"Version":1,"ID":"x","Index":"12","Term":1,"Size":6000}`))
		}, kind: ErrInvalidMeta,
			errMsg: `snapshot meta.json field "Index" is a JSON string, which does not fit`},
		{name: "meta-array", make: func() []byte { return archiveWithMeta([]byte(`[1,2]`)) }, kind: ErrInvalidMeta,
			errMsg: "snapshot meta.json is a JSON array, not an object"},
		{name: "meta-zero-index", make: func() []byte { return archiveWithMeta([]byte(`{"Version":1,"ID":"x","Index":0,"Term":1,"Size":6000}`)) }, kind: ErrInvalidMeta,
			errMsg: "snapshot meta.json has Index 0; a raft snapshot always covers at least one log entry"},
		{name: "meta-trailing-data", make: func() []byte { return archiveWithMeta(append(append([]byte(nil), corpusMeta...), "{}"...)) }, kind: ErrInvalidMeta,
			errMsg: "snapshot meta.json has 2 bytes of extra data after the JSON object"},
		{name: "state-shorter-than-meta", make: func() []byte {
			return archiveWithMeta([]byte(`{"Version":1,"ID":"x","Index":5,"Term":1,"Size":6001}`))
		}, kind: ErrStateSize,
			errMsg: "snapshot state.bin is 6000 bytes according to its tar header, but meta.json says Size 6001"},
		{name: "state-longer-than-meta", make: func() []byte {
			return archiveWithMeta([]byte(`{"Version":1,"ID":"x","Index":5,"Term":1,"Size":5999}`))
		}, kind: ErrStateSize,
			errMsg: "snapshot state.bin is 6000 bytes according to its tar header, but meta.json says Size 5999"},
		{name: "tar-header-size-too-small", make: func() []byte {
			meta := []byte(`{"Version":1,"ID":"x","Index":5,"Term":1,"Size":1000}`)
			return gz(rawTar([]tarEntry{entry(MetaName, meta), {name: StateName, body: corpusState, size: 1000}, entry(SumsName, sumsFor(meta, corpusState[:1000]))}, true))
		}, kind: ErrInvalidTar,
			errMsg: "snapshot archive has an invalid tar header after state.bin (a member's declared size may be wrong)"},
		{name: "tar-header-size-too-large", make: func() []byte {
			meta := []byte(`{"Version":1,"ID":"x","Index":5,"Term":1,"Size":100000}`)
			return gz(rawTar([]tarEntry{entry(MetaName, meta), {name: StateName, body: corpusState, size: 100000}}, false))
		}, kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: the tar stream ends 6144 of 100000 bytes into state.bin, although the gzip stream is complete"},
		{name: "state-8GiB-declared-then-cut", make: func() []byte {
			meta := []byte(`{"Version":1,"ID":"x","Index":5,"Term":1,"Size":8589934592}`)
			return gz(rawTar([]tarEntry{entry(MetaName, meta), {name: StateName, body: corpusState, size: 8 << 30}}, false))
		}, kind: ErrTruncated,
			errMsg: "snapshot archive is truncated: the tar stream ends 6144 of 8589934592 bytes into state.bin, although the gzip stream is complete"},
		{name: "trailing-garbage", make: func() []byte { return append(valid(), "GARBAGE\n"...) }, kind: ErrTrailingData,
			errMsg: "snapshot archive has trailing data: 8 bytes follow the end of the gzip stream at byte 2927"},
		{name: "second-gzip-member", make: func() []byte { return append(valid(), gz([]byte("more"))...) }, kind: ErrTrailingData,
			errMsg: "snapshot archive has trailing data: a second gzip member starts at byte 2927 (28 more bytes); snapshot archives are a single gzip member"},
		{name: "nonzero-after-tar-end", make: func() []byte { return gz(append(rawTar(validEntries(), true), "tail"...)) }, kind: ErrTrailingData,
			errMsg: "snapshot archive has trailing data: 4 bytes follow the tar end-of-archive marker inside the gzip stream, and they are not zero padding"},
		{name: "not-tar-inside-gzip", make: func() []byte { return gz(bytes.Repeat([]byte("not a tar archive "), 100)) }, kind: ErrInvalidTar,
			errMsg: "snapshot archive has an invalid tar header at the start of the tar stream"},
		{name: "symlink-member", make: withEntries(tarEntry{name: MetaName, size: 0, typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}, stateE, sumsE), kind: ErrMemberType,
			errMsg: "snapshot archive member meta.json is a symbolic link, not a regular file"},
		{name: "directory-member", make: withEntries(tarEntry{name: StateName, size: 0, typeflag: tar.TypeDir}), kind: ErrMemberType,
			errMsg: "snapshot archive member state.bin is a directory, not a regular file"},
		{name: "valid-pax-records", make: withEntries(metaE, tarEntry{name: StateName, body: corpusState, size: -1, pax: map[string]string{"comment": "PAX headers carry metadata only"}}, sumsE)},
		// Issue 12: archive/tar makes up a sparse member's holes as zeros,
		// so a few hundred bytes declared an exabyte: verification never ended.
		{name: "state-sparse-pax-1.0-1EiB-of-holes", make: sparseArchive("1.0", 1<<60, false), kind: ErrMemberType, errMsg: sparsePAXMsg},
		{name: "state-sparse-pax-0.1-1EiB-of-holes", make: sparseArchive("0.1", 1<<60, false), kind: ErrMemberType, errMsg: sparsePAXMsg},
		{name: "state-sparse-pax-0.0-1EiB-of-holes", make: sparseArchive("0.0", 1<<60, false), kind: ErrMemberType, errMsg: sparsePAXMsg},
		{name: "state-sparse-gnu-type-S-1EiB-of-holes", make: sparseArchive("S", 1<<60, false), kind: ErrMemberType,
			errMsg: "snapshot archive member state.bin is a GNU sparse file, not a regular file"},
		// Every byte of it consistent: a reader that fills holes accepts it.
		{name: "state-sparse-pax-1.0-verifies-as-zeros", make: sparseArchive("1.0", 64<<20, true), kind: ErrMemberType, errMsg: sparsePAXMsg},
		{name: "hardlink-member", make: withEntries(tarEntry{name: MetaName, size: 0, typeflag: tar.TypeLink, linkname: "/etc/shadow"}, stateE, sumsE), kind: ErrMemberType,
			errMsg: "snapshot archive member meta.json is a hard link, not a regular file"},
		{name: "fifo-member", make: withEntries(metaE, tarEntry{name: StateName, size: 0, typeflag: tar.TypeFifo}, sumsE), kind: ErrMemberType,
			errMsg: "snapshot archive member state.bin is a named pipe, not a regular file"},
		{name: "contiguous-member", make: withEntries(metaE, tarEntry{name: StateName, body: corpusState, size: -1, typeflag: tar.TypeCont}, sumsE), kind: ErrMemberType,
			errMsg: "snapshot archive member state.bin is a contiguous file, not a regular file"},
		{name: "pax-global-header", make: withEntries(tarEntry{raw: rawHeader("pax_global_header", 0, tar.TypeXGlobalHeader, nil)}, metaE, stateE, sumsE), kind: ErrUnknownMember,
			errMsg: `snapshot archive has an unexpected member "pax_global_header"; only meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed may appear`},
		{name: "sealed-missing", make: valid, opts: VerifyOptions{RequireSealed: true}, kind: ErrMissingSealed,
			errMsg: "snapshot archive has no SHA256SUMS.sealed member, which archives from this source (Vault) always carry"},
	}
}

func TestCorpus(t *testing.T) {
	if *updateCorpus {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tc := range corpusCases() {
			if err := os.WriteFile(filepath.Join(corpusDir, tc.name+".tar.gz"), tc.make(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range corpusCases() {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, tc.name+".tar.gz"))
			if err != nil {
				t.Fatalf("corpus file missing (regenerate with -update-corpus): %v", err)
			}
			rep, err := Verify(t.Context(), bytes.NewReader(data), tc.opts)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("valid archive rejected: %v", err)
				}
				checkReportConsistent(t, data, rep)
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %v", tc.kind)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error kind: got %q, want errors.Is %v", err, tc.kind)
			}
			var archiveErr *Error
			if !errors.As(err, &archiveErr) {
				t.Errorf("error %T is not *snapshot.Error", err)
			}
			if err.Error() != tc.errMsg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tc.errMsg)
			}
		})
	}
}

// checkReportConsistent asserts what a successful verification promises.
func checkReportConsistent(t testing.TB, archive []byte, rep *Report) {
	t.Helper()
	if rep == nil {
		t.Fatal("nil report without error")
	}
	if rep.ArchiveBytes != int64(len(archive)) || rep.ArchiveSHA256 != sha256Hex(archive) {
		t.Fatalf("report describes %d bytes %s, input is %d bytes %s", rep.ArchiveBytes, rep.ArchiveSHA256, len(archive), sha256Hex(archive))
	}
	want := []string{MetaName, StateName, SumsName}
	if rep.Sealed {
		want = append(want, SealedSumsName)
	}
	if len(rep.Members) != len(want) {
		t.Fatalf("members %v, want %v", rep.Members, want)
	}
	for i, m := range rep.Members {
		if m.Name != want[i] || len(m.SHA256) != 64 || m.Size < 0 {
			t.Fatalf("member %d is %+v, want %s", i, m, want[i])
		}
	}
	if rep.Members[1].Size != rep.Meta.Size {
		t.Fatalf("state.bin is %d bytes, meta says %d", rep.Members[1].Size, rep.Meta.Size)
	}
	if rep.Meta.Index == 0 || rep.Meta.Term == 0 || rep.Meta.ID == "" {
		t.Fatalf("meta not validated: %+v", rep.Meta)
	}
}
