package statebin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The state.bin files under snapshot/testdata/statebin were extracted from
// the real Consul 1.22.7 and Nomad 1.11.3 snapshots in
// snapshot/testdata/inspect, next to the vendors' own `snapshot inspect`
// JSON for them. The vendors charge the header's bytes to the first record
// they read; Decode reports them separately.
func TestDecodeRealStateMatchesVendorInspect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flavor    Flavor
		lastIndex uint64
	}{
		{"consul", Consul, 23},
		{"nomad", Nomad, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "testdata", "statebin", tc.name+"-state.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum, err := Decode(f, Auto)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("..", "testdata", "inspect", tc.name+".snap.vendor-inspect.json"))
			if err != nil {
				t.Fatal(err)
			}
			var vendor struct {
				Meta  struct{ Size int64 }
				Stats []struct {
					Name       string
					Sum, Count int64
				}
			}
			if err := json.Unmarshal(data, &vendor); err != nil {
				t.Fatal(err)
			}
			if sum.Flavor != tc.flavor || sum.Header.LastIndex != tc.lastIndex || sum.Header.HasLastIndex != (tc.flavor == Consul) {
				t.Errorf("flavour %s, header %+v", sum.Flavor, sum.Header)
			}
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
		})
	}
}
