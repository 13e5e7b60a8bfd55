package mysqlsrc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrackerStateRules checks what the state lets an incremental conclude.
func TestTrackerStateRules(t *testing.T) {
	st := &trackerState{Version: trackerStateVersion, FirstLSN: 100, TrackedLSN: 900, WatchedTo: 900,
		Gaps:      []TrackerGap{{Kind: GapRecycled, Start: 300, End: 400, Reason: "recycled"}, {Kind: GapRedoLoggingOff, Start: 600, End: 700, Reason: "off"}},
		Unwatched: []TrackerGap{{Kind: GapUnwatched, Start: 450, End: 500}},
	}
	for _, c := range []struct {
		start, end uint64
		gap        bool
	}{{100, 300, false}, {100, 301, true}, {399, 600, true}, {400, 600, false}, {700, 900, false}, {650, 651, true}} {
		if _, got := st.gapIn(c.start, c.end); got != c.gap {
			t.Errorf("gapIn(%d, %d) = %v, want %v", c.start, c.end, got, c.gap)
		}
	}
	open := TrackerGap{Start: 800}
	if !open.overlaps(5000, 6000) || open.overlaps(100, 800) {
		t.Error("an open gap must reach every LSN after its start and none before")
	}
	for _, c := range []struct {
		from uint64
		want string
	}{
		{50, "started at LSN 100"},
		{200, "was not running from checkpoint 450 to 500"},
		{500, "saw redo logging switched off"},
		{700, ""},
	} {
		if got := st.redoOffWatchReason(c.from); c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("redoOffWatchReason(%d) = %q, want %q", c.from, got, c.want)
		}
	}
}

func TestTrackerStateFile(t *testing.T) {
	dir := t.TempDir()
	if st, err := loadTrackerState(dir); st != nil || err != nil {
		t.Fatalf("empty dir: %v, %v", st, err)
	}
	st := &trackerState{Version: trackerStateVersion, LogUUID: 7, FirstLSN: 100, TrackedLSN: 200, IndexLoads: []IndexLoad{{LSN: 150, Space: 9}}}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := loadTrackerState(dir)
	if err != nil || back.TrackedLSN != 200 || back.LogUUID != 7 || len(back.IndexLoads) != 1 {
		t.Fatalf("read back %+v, %v", back, err)
	}
	for name, body := range map[string]string{
		"damaged":        `{"version": 1, "first_lsn": `,
		"version":        `{"version": 9, "first_lsn": 1, "tracked_lsn": 1}`,
		"impossible LSN": `{"version": 1, "first_lsn": 10, "tracked_lsn": 5}`,
	} {
		os.WriteFile(filepath.Join(dir, trackerStateFile), []byte(body), 0o640)
		if _, err := loadTrackerState(dir); err == nil || !strings.Contains(err.Error(), trackerStateFile) {
			t.Errorf("%s state: %v, want an error naming the file", name, err)
		}
	}
}

func TestReadTrackerStatus(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadTrackerStatus(dir); err == nil || !strings.Contains(err.Error(), "no redo tracker state") {
		t.Fatalf("empty dir: %v", err)
	}
	st := &trackerState{Version: trackerStateVersion, FirstLSN: 100, TrackedLSN: 200, Gaps: []TrackerGap{{Kind: GapRecycled, Start: 120, End: 150, Reason: "r"}}}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	s, err := ReadTrackerStatus(dir)
	if err != nil || s.TrackedLSN != 200 || s.FirstLSN != 100 || len(s.Gaps) != 1 || s.Gaps[0].Kind != GapRecycled {
		t.Fatalf("status %+v, %v", s, err)
	}
}
