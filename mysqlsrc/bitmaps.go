package mysqlsrc

import (
	"context"
	"fmt"
	"time"

	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// Incrementals from the redo tracker's bitmaps (tracker.go). With tracking_dir set, an
// incremental first asks the bitmaps for the pages changed by the redo in [C_base, C): method
// "redo-bitmap", preferred over the component. It uses them only when the tracker has tracked
// up to C and neither a gap nor a hole in the runs lies in that range; otherwise it falls back
// as it would without them, saying why.
//
// Across a server restart. Without the tracker a restart since the base makes an incremental
// copy every page: the component's list was measured to miss pages after a kill -9, and the
// restart emptied performance_schema.error_log, the only proof that redo logging stayed on.
// The bitmaps answer the first: they come from the redo, which crash recovery itself relies
// on, and the tracker reads only redo below a checkpoint, which no restart rewrites. The
// second needs the tracker's watch of the redo header's NO_LOGGING flag: the restart rule is
// lifted only when the tracker was watching from before the base's checkpoint on, without a
// stop (Unwatched) and without having seen the flag, up to this backup's checkpoint; the backup
// lock then covers the rest (ALTER INSTANCE … REDO_LOG waits for it) and the error log entries
// the current server still has are checked as well. The watch polls: an off-and-on switch
// completed between two polls (10 ms by default) of a previous server run is what it cannot
// see, so the error log file must prove it too (errlogfile.go: readable, reaching back past
// the base, no switch since). When either does not prove it, the incremental copies every
// page, as before.

// bitmapResult is what the bitmaps say about [C_base, C).
type bitmapResult struct {
	pages *pagemap.PageSet
	// unlogged lists spaces with an MLOG_INDEX_LOAD in the range: index pages written without
	// redo, so those files are copied whole.
	unlogged map[uint32]bool
	// reason says why the bitmaps cannot be used ("" when they can); watched says whether the
	// tracker proves that redo logging stayed on over the range all the same.
	reason  string
	watched bool
}

// bitmapSet reads the bitmaps for [base C, c), waiting up to tracker_wait_timeout for the
// tracker to reach c.
func (b *backup) bitmapSet(ctx context.Context, p *trackingPlan, c uint64) (*bitmapResult, error) {
	from := p.base.CheckpointLSN
	res := &bitmapResult{pages: pagemap.NewPageSet(), unlogged: map[uint32]bool{}}
	if c < from {
		res.reason = fmt.Sprintf("the server's checkpoint %d is behind the base's %d (was the datadir replaced?)", c, from)
		return res, nil
	}
	st, err := b.waitForTracker(ctx, from, c)
	if err != nil || st == nil {
		res.reason = fmt.Sprintf("the redo tracker's state in %s cannot be used: %v", b.o.trackingDir, err)
		if st == nil && err == nil {
			res.reason = fmt.Sprintf("%s holds no redo tracker state: is the tracker running on it?", b.o.trackingDir)
		}
		return res, nil
	}
	res.watched = st.redoOffWatchReason(from) == "" && st.WatchedTo >= c
	switch g, gap := st.gapIn(from, max(c, from+1)); {
	case st.FirstLSN > from:
		res.reason = fmt.Sprintf("the redo tracker started at LSN %d, after the base's checkpoint %d", st.FirstLSN, from)
	case gap:
		res.reason = "the redo tracker could not track part of the range since the base (" + g.String() + ")"
	case st.TrackedLSN < c:
		res.reason = fmt.Sprintf("the redo tracker has tracked only up to LSN %d, not to this backup's checkpoint %d, within tracker_wait_timeout (is it running, and keeping up?)", st.TrackedLSN, c)
	}
	if res.reason != "" || c == from {
		return res, nil
	}
	files, err := pagemap.ListBitmapFiles(b.o.trackingDir)
	if err == nil {
		err = pagemap.ReadBitmaps(files, from, c, res.pages)
	}
	if err != nil {
		res.reason = fmt.Sprintf("the changed-page bitmaps cannot be read for LSN %d to %d: %v", from, c, err)
		return res, nil
	}
	for _, l := range st.IndexLoads {
		// Loads after c too: the run that reaches c may end past it (see walkThrough).
		if l.LSN > from {
			res.unlogged[l.Space] = true
		}
	}
	return res, nil
}

// waitForTracker reads the tracker's state until it has tracked up to c or recorded a gap
// after from, or tracker_wait_timeout passes. The tracker is another process: its state file
// is the only way to learn how far it is, so it is polled.
func (b *backup) waitForTracker(ctx context.Context, from, c uint64) (*trackerState, error) {
	deadline := time.Now().Add(b.o.trackerWait)
	for {
		st, err := loadTrackerState(b.o.trackingDir)
		if err != nil || st == nil {
			return st, err
		}
		if _, gap := st.gapIn(from, max(c, from+1)); gap || st.TrackedLSN >= c || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// restartBridged says whether the tracker's state lets an incremental span the server
// restart described by restart, and if not, why.
func (b *backup) restartBridged(p *trackingPlan) (bool, string) {
	if b.o.trackingDir == "" {
		return false, ""
	}
	st, err := loadTrackerState(b.o.trackingDir)
	switch {
	case err != nil:
		return false, err.Error()
	case st == nil:
		return false, fmt.Sprintf("%s holds no redo tracker state", b.o.trackingDir)
	}
	if why := st.redoOffWatchReason(p.base.CheckpointLSN); why != "" {
		return false, why
	}
	return true, ""
}

// useBitmaps decides, under the backup lock with the checkpoint c read, whether this
// incremental takes its changed pages from the bitmaps, and otherwise falls back as it would
// have without them (copying everything when a restart is not bridged after all).
func (b *backup) useBitmaps(ctx context.Context, p *trackingPlan, c uint64) error {
	if p.base == nil || b.o.trackingDir == "" || p.method == shared.MethodFull {
		return nil
	}
	res, err := b.bitmapSet(ctx, p, c)
	if err != nil {
		return err
	}
	if p.restart != "" && !res.watched {
		why := res.reason
		if why == "" {
			why = "its watch of redo logging does not reach this backup's checkpoint"
		}
		return p.copyAll(b.o, p.restart+"; the redo tracker cannot prove that redo logging stayed on across it ("+why+"), so every page is copied")
	}
	if res.reason == "" {
		p.method, p.reason, p.bitmapPages, p.unlogged = shared.MethodRedoBitmap, "", res.pages, res.unlogged
		b.src.log.Info("changed pages from the redo tracker's bitmaps", "from_lsn", exact(p.base.CheckpointLSN), "to_lsn", exact(c), "pages", res.pages.Len(), "unlogged_spaces", len(res.unlogged))
		return nil
	}
	b.src.log.Warn("the redo tracker's bitmaps cannot be used", "reason", res.reason)
	p.bitmapsFailed = true
	reason := "redo bitmaps: " + res.reason
	if p.method == shared.MethodPageTracking {
		p.reason = reason // the component's list is used instead
		return nil
	}
	if b.o.requirePageTracking {
		return shared.Precondition("neither the redo tracker's bitmaps nor page tracking can be used for this incremental (" + reason + "; " + p.reason + ") and require_page_tracking is set; take a full backup, or unset require_page_tracking to allow a page-LSN scan")
	}
	p.reason = reason + "; " + p.reason
	return nil
}
