package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// InspectOptions tune Inspect.
type InspectOptions struct {
	// Flavor says how to decode state.bin. "" or statebin.Auto recognises
	// Consul and Nomad by the state header and, when neither matches (Vault,
	// an embedded raft app), reports why in Inspection.StateError instead of
	// failing. Naming consul or nomad makes a state.bin that does not decode
	// as that flavour an error.
	Flavor statebin.Flavor
	// Verify tunes the verification that runs in the same pass; its State
	// field is ignored (Inspect supplies its own).
	Verify VerifyOptions
}

// InspectServer is one server of the Raft configuration in the snapshot.
type InspectServer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string `json:"suffrage"`
}

// Inspection describes a verified snapshot archive.
type Inspection struct {
	Path string `json:"path"`
	// Verified is always true: Inspect fails on an archive that does not
	// verify. It is spelled out so JSON consumers need not know that.
	Verified bool   `json:"verified"`
	ID       string `json:"id"`
	Index    uint64 `json:"index"`
	Term     uint64 `json:"term"`
	Version  int    `json:"version"`
	// Size is the size of state.bin, as meta.json records it.
	Size int64 `json:"size"`
	// CreatedAt comes from the snapshot ID, which hashicorp/raft builds as
	// <term>-<index>-<unix millis>; nil when the ID has another shape.
	CreatedAt          *time.Time      `json:"created_at,omitempty"`
	ConfigurationIndex uint64          `json:"configuration_index"`
	Servers            []InspectServer `json:"servers"`
	// ArchiveBytes and ArchiveSHA256 describe the compressed file itself.
	ArchiveBytes  int64    `json:"archive_bytes"`
	ArchiveSHA256 string   `json:"archive_sha256"`
	Members       []Member `json:"members"`
	Sealed        bool     `json:"sealed"`
	// Flavor is whose state the archive holds: consul, nomad, vault or
	// other (see Flavor).
	Flavor Flavor `json:"flavor"`
	// State summarises state.bin for Consul and Nomad snapshots.
	State *statebin.Summary `json:"state,omitempty"`
	// StateError says why State is missing.
	StateError string `json:"state_error,omitempty"`
}

// Inspect verifies the archive at path and describes it, decoding state.bin
// in the same pass. It fails when the archive does not verify, and stops
// when ctx ends (see Verifier). With a Flavor named, a valid archive of
// another flavour is a *FlavorError.
func Inspect(ctx context.Context, path string, opts InspectOptions) (*Inspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return InspectReader(ctx, f, path, opts)
}

// InspectReader is Inspect for an archive read from r (standard input, for
// example); name is what Inspection.Path and errors call it.
func InspectReader(ctx context.Context, r io.Reader, name string, opts InspectOptions) (*Inspection, error) {
	flavor, err := statebin.ParseFlavor(string(opts.Flavor))
	if err != nil {
		return nil, err
	}
	state := statebin.NewWriter(flavor)
	sniff := newHeadSniffer(state)
	verifyOpts := opts.Verify
	verifyOpts.State, verifyOpts.Meta = sniff, sniff.setMeta
	report, verifyErr := Verify(ctx, r, verifyOpts)
	stateErr := state.Close() // always, to stop the decoder
	if verifyErr != nil {
		return nil, verifyErr
	}

	ins := newInspection(name, report)
	head := sniff.poll() // set: the archive verified
	ins.Flavor = ArchiveFlavor(head, report.Sealed)
	var decodeErr *statebin.Error
	switch {
	case stateErr == nil:
		ins.State = state.Summary()
	case flavor != statebin.Auto && (ins.Flavor != Flavor(flavor) || errors.As(stateErr, &decodeErr) && decodeErr.Record == 0):
		// The header is another system's: a valid archive, of the wrong flavour.
		return nil, fmt.Errorf("snapshot %s: %w", name, &FlavorError{Want: Flavor(flavor), Got: ins.Flavor, Reason: stateErr.Error()})
	case flavor != statebin.Auto:
		return nil, fmt.Errorf("snapshot %s: state.bin does not decode as a %s snapshot: %w", name, flavor, stateErr)
	case report.Sealed:
		ins.StateError = "Vault snapshot: state.bin is not a Consul or Nomad state stream"
	default:
		ins.StateError = "state.bin is not a Consul or Nomad state stream: " + stateErr.Error()
	}
	return ins, nil
}

func newInspection(path string, report *Report) *Inspection {
	meta := report.Meta
	ins := &Inspection{
		Path:               path,
		Verified:           true,
		ID:                 meta.ID,
		Index:              meta.Index,
		Term:               meta.Term,
		Version:            int(meta.Version),
		Size:               meta.Size,
		CreatedAt:          createdFromID(meta.ID),
		ConfigurationIndex: meta.ConfigurationIndex,
		Servers:            []InspectServer{},
		ArchiveBytes:       report.ArchiveBytes,
		ArchiveSHA256:      report.ArchiveSHA256,
		Members:            report.Members,
		Sealed:             report.Sealed,
	}
	for _, s := range meta.Configuration.Servers {
		ins.Servers = append(ins.Servers, InspectServer{
			ID: string(s.ID), Address: string(s.Address), Suffrage: suffrageName(s.Suffrage),
		})
	}
	return ins
}

func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	case raft.Staging:
		return "staging"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// Bounds outside which a millisecond field in an ID is not a creation time
// (hashicorp/raft appeared in 2013).
var (
	earliestCreation = time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC)
	latestCreation   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// createdFromID parses the time out of a raft snapshot ID, which
// hashicorp/raft's file_snapshot.go snapshotName builds as
// fmt.Sprintf("%d-%d-%d", term, index, unixMillis).
func createdFromID(id string) *time.Time {
	parts := strings.Split(id, "-")
	if len(parts) != 3 {
		return nil
	}
	for _, p := range parts[:2] {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return nil
		}
	}
	ms, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	if t.Before(earliestCreation) || t.After(latestCreation) {
		return nil
	}
	return &t
}
