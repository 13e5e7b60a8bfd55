package repo

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// listOf is the record list the repository would store for recs (Progress left out), with
// made-up blob IDs: planning reads no blob.
func listOf(recs []*shared.Record) [][]byte {
	var b []byte
	pageSize := map[uint32]uint32{}
	for _, r := range recs {
		if r.Progress != nil {
			continue
		}
		data := r.Payload()
		piece := uint32(maxDataBlob)
		switch {
		case r.Tablespace != nil:
			pageSize[r.Tablespace.FileIndex] = r.Tablespace.PageSize
		case r.Pages != nil:
			piece = max(pageSize[r.Pages.FileIndex], 1)
		}
		blobs := make([]ID, pieces(uint64(len(data)), piece))
		b = appendItem(b, r, uint64(len(data)), piece, blobs)
	}
	return [][]byte{b}
}

// TestPlanRefusesForgedStreams: the repository's merge path plans from record lists through
// the stream kernel, so each forged stream of the shared corpus, stored as a full snapshot,
// is refused with the kernel's error before any blob is read, with memory bounded by what
// the list holds (SizePages = 2^32-1 allocates nothing per claimed page).
func TestPlanRefusesForgedStreams(t *testing.T) {
	// What the record list cannot carry or check: an empty record does not survive the
	// record-list codec (it is refused as damage); the digest needs the payloads, which the
	// repository verified when it stored the stream and checks blob by blob when reading.
	skip := map[string]bool{"empty record": true, "digest": true}
	for _, c := range streamtest.Cases() {
		forged, want, ok := c.Forge(streamtest.Small())
		if !ok || skip[c.Name] {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			tree := listOf(forged)
			snap := &Snapshot{ID: "0123456789abcdef", Kind: KindFull}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := makePlan(context.Background(), &Index{}, []*Snapshot{snap}, func(*Snapshot) ([][]byte, error) { return tree, nil })
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want one containing %q", err, want)
			}
			var de *DamageError
			if !errors.As(err, &de) || de.Snapshot != snap.ID || !strings.Contains(err.Error(), "bad stream") && !strings.Contains(err.Error(), shared.ErrNoTrailer.Error()) {
				t.Errorf("error %v does not name the snapshot's record list as damaged by the kernel", err)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
				t.Errorf("planning allocated %d bytes", d)
			}
		})
	}
}
