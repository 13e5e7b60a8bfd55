package mysqlsrc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// trackerStateFile is the redo tracker's own record in its bitmap directory, next to the
// ib_modified_log_*.xdb files. It is the one owner of what the bitmaps may be trusted for:
// the tracker writes it, incrementals read it.
const trackerStateFile = "pagetrack-tracker.json"

// TrackerGap is an LSN range [Start, End) the tracker could not account for, and why.
type TrackerGap struct {
	Kind   string    `json:"kind"` // Gap*
	Start  uint64    `json:"start"`
	End    uint64    `json:"end"` // 0 while the gap is still open
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (g TrackerGap) overlaps(start, end uint64) bool {
	return g.Start < end && (g.End == 0 || g.End > start)
}

func (g TrackerGap) String() string {
	if g.End == 0 {
		return fmt.Sprintf("from LSN %d on: %s", g.Start, g.Reason)
	}
	return fmt.Sprintf("LSN %d to %d: %s", g.Start, g.End, g.Reason)
}

// Kinds of TrackerGap (its Kind field).
const (
	GapRecycled       = "recycled"         // the server reused the redo before the tracker read it
	GapRecreated      = "recreated"        // the redo files were created anew (another log uuid)
	GapFormat         = "format"           // a redo format this parser does not know
	GapRedoLoggingOff = "redo-logging-off" // the header's NO_LOGGING flag was set
	GapUntrusted      = "untrusted"        // a record or block the parser refused
	GapUnwatched      = "unwatched"        // the tracker was not running
)

// IndexLoad is an MLOG_INDEX_LOAD the tracker saw: pages of that index were written without
// redo, so the space's changes are not all in the bitmaps.
type IndexLoad struct {
	LSN   uint64 `json:"lsn"`
	Space uint32 `json:"space"`
}

// trackerState is what the tracker persists. Every LSN in it is a checkpoint LSN or a
// mini-transaction boundary below one, so it never lies beyond what the server flushed.
type trackerState struct {
	Version int    `json:"version"`
	LogUUID uint32 `json:"log_uuid"`
	// FirstLSN is where tracking began: bitmaps say nothing about redo before it.
	FirstLSN uint64 `json:"first_lsn"`
	// TrackedLSN is where the bitmap runs end: redo in [FirstLSN, TrackedLSN) outside Gaps is
	// in them.
	TrackedLSN uint64 `json:"tracked_lsn"`
	// Gaps are ranges of redo whose changed pages are not in the bitmaps.
	Gaps []TrackerGap `json:"gaps,omitempty"`
	// Unwatched are checkpoint ranges during which no tracker watched the redo header's
	// NO_LOGGING flag (the tracker was stopped): a switch of redo logging there is not ruled
	// out by the tracker.
	Unwatched []TrackerGap `json:"unwatched,omitempty"`
	// WatchedTo is the newest checkpoint seen with the redo header's NO_LOGGING flag clear.
	WatchedTo  uint64      `json:"watched_to"`
	IndexLoads []IndexLoad `json:"index_loads,omitempty"`
}

const trackerStateVersion = 1

// loadTrackerState reads dir's state; a missing file gives nil, nil.
func loadTrackerState(dir string) (*trackerState, error) {
	raw, err := os.ReadFile(filepath.Join(dir, trackerStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the redo tracker's state: %w", err)
	}
	var s trackerState
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("the redo tracker's state %s is damaged (%v); move the tracking directory aside and restart the tracker", filepath.Join(dir, trackerStateFile), err)
	}
	if s.Version != trackerStateVersion {
		return nil, fmt.Errorf("the redo tracker's state %s has version %d; this plugin reads version %d", filepath.Join(dir, trackerStateFile), s.Version, trackerStateVersion)
	}
	if s.TrackedLSN < s.FirstLSN || s.FirstLSN == 0 {
		return nil, fmt.Errorf("the redo tracker's state %s has impossible LSNs (first %d, tracked %d)", filepath.Join(dir, trackerStateFile), s.FirstLSN, s.TrackedLSN)
	}
	return &s, nil
}

// save writes the state durably: a synced temporary file renamed over the old one.
// It first prunes the entries below the purge floor Purge recorded (trackpurge.go).
func (s *trackerState) save(dir string) error {
	floor, err := readPurgeFloor(dir)
	if err != nil {
		return fmt.Errorf("saving the redo tracker's state: %w", err)
	}
	s.pruneBelow(floor)
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, trackerStateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("saving the redo tracker's state: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, trackerStateFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("saving the redo tracker's state: %w", err)
	}
	return nil
}

// gapIn returns the first gap overlapping [start, end), if any.
func (s *trackerState) gapIn(start, end uint64) (TrackerGap, bool) {
	for _, g := range s.Gaps {
		if g.overlaps(start, end) {
			return g, true
		}
	}
	return TrackerGap{}, false
}

// redoOffWatchReason says why the tracker cannot prove that redo logging stayed on from
// checkpoint from until now, or "".
func (s *trackerState) redoOffWatchReason(from uint64) string {
	if s.FirstLSN > from {
		return fmt.Sprintf("the redo tracker started at LSN %d, after the base's checkpoint %d", s.FirstLSN, from)
	}
	for _, g := range s.Unwatched {
		if g.overlaps(from, ^uint64(0)) {
			return fmt.Sprintf("the redo tracker was not running from checkpoint %d to %d, so it did not watch for redo logging switched off", g.Start, g.End)
		}
	}
	for _, g := range s.Gaps {
		if g.overlaps(from, ^uint64(0)) && g.Kind == GapRedoLoggingOff {
			return fmt.Sprintf("the redo tracker saw redo logging switched off (%s)", g)
		}
	}
	return ""
}
