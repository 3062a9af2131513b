// Package buildinfo is the one reader of raftsnap's build information: the
// version and commit that `raftsnap version`, the daemon's /version, the
// build-info metric and the User-Agent sent to sources all show.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// version is set at link time by `make build` and `make dist`:
//
//	go build -ldflags "-X github.com/raftsnap/raftsnap/daemon/buildinfo.version=v1.2.3"
//
// Nothing writes it at run time.
var version string

// Info describes the running binary.
type Info struct {
	// Version is the -ldflags version, else the main module's version as
	// Go recorded it (the tag with `go install ...@v1.2.3`, a
	// pseudo-version with `go build` in a checkout), else "devel".
	Version string
	// Commit is the VCS revision Go embeds at build time (vcs.revision),
	// with "-dirty" when the work tree had changes (vcs.modified), or
	// "unknown" when built outside a checkout or with -buildvcs=false.
	Commit    string
	GoVersion string
	OS        string
	Arch      string
}

var read = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version)
})

// Get returns the running binary's build information.
func Get() Info { return read() }

// UserAgent is the User-Agent raftsnap sends to sources: "raftsnap/<version>".
func UserAgent() string { return "raftsnap/" + Get().Version }

func fromBuildInfo(bi *debug.BuildInfo, ldflagsVersion string) Info {
	info := Info{Version: ldflagsVersion, Commit: "unknown", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "devel"
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision != "" {
		info.Commit = revision
		if modified == "true" {
			info.Commit += "-dirty"
		}
	}
	return info
}
