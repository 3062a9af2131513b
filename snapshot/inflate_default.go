//go:build !(isal && cgo)

package snapshot

const inflateEngine = inflateEnginePureGo

// newGzipMember is the decoder Verify uses: the pure-Go table-driven
// inflater (inflate_fast.go); build with -tags isal (and cgo) to get
// ISA-L's igzip instead.
var newGzipMember = newFastMember
