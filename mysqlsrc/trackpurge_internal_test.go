package mysqlsrc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// writeBitmapFiles writes one bitmap file per run list (a writer per file, as a tracker
// restarted between them does) and returns their base names.
func writeBitmapFiles(t *testing.T, dir string, files ...[][2]uint64) []string {
	t.Helper()
	for _, runs := range files {
		w, err := pagemap.OpenBitmapWriter(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			set := pagemap.NewPageSet()
			set.Add(5, uint32(r[0]%1000))
			if err := w.WriteRun(r[0], r[1], set); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	return bitmapNames(t, dir)
}

func bitmapNames(t *testing.T, dir string) []string {
	t.Helper()
	list, err := pagemap.ListBitmapFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range list {
		names = append(names, filepath.Base(f.Path))
	}
	return names
}

// TestPurgeBitmapsBelowFloor: only files whose every run ends at or below the floor go; a file
// whose last run reaches past it stays (an incremental from the floor needs that run), a file
// that fails its check stays and is named, the newest stays; the state loses the entries below
// the floor, at once when no tracker holds the directory, at the tracker's next save otherwise.
func TestPurgeBitmapsBelowFloor(t *testing.T) {
	dir := t.TempDir()
	names := writeBitmapFiles(t, dir,
		[][2]uint64{{100, 200}, {200, 300}}, // wholly below 1000: deleted
		[][2]uint64{{300, 400}},             // damaged below: kept
		[][2]uint64{{400, 1000}},            // ends at the floor: deleted
		[][2]uint64{{1000, 900 + 200}},      // its run reaches past 1000: kept
		[][2]uint64{{1100, 1200}},           // the newest: kept
	)
	if len(names) != 5 {
		t.Fatalf("files %v", names)
	}
	damaged := filepath.Join(dir, names[1])
	raw, _ := os.ReadFile(damaged)
	raw[100] ^= 0xFF
	os.WriteFile(damaged, raw, 0o640)
	st := &trackerState{Version: trackerStateVersion, FirstLSN: 100, TrackedLSN: 1200, WatchedTo: 1200,
		IndexLoads: []IndexLoad{{LSN: 150, Space: 5}, {LSN: 1000, Space: 6}, {LSN: 1001, Space: 7}},
		Gaps:       []TrackerGap{{Kind: GapRecycled, Start: 200, End: 250}, {Kind: GapUntrusted, Start: 990, End: 1050}},
		Unwatched:  []TrackerGap{{Kind: GapUnwatched, Start: 100, End: 120}},
	}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}

	res, err := purgeBitmaps(dir, 1000, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bitmapNames(t, dir), []string{names[1], names[3], names[4]}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v (%s)", got, want, res.message)
	}
	if res.purgedUpTo != 1000 || !strings.Contains(res.message, "2 file(s)") || !strings.Contains(res.message, names[1]+" (") || !strings.Contains(res.message, "checksum") {
		t.Fatalf("purged up to %d, message %q", res.purgedUpTo, res.message)
	}
	got, err := loadTrackerState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.IndexLoads) != 1 || got.IndexLoads[0].Space != 7 || len(got.Gaps) != 1 || got.Gaps[0].End != 1050 || got.Unwatched != nil {
		t.Fatalf("state after purge: loads %+v gaps %+v unwatched %+v", got.IndexLoads, got.Gaps, got.Unwatched)
	}

	// A tracker holds the directory: the state is not written behind its back, and its next
	// save prunes.
	unlock, err := lockTrackingDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := purgeBitmaps(dir, 1100, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadTrackerState(dir); len(got.IndexLoads) != 1 {
		t.Fatalf("the state was written while a tracker held the directory: %+v", got.IndexLoads)
	}
	if !slices.Contains(bitmapNames(t, dir), names[1]) {
		t.Fatal("the file that failed its check was deleted")
	}
	if err := got.save(dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadTrackerState(dir); got.IndexLoads != nil || got.Gaps != nil {
		t.Fatalf("the next save did not prune below 1100: loads %+v gaps %+v", got.IndexLoads, got.Gaps)
	}
}

// TestChangedPagesRefusals: rows come from the bitmaps; a range before the tracker started,
// beyond where it tracked, over a gap or over purged files is refused with the reason.
func TestChangedPagesRefusals(t *testing.T) {
	dir := t.TempDir()
	writeBitmapFiles(t, dir, [][2]uint64{{100, 200}, {200, 300}}, [][2]uint64{{400, 500}})
	st := &trackerState{Version: trackerStateVersion, FirstLSN: 100, TrackedLSN: 500, WatchedTo: 500,
		Gaps: []TrackerGap{{Kind: GapRecycled, Start: 300, End: 400, Reason: "the server recycled the redo"}}}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	src := New(hclog.NewNullLogger())
	cfg := map[string]any{"dsn": "u:p@tcp(127.0.0.1:1)/", "datadir": t.TempDir(), "tracking_dir": dir}
	list := func(since, until uint64) ([]string, error) {
		rows, err := src.ChangedPages(t.Context(), &shared.ChangedPagesRequest{Config: cfg, Since: since, Until: until})
		if err != nil {
			return nil, err
		}
		var out []string
		for {
			b, err := rows.Recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			for _, r := range b {
				out = append(out, fmt.Sprintf("%d:%d@%d-%d", r.SpaceID, r.PageID, r.StartLSN, r.EndLSN))
			}
		}
	}
	if got, err := list(150, 300); err != nil || strings.Join(got, " ") != "5:100@100-200 5:200@200-300" {
		t.Fatalf("rows %v, %v", got, err)
	}
	if got, err := list(400, 0); err != nil || strings.Join(got, " ") != "5:400@400-500" {
		t.Fatalf("rows up to the tracked LSN: %v, %v", got, err)
	}
	for _, c := range []struct {
		since, until uint64
		want         string
	}{
		{50, 200, "started at LSN 100"},
		{200, 600, "tracked up to LSN 500 only"},
		{600, 0, "tracked up to LSN 500 only"},
		{250, 450, "the server recycled the redo"},
	} {
		if _, err := list(c.since, c.until); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("[%d, %d): %v, want %q", c.since, c.until, err, c.want)
		}
	}
	if _, err := purgeBitmaps(dir, 300, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if _, err := list(150, 300); err == nil || !strings.Contains(err.Error(), "not covered") {
		t.Errorf("over purged files: %v", err)
	}
}
