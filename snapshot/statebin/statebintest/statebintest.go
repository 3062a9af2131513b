// Package statebintest compares decoded state with what the vendors'
// own tools printed for the same snapshot: the fixtures under
// snapshot/testdata/inspect, saved from a real Consul and Nomad with their
// `snapshot inspect` JSON beside them.
package statebintest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot/statebin"
)

// VendorInspect is a vendor's `snapshot inspect` JSON for a snapshot.
type VendorInspect struct {
	Meta struct {
		ID          string
		Size        int64
		Index, Term uint64
		Version     int
	}
	Stats []struct {
		Name       string
		Sum, Count int64
	}
}

// ReadVendorInspect reads a vendor's `snapshot inspect` JSON file.
func ReadVendorInspect(t testing.TB, path string) VendorInspect {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v VendorInspect
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// CheckRecords compares sum's record table with the vendor's, row by row:
// the same types in the same order, all known, with the same counts, and
// the same bytes but in exactly one row, which the vendor charges with the
// header's bytes (it counts them into the first record it reads; Decode
// reports them apart). The rows add up to sum.Records, the state to the
// vendor's size, and no record is unknown.
func CheckRecords(t testing.TB, sum *statebin.Summary, vendor VendorInspect) {
	t.Helper()
	if sum.TotalBytes != vendor.Meta.Size || sum.UnknownRecords != 0 || len(sum.Types) != len(vendor.Stats) {
		t.Errorf("total %d (vendor %d), unknown %d, %d types (vendor %d)",
			sum.TotalBytes, vendor.Meta.Size, sum.UnknownRecords, len(sum.Types), len(vendor.Stats))
	}
	var records int64
	headerCharged := 0
	for i, v := range vendor.Stats {
		if i >= len(sum.Types) {
			break
		}
		got := sum.Types[i]
		records += got.Count
		if got.Name != v.Name || got.Count != v.Count || !got.Known {
			t.Errorf("row %d: %s x%d (known %v), vendor %s x%d", i, got.Name, got.Count, got.Known, v.Name, v.Count)
		}
		switch got.Bytes {
		case v.Sum:
		case v.Sum - sum.Header.Bytes:
			headerCharged++
		default:
			t.Errorf("%s: %d bytes, vendor %d", v.Name, got.Bytes, v.Sum)
		}
	}
	if headerCharged != 1 || records != sum.Records {
		t.Errorf("%d rows differ by the header size (want 1); rows add to %d records of %d", headerCharged, records, sum.Records)
	}
}
