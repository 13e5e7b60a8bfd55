package shared

import (
	"context"
	"fmt"
	"time"
)

// Tracker is an optional capability of a Source: a change tracker that runs beside the server
// as a long-lived service and records which pages change (for MySQL, the redo log read into
// XtraDB changed-page bitmaps), so that incrementals read only those pages across server
// restarts (MethodRedoBitmap). Find it with a type assertion on the Source; the gRPC client
// always has it and returns ErrUnsupported when the plugin does not serve it (gRPC
// Unimplemented).
type Tracker interface {
	// Track runs the tracker until ctx ends and yields its status every req.Interval. An
	// error starting it (invalid configuration, another tracker on the same directory) comes
	// from Track itself; the stream's first status follows the tracker's first look at the
	// server. The stream ends (io.EOF) when ctx ends; an error from Recv means the tracker
	// stopped (it cannot write its directory).
	Track(ctx context.Context, req *TrackRequest) (TrackStream, error)
	// ChangedPages lists the pages the tracker recorded as changed by the changes in
	// [req.Since, req.Until), by the tracker's runs. It refuses a range the tracker did not
	// record whole (a gap, or before it started), naming why: a listing is never partial.
	ChangedPages(ctx context.Context, req *ChangedPagesRequest) (ChangedPagesStream, error)
}

// TrackRequest asks for a tracker run.
type TrackRequest struct {
	Config Config
	// Interval is how often a status is sent; 0 means every 10 seconds.
	Interval time.Duration
}

// TrackStream yields statuses; Recv returns io.EOF, unwrapped, at the end.
type TrackStream interface {
	Recv() (*TrackStatus, error)
}

// TrackStatus is a tracker's progress, as XtraDB reports it in SHOW ENGINE INNODB STATUS.
type TrackStatus struct {
	// TrackedLSN is "Log tracked up to": the changes before it, outside Gaps, are recorded.
	TrackedLSN uint64
	// FirstLSN is where tracking began: nothing before it is recorded.
	FirstLSN uint64
	// CheckpointLSN is the server's newest checkpoint seen; WrittenLSN about the server's
	// current LSN (the end of the log read so far).
	CheckpointLSN uint64
	WrittenLSN    uint64
	// MaxTrackedLSNAge is "Max tracked LSN age": the largest distance from TrackedLSN to
	// WrittenLSN seen since this run started.
	MaxTrackedLSNAge uint64
	// RedoLoggingOff says the server's redo logging is switched off now (nothing is tracked).
	RedoLoggingOff bool
	// Gaps are the ranges the tracker could not record, with the reasons.
	Gaps []TrackGap
	// Files are the tracker's bitmap files (base names), oldest first.
	Files []string
	// LastError is the last problem met reading the server's log ("" when the last look was
	// fine); the tracker keeps trying.
	LastError string
	Polls     uint64
	At        time.Time
}

// TrackGap is a range [Start, End) of the server's log whose changed pages are not recorded.
type TrackGap struct {
	// Kind is a short name of the cause (for MySQL: recycled, recreated, format,
	// redo-logging-off, untrusted).
	Kind  string
	Start uint64
	// End is 0 while the gap is still open.
	End    uint64
	Reason string
	At     time.Time
}

func (g TrackGap) String() string {
	if g.End == 0 {
		return fmt.Sprintf("from LSN %d on (%s): %s", g.Start, g.Kind, g.Reason)
	}
	return fmt.Sprintf("LSN %d to %d (%s): %s", g.Start, g.End, g.Kind, g.Reason)
}

// ChangedPagesRequest asks for the pages changed in [Since, Until).
type ChangedPagesRequest struct {
	Config Config
	Since  uint64
	// Until 0 means up to where the tracker has tracked.
	Until uint64
}

// ChangedPagesStream yields batches of rows in the order of their runs; Recv returns io.EOF,
// unwrapped, at the end.
type ChangedPagesStream interface {
	Recv() ([]ChangedPage, error)
}

// ChangedPage is one row of XtraDB's INFORMATION_SCHEMA.INNODB_CHANGED_PAGES: a page changed
// by the changes in the tracker's run [StartLSN, EndLSN). A page changed in several runs has
// a row for each.
type ChangedPage struct {
	SpaceID, PageID  uint32
	StartLSN, EndLSN uint64
}
