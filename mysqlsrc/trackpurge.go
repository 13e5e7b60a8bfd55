package mysqlsrc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/pagemap"
)

// Retention of the redo tracker's bitmaps. The host's forget passes the purge floor: the
// lowest checkpoint among the kept chains' tips, from which every next incremental of a kept
// chain reads the bitmaps (bitmapSet reads [C_base, C) with C_base at or above the floor). A
// bitmap file is deleted only when every run in it ends at or below the floor, read from the
// file itself after its every block passed its checks — never by its name alone, never a file
// that failed a check (it is kept and reported), and never the newest file, the one a running
// tracker appends to. A run that reaches past the floor (the group holding a checkpoint starts
// below it, and an incremental from that checkpoint needs its pages) keeps its file.
//
// The tracker's state lists entries an incremental from a base at or above the floor never
// reads: MLOG_INDEX_LOADs at or below it, gaps and unwatched ranges that end by it. They are
// pruned by whoever writes the state next: the floor is kept in purgeFloorFile, and
// trackerState.save applies it — Purge itself when no tracker runs, else the tracker at its
// next save (two writers of the state would lose each other's updates).

// purgeFloorFile holds the newest purge floor, in decimal, in the tracking directory.
const purgeFloorFile = "pagetrack-purge-floor"

type bitmapPurge struct {
	message    string
	purgedUpTo uint64 // the end of the newest run deleted (0: none)
}

// purgeBitmaps deletes the bitmap files wholly below floor and prunes the tracker's state.
func purgeBitmaps(dir string, floor uint64, log hclog.Logger) (*bitmapPurge, error) {
	files, err := pagemap.ListBitmapFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("redo bitmaps: %w", err)
	}
	res := &bitmapPurge{}
	var deleted, failed []string
	for i, f := range files {
		if i == len(files)-1 {
			break // the newest: a running tracker appends to it
		}
		covered, err := pagemap.CheckBitmapFile(f.Path)
		if err != nil {
			log.Warn("redo bitmap file failed its check: kept, not purged", "file", f.Path, "error", err)
			failed = append(failed, fmt.Sprintf("%s (%v)", filepath.Base(f.Path), err))
			continue
		}
		end := f.StartLSN
		if len(covered) > 0 {
			end = covered[len(covered)-1].End
		}
		if end > floor {
			continue
		}
		if err := os.Remove(f.Path); err != nil {
			return nil, fmt.Errorf("redo bitmaps: %w", err)
		}
		deleted = append(deleted, filepath.Base(f.Path))
		res.purgedUpTo = max(res.purgedUpTo, end)
		log.Info("redo bitmap file purged", "file", f.Path, "runs_end", exact(end), "floor_lsn", exact(floor))
	}
	if len(deleted) > 0 {
		if err := syncDir(dir); err != nil {
			return nil, fmt.Errorf("redo bitmaps: %w", err)
		}
	}
	if err := pruneTrackerState(dir, floor); err != nil {
		return nil, err
	}
	res.message = fmt.Sprintf("redo bitmaps: %d file(s) wholly below LSN %d deleted", len(deleted), floor)
	if len(deleted) > 0 {
		res.message += " (" + strings.Join(deleted, ", ") + ")"
	}
	if len(failed) > 0 {
		res.message += fmt.Sprintf("; %d file(s) kept because they failed their check: %s", len(failed), strings.Join(failed, "; "))
	}
	return res, nil
}

// pruneTrackerState records floor for the state's next save, and saves it now when no tracker
// holds the directory.
func pruneTrackerState(dir string, floor uint64) error {
	tmp := filepath.Join(dir, purgeFloorFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(floor, 10)+"\n"), 0o640); err != nil {
		return fmt.Errorf("recording the purge floor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, purgeFloorFile)); err != nil {
		return fmt.Errorf("recording the purge floor: %w", err)
	}
	unlock, err := lockTrackingDir(dir)
	if err != nil {
		return nil // a tracker runs: it prunes at its next save
	}
	defer unlock()
	st, err := loadTrackerState(dir)
	if err != nil || st == nil {
		return err
	}
	return st.save(dir)
}

// readPurgeFloor returns the floor Purge recorded in dir (0 when none).
func readPurgeFloor(dir string) (uint64, error) {
	raw, err := os.ReadFile(filepath.Join(dir, purgeFloorFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	floor, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the purge floor %s is damaged (%v); delete it, and run forget again", filepath.Join(dir, purgeFloorFile), err)
	}
	return floor, nil
}

// pruneBelow drops the entries no incremental from a base at or above floor reads (see
// bitmapSet and redoOffWatchReason: they use loads after the base, and ranges that end after
// it).
func (s *trackerState) pruneBelow(floor uint64) {
	if floor == 0 {
		return
	}
	s.IndexLoads = keep(s.IndexLoads, func(l IndexLoad) bool { return l.LSN > floor })
	s.Gaps = keep(s.Gaps, func(g TrackerGap) bool { return g.End == 0 || g.End > floor })
	s.Unwatched = keep(s.Unwatched, func(g TrackerGap) bool { return g.End == 0 || g.End > floor })
}

func keep[T any](xs []T, ok func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if ok(x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
