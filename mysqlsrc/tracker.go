package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
)

// The redo tracker: XtraDB's changed-page tracking, outside the server. It reads the redo log
// as the server writes it (readAhead, trackredo.go) and, from where it last stopped up to each
// new checkpoint, parses every record (innodb.ChangedPages)
// and appends the pages changed to XtraDB bitmap files (pagemap.BitmapWriter) in its own
// directory, with its state (trackstate.go) beside them.
//
// Why checkpoints. A run ends at a checkpoint LSN read from the redo files' checkpoint blocks
// (or at the start of a mini-transaction below it). The server writes a checkpoint only after
// flushing the redo up to it, so everything the tracker persists lies at or below the flushed
// LSN: after a host crash the server may rewrite redo beyond that LSN with other records, and
// a tracker that had recorded those LSNs as tracked would skip the new ones. Checkpoint LSNs
// are also mini-transaction boundaries, where a walk can begin again after a record it could
// not parse. Redo below the checkpoint is final: the server never rewrites it.
//
// What it cannot track it records as a gap, with the reason, never as a silent skip: redo the
// server recycled before it was read (the tracker was stopped too long, or fell behind a small
// innodb_redo_log_capacity), redo files created anew (another log uuid), a format it does not
// know, a record or block it could not parse, and redo logging switched off — the redo
// header's NO_LOGGING flag, which the server sets (with CRASH_UNSAFE: flags 3, measured) in the
// current file before the first unlogged change and clears only after ALTER INSTANCE ENABLE
// INNODB REDO_LOG has flushed every page and written a checkpoint. While the flag is set the
// tracker parses nothing; the gap runs from the tracked LSN to the first checkpoint beyond
// every checkpoint seen while it was set, so the pages written without redo (stamped with the
// LSN at which logging stopped) lie inside it.
//
// It also records when it did not watch at all (Unwatched: the checkpoints between its last
// look before it stopped and its first look after it started), because an incremental that
// spans a server restart relies on its watch of the NO_LOGGING flag to prove that redo logging
// stayed on (see bitmaps.go). The flag is read at every poll; an off-and-on switch completed
// entirely between two polls would not be seen, so the poll interval bounds that proof.

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	Datadir string // the server's data directory, holding #innodb_redo
	Dir     string // where the bitmap files and the tracker's state live
	// MaxFileSize is where a new bitmap file is started; 0 means 100 MiB.
	MaxFileSize int64
	// PageSize is innodb_page_size; 0 means 16 KiB.
	PageSize int
	// Poll is how often the redo header and checkpoints are read; 0 means 10 ms.
	Poll time.Duration
	// MaxReadAhead bounds the redo read ahead of the checkpoint and held in memory (see
	// readAhead); 0 means 256 MiB. Redo the server drops beyond it becomes a gap.
	MaxReadAhead int
	Log          hclog.Logger
}

// TrackerStatus is what a tracker reports, as XtraDB does in SHOW ENGINE INNODB STATUS.
type TrackerStatus struct {
	// TrackedLSN is "Log tracked up to": the bitmaps hold the changes of the redo before it
	// (outside the gaps).
	TrackedLSN uint64
	FirstLSN   uint64 // where tracking began
	// CheckpointLSN is the newest checkpoint seen; WrittenLSN the end of the full redo blocks
	// read so far (about the server's current LSN); MaxTrackedLSNAge the largest distance from
	// TrackedLSN to WrittenLSN seen since the tracker started (XtraDB's "Max tracked LSN age").
	CheckpointLSN    uint64
	WrittenLSN       uint64
	MaxTrackedLSNAge uint64
	RedoLoggingOff   bool // the NO_LOGGING flag is set now
	Gaps             []TrackerGap
	// LastError is the last problem met reading the redo ("" when the last poll was fine);
	// the tracker keeps polling.
	LastError string
	Polls     uint64
}

// Tracker follows a server's redo log and writes changed-page bitmaps. Run it with Run; read
// its progress with Status.
type Tracker struct {
	cfg     TrackerConfig
	log     hclog.Logger
	redoDir string

	st      *trackerState
	w       *pagemap.BitmapWriter
	started bool   // the first poll of this Run is done
	offOpen bool   // a redo-logging-off gap is open
	offCkpt uint64 // the newest checkpoint seen while the flag was set
	ahead   readAhead

	mu     sync.Mutex
	status TrackerStatus
}

// NewTracker checks cfg and returns a tracker; nothing is read before Run.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	if cfg.Datadir == "" || cfg.Dir == "" {
		return nil, errors.New("redo tracker: both the datadir and the tracking directory must be set")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.MaxReadAhead <= 0 {
		cfg.MaxReadAhead = 256 << 20
	}
	return &Tracker{cfg: cfg, log: cfg.Log, redoDir: filepath.Join(cfg.Datadir, "#innodb_redo"),
		ahead: readAhead{max: cfg.MaxReadAhead}}, nil
}

// Status returns the tracker's progress.
func (t *Tracker) Status() TrackerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.status
	s.Gaps = append([]TrackerGap(nil), s.Gaps...)
	return s
}

// Run tracks until ctx ends (then it returns nil) or the bitmap directory cannot be written.
// Only one tracker may run on a directory at a time.
func (t *Tracker) Run(ctx context.Context) error {
	closeFn, err := t.open()
	if err != nil {
		return err
	}
	defer closeFn()
	return t.loop(ctx)
}

// loop polls until ctx ends, on a tracker open has prepared.
func (t *Tracker) loop(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Poll)
	defer tick.Stop()
	for {
		if err := t.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// open locks the directory and loads the state and the bitmap writer.
func (t *Tracker) open() (func(), error) {
	if err := os.MkdirAll(t.cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("redo tracker: %w", err)
	}
	// A purge (trackpurge.go) holds the lock for the moment it prunes the state: wait that
	// out before calling the holder another tracker.
	unlock, err := lockTrackingDir(t.cfg.Dir)
	for deadline := time.Now().Add(2 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		unlock, err = lockTrackingDir(t.cfg.Dir)
	}
	if err != nil {
		return nil, err
	}
	if t.st, err = loadTrackerState(t.cfg.Dir); err == nil {
		t.w, err = pagemap.OpenBitmapWriter(t.cfg.Dir, t.cfg.MaxFileSize)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	t.started, t.offOpen = false, false
	if t.st != nil {
		for _, g := range t.st.Gaps {
			if g.End == 0 && g.Kind == GapRedoLoggingOff {
				t.offOpen, t.offCkpt = true, t.st.WatchedTo
			}
		}
	}
	return func() { t.w.Close(); unlock() }, nil
}

func lockTrackingDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "pagetrack-tracker.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("redo tracker: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("redo tracker: another tracker is running on %s (%v)", dir, err)
	}
	return func() { f.Close() }, nil
}

// poll looks at the redo once and tracks what is new. Only a failure to write the bitmap
// directory is returned; problems reading the redo are reported in the status and retried.
func (t *Tracker) poll() error {
	v, err := readRedoView(t.redoDir)
	if err == nil && v.checkpoint == 0 {
		err = fmt.Errorf("no valid checkpoint in %s", t.redoDir)
	}
	if err != nil {
		t.report(nil, err)
		return nil
	}
	if t.st != nil {
		if tracked := t.st.TrackedLSN; tracked < t.ahead.start || tracked > t.ahead.end() {
			t.ahead.resetAt(tracked)
		}
		t.ahead.fill(v)
	}
	err = t.step(v)
	if t.st != nil {
		t.ahead.dropBelow(t.st.TrackedLSN)
	}
	var readErr redoReadError
	if errors.As(err, &readErr) {
		t.report(v, err)
		return nil
	}
	t.report(v, nil)
	return err
}

// redoReadError is a problem with the redo that the next poll may not have.
type redoReadError struct{ error }

func (t *Tracker) step(v *redoView) error {
	if t.st == nil {
		if v.noLogging || v.format != innodb.RedoFormat {
			return redoReadError{fmt.Errorf("tracking cannot start while redo logging is off or the redo format (%d) is unknown", v.format)}
		}
		first, err := groupStartBefore(v, v.checkpoint, t.cfg.PageSize)
		if err != nil {
			return redoReadError{err}
		}
		t.st = &trackerState{Version: trackerStateVersion, LogUUID: v.logUUID, FirstLSN: first, TrackedLSN: first, WatchedTo: v.checkpoint}
		t.started = true
		t.log.Info("redo tracking starts", "lsn", exact(first), "dir", t.cfg.Dir)
		return t.st.save(t.cfg.Dir)
	}
	if v.checkpoint < t.st.WatchedTo {
		return redoReadError{fmt.Errorf("the redo log's checkpoint %d is behind the checkpoint %d the tracker saw before: the datadir was replaced or re-initialized; move %s aside and start the tracker again", v.checkpoint, t.st.WatchedTo, t.cfg.Dir)}
	}
	if !t.started {
		t.started = true
		if v.checkpoint > t.st.WatchedTo {
			t.st.Unwatched = append(t.st.Unwatched, TrackerGap{Kind: GapUnwatched, Start: t.st.WatchedTo, End: v.checkpoint, At: time.Now().UTC(),
				Reason: "the redo tracker was not running"})
		}
	}
	switch {
	case v.logUUID != t.st.LogUUID:
		if err := t.gapTo(v, GapRecreated, t.st.TrackedLSN, fmt.Sprintf("the redo log was created anew (log uuid %d, was %d)", v.logUUID, t.st.LogUUID)); err != nil {
			return err
		}
		t.st.LogUUID = v.logUUID
		return t.st.save(t.cfg.Dir)
	case v.format != innodb.RedoFormat:
		if _, open := t.st.gapIn(t.st.TrackedLSN, t.st.TrackedLSN+1); !open {
			t.addGap(GapFormat, t.st.TrackedLSN, 0, fmt.Sprintf("the redo log has format %d, which this tracker cannot parse (it reads format %d, MySQL 8.0.30 and later)", v.format, innodb.RedoFormat))
			return t.st.save(t.cfg.Dir)
		}
		return nil
	case v.noLogging:
		if !t.offOpen {
			t.offOpen, t.offCkpt = true, v.checkpoint
			t.addGap(GapRedoLoggingOff, t.st.TrackedLSN, 0, fmt.Sprintf("redo logging was switched off (the redo header's NO_LOGGING flag was set at checkpoint %d): pages changed meanwhile are not in the redo", v.checkpoint))
			t.log.Warn("redo logging is off: changes are not tracked", "checkpoint", exact(v.checkpoint))
			return t.st.save(t.cfg.Dir)
		}
		t.offCkpt = max(t.offCkpt, v.checkpoint)
		return nil
	case t.offOpen:
		if v.checkpoint <= t.offCkpt {
			return nil // wait for a checkpoint beyond the pages written without redo
		}
		if err := t.resume(v); err != nil {
			return err
		}
		t.offOpen, t.st.WatchedTo = false, v.checkpoint
		return t.st.save(t.cfg.Dir)
	}
	t.st.WatchedTo = v.checkpoint
	if _, open := t.st.gapIn(t.st.TrackedLSN, t.st.TrackedLSN+1); open {
		// A format gap: the format is known again.
		if err := t.resume(v); err != nil {
			return err
		}
		return t.st.save(t.cfg.Dir)
	}
	return t.track(v)
}

// track parses the redo from the tracked LSN through the group that holds v's checkpoint and
// writes it as one run.
func (t *Tracker) track(v *redoView) error {
	from, to := t.st.TrackedLSN, v.checkpoint
	if to <= from {
		return nil
	}
	if !v.holds(from) && !t.ahead.holds(from) {
		if err := t.gapTo(v, GapRecycled, from, fmt.Sprintf("the server recycled the redo log past LSN %d before the tracker read it (the oldest redo now starts at LSN %d): keep the tracker running, or raise innodb_redo_log_capacity", from, v.oldest())); err != nil {
			return err
		}
		return t.st.save(t.cfg.Dir)
	}
	set := pagemap.NewPageSet()
	var loads []IndexLoad
	rd := t.ahead.reader(v, from/innodb.RedoBlockSize*innodb.RedoBlockSize)
	defer rd.files.close()
	upTo, err := walkThrough(rd, v.format, from, to, t.cfg.PageSize, func(rec innodb.RedoRecord, end uint64) {
		switch rec.Type.Kind() {
		case innodb.RedoPageChange:
			set.Add(rec.Space, rec.Page)
		case innodb.RedoSpaceEvent:
			if rec.Type == innodb.MlogIndexLoad {
				loads = append(loads, IndexLoad{LSN: end, Space: rec.Space})
			}
		}
	})
	if upTo > from {
		if werr := t.w.WriteRun(from, upTo, set); werr != nil {
			return werr
		}
		t.st.TrackedLSN = upTo
		t.st.IndexLoads = append(t.st.IndexLoads, loads...)
	}
	if err != nil {
		var perr *innodb.RedoParseError
		switch {
		case rd.files.lost != nil || rd.files.reused():
			err = t.gapTo(v, GapRecycled, t.st.TrackedLSN, fmt.Sprintf("the server recycled the redo log past LSN %d while the tracker read it (%v): raise innodb_redo_log_capacity", t.st.TrackedLSN, err))
		case errors.As(err, &perr):
			err = t.gapTo(v, GapUntrusted, t.st.TrackedLSN, perr.Error())
		default:
			err = redoReadError{err}
		}
		if err != nil {
			if serr := t.st.save(t.cfg.Dir); serr != nil {
				return serr
			}
			return err
		}
	}
	return t.st.save(t.cfg.Dir)
}

// gapTo records the gap [start, r) of kind, where r is the mini-transaction start at or below
// v's checkpoint where tracking resumes, and resumes there. While r is not beyond start (the
// checkpoint is still inside the group that could not be read), nothing is recorded and the
// next poll tries again.
func (t *Tracker) gapTo(v *redoView, kind string, start uint64, reason string) error {
	r, err := groupStartBefore(v, v.checkpoint, t.cfg.PageSize)
	if err != nil {
		return redoReadError{fmt.Errorf("%s; and no place to resume: %w", reason, err)}
	}
	if r <= start {
		return redoReadError{fmt.Errorf("%s; waiting for a checkpoint beyond LSN %d to resume", reason, start)}
	}
	t.addGap(kind, start, r, reason)
	t.log.Warn("redo tracking gap", "gap", t.st.Gaps[len(t.st.Gaps)-1].String())
	t.st.TrackedLSN = r
	return nil
}

// resume closes the open gaps where tracking resumes: the mini-transaction start at or below
// v's checkpoint.
func (t *Tracker) resume(v *redoView) error {
	r, err := groupStartBefore(v, v.checkpoint, t.cfg.PageSize)
	if err != nil {
		return redoReadError{err}
	}
	if r <= t.st.TrackedLSN {
		return redoReadError{fmt.Errorf("waiting for a checkpoint beyond LSN %d to resume tracking", t.st.TrackedLSN)}
	}
	t.closeGaps(r)
	t.st.TrackedLSN = r
	return nil
}

func (t *Tracker) addGap(kind string, start, end uint64, reason string) {
	t.st.Gaps = append(t.st.Gaps, TrackerGap{Kind: kind, Start: start, End: end, Reason: reason, At: time.Now().UTC()})
}

// closeGaps ends the open gaps at lsn.
func (t *Tracker) closeGaps(lsn uint64) {
	for i := range t.st.Gaps {
		if t.st.Gaps[i].End == 0 {
			t.st.Gaps[i].End = max(lsn, t.st.Gaps[i].Start+1)
		}
	}
}

func (t *Tracker) report(v *redoView, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.status
	s.Polls++
	last := s.LastError
	s.LastError = ""
	if err != nil {
		s.LastError = err.Error()
		if s.LastError != last {
			t.log.Warn("redo tracker cannot read the redo; retrying", "error", s.LastError)
		}
	}
	if v != nil {
		s.CheckpointLSN, s.RedoLoggingOff = v.checkpoint, v.noLogging
	}
	if t.st != nil {
		s.TrackedLSN, s.FirstLSN = t.st.TrackedLSN, t.st.FirstLSN
		s.Gaps = append(s.Gaps[:0], t.st.Gaps...)
		s.WrittenLSN = max(t.ahead.end(), s.CheckpointLSN)
		if s.WrittenLSN > s.TrackedLSN {
			s.MaxTrackedLSNAge = max(s.MaxTrackedLSNAge, s.WrittenLSN-s.TrackedLSN)
		}
	}
}

// walkThrough walks the groups from from on through the one that holds to (a checkpoint may
// lie inside a group, and recovery from it does not apply that group, so an incremental from
// that checkpoint needs its pages), handing each record to fn with its group's end LSN. It
// returns where it stopped: the end of that group, or on error the start of the group that
// failed. The group's end is still at or below the server's flushed LSN: the server writes and
// flushes whole groups only.
func walkThrough(r io.Reader, format uint32, from, to uint64, pageSize int, fn func(innodb.RedoRecord, uint64)) (uint64, error) {
	// The walk may look past to: bound it a group's maximum beyond, at a record position.
	bound := to + innodb.DefaultRedoMaxGroupBytes
	bound = bound/innodb.RedoBlockSize*innodb.RedoBlockSize + innodb.RedoBlockHeaderSize
	blk := from / innodb.RedoBlockSize * innodb.RedoBlockSize
	w, err := innodb.NewRedoWalker(r, format, blk, from, bound, innodb.RedoParseOptions{PageSize: pageSize})
	if err != nil {
		return from, err
	}
	for w.Position() < to {
		g, err := w.Next()
		if err != nil {
			return w.Position(), err
		}
		if g == nil {
			break
		}
		for _, rec := range g.Records {
			fn(rec, g.EndLSN)
		}
	}
	return w.Position(), nil
}

// ReadTrackerStatus reads what a tracker persisted in dir, for another process than the one
// running it: TrackedLSN, FirstLSN and Gaps (CheckpointLSN, MaxTrackedLSNAge and the rest
// are known only to the running tracker, through Status). A directory without tracker state
// gives an error saying so.
func ReadTrackerStatus(dir string) (TrackerStatus, error) {
	st, err := loadTrackerState(dir)
	if err != nil {
		return TrackerStatus{}, err
	}
	if st == nil {
		return TrackerStatus{}, fmt.Errorf("%s holds no redo tracker state: no tracker has run on it", dir)
	}
	return TrackerStatus{TrackedLSN: st.TrackedLSN, FirstLSN: st.FirstLSN, Gaps: st.Gaps}, nil
}
