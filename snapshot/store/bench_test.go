package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkList100k lists a store of 100,000 snapshots (one every 5 minutes,
// almost a year of a single job). The archives are 64-byte stand-ins: List
// reads only the sidecars and stats the archives, so their content does not
// matter. Reported in docs/performance.md (issue 8, row 6).
func BenchmarkList100k(b *testing.B) {
	dir := b.TempDir()
	const count = 100_000
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	archive := make([]byte, 64)
	for i := range count {
		created := start.Add(time.Duration(i) * 5 * time.Minute)
		entry := Entry{
			Schema:     SidecarSchema,
			Name:       fmt.Sprintf("consul-main-%s-%d.snap", created.Format(timeLayout), 1000+i),
			Job:        "consul-main",
			Source:     "consul at http://127.0.0.1:8500",
			CreatedAt:  created,
			Size:       int64(len(archive)),
			SHA256:     fmt.Sprintf("%064x", i),
			Index:      uint64(1000 + i),
			Term:       2,
			RaftID:     fmt.Sprintf("2-%d-1700000000000", 1000+i),
			Headers:    map[string]string{"X-Consul-Index": fmt.Sprint(1000 + i), "X-Consul-KnownLeader": "true"},
			Verified:   true,
			VerifiedAt: created.Add(time.Second),
		}
		sidecar, err := json.MarshalIndent(entry, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		// Plain writes, not the store's fsynced commits: 200,000 fsyncs would
		// take minutes and are not what List costs.
		if err := os.WriteFile(filepath.Join(dir, entry.Name), archive, 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, entry.Name+".json"), sidecar, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	st, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		entries, foreign, err := st.List(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != count || len(foreign) != 0 {
			b.Fatalf("listed %d entries and %d foreign files, want %d and 0", len(entries), len(foreign), count)
		}
	}
}
