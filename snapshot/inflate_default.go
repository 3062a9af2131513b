//go:build !(isal && cgo)

package snapshot

const inflateEngine = inflateEnginePureGo

// newGzipMember is the decoder Verify uses; build with -tags isal (and cgo)
// to get ISA-L's igzip instead.
var newGzipMember = newFastMember
