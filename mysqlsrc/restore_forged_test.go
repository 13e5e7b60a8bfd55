package mysqlsrc_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestRestoreRefusesForgedStreams runs the shared corpus of forged streams through the
// plugin's restore (no server needed: every forgery is refused before a server would see the
// datadir). Each is refused with the kernel's error, the target is left empty, no file in it
// ever grows past the bytes the stream carried, and memory stays bounded by what arrived.
// internal/sourcetest runs the same corpus on a real server's stream.
func TestRestoreRefusesForgedStreams(t *testing.T) {
	src := mysqlsrc.New(hclog.NewNullLogger())
	recs := streamtest.Small()
	var carried int64
	for _, r := range recs {
		carried += int64(len(r.Payload()))
	}
	if _, no := streamtest.Applicable(recs); len(no) > 0 {
		t.Fatalf("the stream does not exercise %v", no)
	}
	for _, c := range streamtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			forged, want, _ := c.Forge(recs)
			target := filepath.Join(t.TempDir(), "restored")
			watch := &watchedStream{RecordStream: streamtest.Stream(forged), dir: target}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, watch)
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
			if watch.largest > carried+1<<20 {
				t.Errorf("a file in the target reached %d bytes; the stream carried %d", watch.largest, carried)
			}
			d := after.TotalAlloc - before.TotalAlloc
			if d > 4<<20 {
				t.Errorf("the restore allocated %d bytes, want < 4 MiB", d)
			}
			t.Logf("allocated %d bytes; largest file %d bytes of %d carried", d, watch.largest, carried)
		})
	}
}

// watchedStream notes the largest file in dir each time the restore asks for a record, i.e.
// after it applied the one before.
type watchedStream struct {
	shared.RecordStream
	dir     string
	largest int64
}

func (w *watchedStream) Recv() (*shared.Record, error) {
	filepath.WalkDir(w.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				w.largest = max(w.largest, fi.Size())
			}
		}
		return nil
	})
	return w.RecordStream.Recv()
}
