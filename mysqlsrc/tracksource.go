package mysqlsrc

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// The Tracker capability of the Source (shared.Tracker): the redo tracker (tracker.go) run
// as a service through the plugin, and XtraDB's INNODB_CHANGED_PAGES read from its bitmaps.

var _ shared.Tracker = (*Source)(nil)

// trackerOptions parses cfg for the tracker, which needs tracking_dir.
func trackerOptions(cfg shared.Config) (*options, error) {
	o, err := parseOptions(cfg)
	if err != nil {
		return nil, err
	}
	if o.trackingDir == "" {
		return nil, shared.InvalidConfig(`the redo tracker needs attribute "tracking_dir" in the source block: the directory where it writes its changed-page bitmaps`)
	}
	return o, nil
}

// Track runs the redo tracker on the datadir until ctx ends.
func (s *Source) Track(ctx context.Context, req *shared.TrackRequest) (shared.TrackStream, error) {
	o, err := trackerOptions(req.Config)
	if err != nil {
		return nil, err
	}
	pageSize, err := datadirPageSize(o.datadir)
	if err != nil {
		return nil, err
	}
	t, err := NewTracker(TrackerConfig{Datadir: o.datadir, Dir: o.trackingDir, PageSize: pageSize, Log: s.log.Named("tracker")})
	if err != nil {
		return nil, shared.InvalidConfig(err.Error())
	}
	closeFn, err := t.open()
	if err != nil {
		return nil, err
	}
	interval := req.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	st := &trackStream{t: t, dir: o.trackingDir, done: make(chan struct{}), tick: time.NewTicker(interval)}
	go func() {
		defer close(st.done)
		defer closeFn()
		st.err = t.loop(ctx)
	}()
	return st, nil
}

// trackStream reports a running tracker's status every interval, and once more when it ends.
type trackStream struct {
	t         *Tracker
	dir       string
	done      chan struct{}
	err       error // the tracker's, readable once done is closed
	tick      *time.Ticker
	sentFirst bool
	ended     bool
}

func (s *trackStream) Recv() (*shared.TrackStatus, error) {
	if s.ended {
		return nil, io.EOF
	}
	if !s.sentFirst {
		s.sentFirst = true
		// The first status follows the first poll; Status is all a tracker shares.
		for s.t.Status().Polls == 0 {
			select {
			case <-s.done:
				return s.end()
			case <-time.After(s.t.cfg.Poll):
			}
		}
		return s.status(), nil
	}
	select {
	case <-s.done:
		return s.end()
	case <-s.tick.C:
		return s.status(), nil
	}
}

// end reports the tracker's failure, or its last status before the stream's end.
func (s *trackStream) end() (*shared.TrackStatus, error) {
	s.ended = true
	s.tick.Stop()
	if s.err != nil {
		return nil, s.err
	}
	return s.status(), nil
}

func (s *trackStream) status() *shared.TrackStatus {
	ts := s.t.Status()
	out := &shared.TrackStatus{
		TrackedLSN: ts.TrackedLSN, FirstLSN: ts.FirstLSN, CheckpointLSN: ts.CheckpointLSN, WrittenLSN: ts.WrittenLSN,
		MaxTrackedLSNAge: ts.MaxTrackedLSNAge, RedoLoggingOff: ts.RedoLoggingOff, LastError: ts.LastError,
		Polls: ts.Polls, At: time.Now().UTC(), Gaps: sharedGaps(ts.Gaps),
	}
	if files, err := pagemap.ListBitmapFiles(s.dir); err == nil {
		for _, f := range files {
			out.Files = append(out.Files, filepath.Base(f.Path))
		}
	}
	return out
}

func sharedGaps(gaps []TrackerGap) []shared.TrackGap {
	out := make([]shared.TrackGap, len(gaps))
	for i, g := range gaps {
		out[i] = shared.TrackGap{Kind: g.Kind, Start: g.Start, End: g.End, Reason: g.Reason, At: g.At}
	}
	return out
}

// datadirPageSize reads innodb_page_size from the FSP flags of the data dictionary
// tablespace (mysql.ibd, always in the datadir), so the tracker needs no connection.
func datadirPageSize(datadir string) (int, error) {
	f, err := os.Open(filepath.Join(datadir, "mysql.ibd"))
	if err != nil {
		return 0, shared.InvalidConfig(fmt.Sprintf("the redo tracker reads the page size from the datadir's mysql.ibd: %v (is datadir the server's data directory, and readable?)", err))
	}
	defer f.Close()
	b := make([]byte, 64)
	if _, err := io.ReadFull(f, b); err != nil {
		return 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	p0, err := innodb.ParsePage0(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return p0.Flags.LogicalPageSize(), nil
}

// ChangedPages lists the rows of INNODB_CHANGED_PAGES for [Since, Until) from the bitmaps,
// refusing a range the tracker's state does not vouch for.
func (s *Source) ChangedPages(ctx context.Context, req *shared.ChangedPagesRequest) (shared.ChangedPagesStream, error) {
	o, err := trackerOptions(req.Config)
	if err != nil {
		return nil, err
	}
	st, err := loadTrackerState(o.trackingDir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, shared.Precondition(fmt.Sprintf("%s holds no redo tracker state: start the tracker (host-example track) first", o.trackingDir))
	}
	since, until := req.Since, req.Until
	if until == 0 {
		until = st.TrackedLSN
	}
	switch g, gap := st.gapIn(since, max(until, since+1)); {
	case since > until && req.Until == 0:
		return nil, shared.Precondition(fmt.Sprintf("the redo tracker has tracked up to LSN %d only, not to %d", st.TrackedLSN, since))
	case since > until:
		return nil, shared.InvalidConfig(fmt.Sprintf("--since %d lies after --until %d", since, until))
	case since < st.FirstLSN:
		return nil, shared.Precondition(fmt.Sprintf("the redo tracker started at LSN %d: it has nothing from LSN %d; ask from %d on", st.FirstLSN, since, st.FirstLSN))
	case until > st.TrackedLSN:
		return nil, shared.Precondition(fmt.Sprintf("the redo tracker has tracked up to LSN %d only, not to %d", st.TrackedLSN, until))
	case gap:
		return nil, shared.Precondition("the redo tracker could not track part of the range (" + g.String() + ")")
	}
	files, err := pagemap.ListBitmapFiles(o.trackingDir)
	if err != nil {
		return nil, err
	}
	var rows []shared.ChangedPage
	err = pagemap.VisitBitmapRuns(files, since, until, func(run pagemap.LSNRange, pages *pagemap.PageSet) error {
		pages.Each(func(space, page uint32) bool {
			rows = append(rows, shared.ChangedPage{SpaceID: space, PageID: page, StartLSN: run.Start, EndLSN: run.End})
			return true
		})
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("the changed-page bitmaps in %s cannot be read for LSN %d to %d: %w", o.trackingDir, since, until, err)
	}
	return &changedPagesStream{rows: rows}, nil
}

type changedPagesStream struct{ rows []shared.ChangedPage }

func (s *changedPagesStream) Recv() ([]shared.ChangedPage, error) {
	if len(s.rows) == 0 {
		return nil, io.EOF
	}
	n := min(len(s.rows), shared.MaxChangedPagesBatch)
	out := s.rows[:n]
	s.rows = s.rows[n:]
	return out, nil
}
