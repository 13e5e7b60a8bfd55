package mysqlsrc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// Page tracking through component_mysqlbackup's UDFs. The server records a page id when it
// flushes the page, so the list for an LSN range is complete only once the checkpoint has
// passed the range's end; every backup therefore resets tracking (a new reset point R) and
// waits for the checkpoint to pass R before it takes its own checkpoint C, so that the next
// incremental can ask for exactly [C, C_next).

// errRangeNotTracked is ER_PAGE_TRACKING_RANGE_NOT_TRACKED (3803): the server has no tracking
// data for the range (purged, tracking restarted, or the end is past the last checkpoint).
var errRangeNotTracked = errors.New("the server has no page tracking data for that LSN range")

const erPageTrackingRangeNotTracked = 3803

// querier is a *sql.DB or, for statements under the backup lock, the lock's *sql.Conn.
type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// trackingGroupStart is the LSN the current tracking group started at; 0 when tracking is off.
func trackingGroupStart(ctx context.Context, q querier) (uint64, error) {
	var lsn int64
	if err := q.QueryRowContext(ctx, "SELECT mysqlbackup_page_track_get_start_lsn()").Scan(&lsn); err != nil {
		return 0, fmt.Errorf("mysqlbackup_page_track_get_start_lsn(): %w", err)
	}
	if lsn < 0 {
		return 0, nil
	}
	return uint64(lsn), nil
}

// resetTracking starts tracking if it is off, or sets a new reset point if it is on, and
// returns the reset point's LSN, having checked that tracking is really on.
//
// Measured on 9.7.4: after a restart of a server whose tracking had been stopped and started
// again (a second tracking group), tracking is off (get_start_lsn 0) and set(true) answers the
// old group's start while leaving it off, so every later incremental would fall back. Stopping
// and starting it once more starts it.
func resetTracking(ctx context.Context, q querier) (uint64, error) {
	lsn, err := setTracking(ctx, q, true)
	if err != nil {
		return 0, err
	}
	if group, err := trackingGroupStart(ctx, q); err != nil || group != 0 {
		return lsn, err
	}
	if _, err := setTracking(ctx, q, false); err != nil {
		return 0, err
	}
	if lsn, err = setTracking(ctx, q, true); err != nil {
		return 0, err
	}
	if group, err := trackingGroupStart(ctx, q); err != nil || group == 0 {
		return 0, fmt.Errorf("page tracking stays off after mysqlbackup_page_track_set(true) (get_start_lsn %d, %v); check the server's error log for the page archiver", group, err)
	}
	return lsn, nil
}

func setTracking(ctx context.Context, q querier, on bool) (uint64, error) {
	var lsn int64
	query := fmt.Sprintf("SELECT mysqlbackup_page_track_set(%t)", on)
	if err := q.QueryRowContext(ctx, query).Scan(&lsn); err != nil {
		return 0, fmt.Errorf("%s: %w", query[7:], err)
	}
	if lsn <= 0 {
		return 0, fmt.Errorf("%s returned %d", query[7:], lsn)
	}
	return uint64(lsn), nil
}

// Polling the checkpoint starts fast and backs off: the checkpoint often passes the reset
// point within a few milliseconds (the server flushes on its own), and a fixed 50 ms tick
// added up to 50 ms to every such backup; a long wait settles at one query per 50 ms.
const (
	checkpointPollFirst = 2 * time.Millisecond
	checkpointPollMax   = 50 * time.Millisecond
)

// waitForCheckpoint polls log_status until the checkpoint reaches lsn, logging progress, and
// gives up after timeout with an error that says what to do.
func waitForCheckpoint(ctx context.Context, log hclog.Logger, db *sql.DB, lsn uint64, timeout time.Duration) (uint64, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	lastLog := start
	poll := checkpointPollFirst
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		c, err := readLogStatus(ctx, db)
		if err != nil {
			return 0, err
		}
		if c.Checkpoint >= lsn {
			log.Debug("checkpoint passed the tracking reset point", "reset_lsn", exact(lsn), "checkpoint_lsn", exact(c.Checkpoint), "waited", time.Since(start))
			return c.Checkpoint, nil
		}
		now := time.Now()
		if now.After(deadline) {
			return 0, fmt.Errorf("the checkpoint (LSN %d) did not reach the page tracking reset point %d within %s; the server flushes slowly — raise tracking_wait_timeout, or take the backup when the load is lower", c.Checkpoint, lsn, timeout)
		}
		if now.Sub(lastLog) >= 5*time.Second {
			log.Info("waiting for the checkpoint to pass the page tracking reset point", "reset_lsn", exact(lsn), "checkpoint_lsn", exact(c.Checkpoint), "waited", now.Sub(start).Round(time.Second))
			lastLog = now
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
		}
		poll = min(poll*3/2, checkpointPollMax)
	}
}

// idxWritten, when set (only by tests), is called with the path of each .idx file the server
// wrote, before it is read: a test damages a real file there.
var idxWritten func(path string)

// changedPages asks the server for the pages changed in [from, to) and streams the .idx file
// it writes into a page set. Setting mysqlbackup.backupid deletes every older .idx file, so the
// file is read completely before anything else could set the id again, and removed after.
func changedPages(ctx context.Context, log hclog.Logger, q querier, datadir string, from, to uint64) (*pagemap.PageSet, uint64, error) {
	id := strconv.FormatInt(time.Now().UnixNano(), 10) // digits only, as the component demands
	if _, err := q.ExecContext(ctx, "SET GLOBAL mysqlbackup.backupid = ?", id); err != nil {
		return nil, 0, fmt.Errorf("SET GLOBAL mysqlbackup.backupid: %w", err)
	}
	var rc int64
	if err := q.QueryRowContext(ctx, "SELECT mysqlbackup_page_track_get_changed_pages(?, ?)", from, to).Scan(&rc); err != nil {
		return nil, 0, fmt.Errorf("mysqlbackup_page_track_get_changed_pages(%d, %d): %w", from, to, err)
	}
	switch rc {
	case 0:
	case erPageTrackingRangeNotTracked:
		return nil, 0, fmt.Errorf("%w (LSN %d to %d)", errRangeNotTracked, from, to)
	case 1:
		return nil, 0, fmt.Errorf("mysqlbackup_page_track_get_changed_pages refused backupid %q (it must be all digits)", id)
	case -1:
		return nil, 0, fmt.Errorf("mysqlbackup_page_track_get_changed_pages could not write #meb/%s.idx (backupid unset, or the file exists already)", id)
	default:
		return nil, 0, fmt.Errorf("mysqlbackup_page_track_get_changed_pages(%d, %d) returned error %d", from, to, rc)
	}
	path := filepath.Join(datadir, "#meb", id+".idx")
	if idxWritten != nil {
		idxWritten(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the changed-page list: %w", err)
	}
	set := pagemap.NewPageSet()
	entries, err := pagemap.ReadIdx(f, set)
	f.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		log.Debug("could not remove the changed-page list; the server deletes it when the next backup sets its id", "path", path, "error", err)
	}
	return set, entries, nil
}

// purgeTracking drops tracking data older than lsn and returns what the server reports.
func purgeTracking(ctx context.Context, q querier, lsn uint64) (uint64, error) {
	var purged int64
	if err := q.QueryRowContext(ctx, "SELECT mysqlbackup_page_track_purge_up_to(?)", lsn).Scan(&purged); err != nil {
		return 0, fmt.Errorf("mysqlbackup_page_track_purge_up_to(%d): %w", lsn, err)
	}
	if purged < 0 {
		return 0, fmt.Errorf("mysqlbackup_page_track_purge_up_to(%d) returned error %d", lsn, -purged)
	}
	return uint64(purged), nil
}

// serverStarted is when the server started, in the server's own clock (Unix seconds).
func serverStarted(ctx context.Context, q querier) (int64, error) {
	var started int64
	err := q.QueryRowContext(ctx, `SELECT UNIX_TIMESTAMP() - CAST(VARIABLE_VALUE AS SIGNED)
		FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'`).Scan(&started)
	if err != nil {
		return 0, fmt.Errorf("reading the server's uptime (the backup user needs SELECT ON performance_schema.global_status): %w", err)
	}
	return started, nil
}

// Purge drops the change tracking data below the retention floor: the redo tracker's bitmap
// files (with tracking_dir) and the server's page tracking data.
func (s *Source) Purge(ctx context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
	o, err := parseOptions(req.Config)
	if err != nil {
		return nil, err
	}
	if req.FloorLSN == 0 {
		return nil, shared.InvalidConfig("purge needs a retention floor LSN above 0")
	}
	if o.trackingDir == "" {
		return s.purgeComponent(ctx, o, req)
	}
	bm, err := purgeBitmaps(o.trackingDir, req.FloorLSN, s.log)
	if err != nil {
		return nil, err
	}
	res, err := s.purgeComponent(ctx, o, req)
	if err != nil {
		return nil, fmt.Errorf("%s; then: %w", bm.message, err)
	}
	res.Message = bm.message + "; " + res.Message
	if res.PurgedUpTo == 0 {
		res.PurgedUpTo = bm.purgedUpTo
	}
	return res, nil
}

// purgeComponent drops component_mysqlbackup's tracking data below the floor.
func (s *Source) purgeComponent(ctx context.Context, o *options, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
	db, info, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if !info.component {
		return &shared.PurgeResult{Message: "component_mysqlbackup is not installed: there is no tracking data to purge"}, nil
	}
	purged, err := purgeTracking(ctx, db, req.FloorLSN)
	if err != nil {
		return nil, err
	}
	// The server purges whole archive files (about 32 MiB of tracking data each), never the
	// active one. MySQL 9.7.4 answered the floor itself when there was nothing to drop; the
	// facts measured on the same version also saw LSN_MAX for that.
	if purged == 1<<63-1 || purged == 0 {
		s.log.Info("page tracking purge: nothing old enough to purge", "floor_lsn", exact(req.FloorLSN))
		return &shared.PurgeResult{Message: fmt.Sprintf("nothing purged below LSN %d (the server purges whole tracking files, never the active one)", req.FloorLSN)}, nil
	}
	s.log.Info("page tracking purged", "floor_lsn", exact(req.FloorLSN), "purged_up_to", exact(purged))
	return &shared.PurgeResult{PurgedUpTo: purged, Message: fmt.Sprintf("tracking data purged up to LSN %d", purged)}, nil
}
