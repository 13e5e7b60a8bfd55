package sourcetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// testForgedStreams runs the shared corpus of forged streams, made from a real server's
// backup (recs), through src's Restore: every forgery is refused with the kernel's error
// (shared.StreamChecker), the target is left empty, and memory grows with what arrived, never
// with what a record claims (a SizePages of 2^32-1 would need gigabytes).
func testForgedStreams(t *testing.T, src shared.Source, recs []*shared.Record) {
	if _, no := streamtest.Applicable(recs); len(no) > 0 {
		t.Fatalf("the server's stream does not exercise %v", no)
	}
	for _, c := range streamtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			forged, want, _ := c.Forge(recs)
			target := filepath.Join(t.TempDir(), "restored")
			counted := &countingStream{RecordStream: streamtest.Stream(forged)}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, counted)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want one containing %q", err, want)
			}
			if !errors.Is(err, shared.ErrBadStream) && !errors.Is(err, shared.ErrNoTrailer) {
				t.Fatalf("error %v is neither ErrBadStream nor ErrNoTrailer", err)
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Fatalf("the refused restore left %d entries in the target, e.g. %s", len(entries), entries[0].Name())
			}
			// In process the restore allocates next to nothing; through gRPC every record is
			// marshalled and unmarshalled once, hence the allowance per byte that arrived.
			d, limit := after.TotalAlloc-before.TotalAlloc, 16<<20+3*counted.bytes
			if d > limit {
				t.Errorf("the restore allocated %d bytes for %d bytes of payload, want ≤ %d", d, counted.bytes, limit)
			}
			t.Logf("allocated %d bytes for %d bytes of payload", d, counted.bytes)
		})
	}
}

// countingStream counts the payload bytes the restore read.
type countingStream struct {
	shared.RecordStream
	bytes uint64
}

func (c *countingStream) Recv() (*shared.Record, error) {
	r, err := c.RecordStream.Recv()
	if err == nil {
		c.bytes += uint64(len(r.Payload()))
	}
	return r, err
}
