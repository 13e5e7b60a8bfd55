package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// trackingPlan is what a backup decided about page tracking before taking the backup lock, and
// about redo logging under it.
type trackingPlan struct {
	base   *sourceState // nil for a full backup
	method string       // for an incremental: page tracking, the page-LSN scan, or full (copy everything)
	reason string       // why page tracking is not used, for an incremental
	reset  uint64       // R, 0 without the component
	group  uint64
	server serverIdentity
	// redoOnAt is the server's clock (µs) when the backup, holding the lock, saw redo logging on.
	redoOnAt int64
	// restart says why the server is taken to have restarted since the base, when the redo
	// tracker's watch bridged it ("" without a restart); bitmaps.go has the rule.
	restart string
	// unlogged lists spaces the redo-bitmap incremental copies whole (MLOG_INDEX_LOAD).
	unlogged map[uint32]bool
	// bitmapPages is the changed-page set read from the bitmaps (method redo-bitmap).
	bitmapPages *pagemap.PageSet
	// bitmapsFailed: the bitmaps were tried and cannot be used.
	bitmapsFailed bool
	// checkpointWait is how long prepareTracking waited for the checkpoint to pass reset.
	checkpointWait time.Duration
}

// preBase returns what counts (and, where page LSNs are proven to tell every change since the
// base, skips) the tracked pages changed only before the base; nil unless the incremental reads
// a tracked set.
func (p *trackingPlan) preBase() *preBase {
	if p.base == nil || (p.method != shared.MethodPageTracking && p.method != shared.MethodRedoBitmap) {
		return nil
	}
	return &preBase{baseC: p.base.CheckpointLSN, skip: p.restart == ""}
}

// fallBack switches an incremental to the page-LSN scan, or refuses when the configuration
// demands page tracking. An incremental that copies everything stays so.
func (p *trackingPlan) fallBack(o *options, reason string) error {
	if p.method == shared.MethodFull {
		return nil
	}
	if o.requirePageTracking && (o.trackingDir == "" || p.bitmapsFailed) {
		// With a tracking_dir the redo tracker's bitmaps may still serve; useBitmaps refuses
		// if they do not.
		return shared.Precondition("page tracking cannot be used for this incremental (" + reason + ") and require_page_tracking is set; take a full backup, or unset require_page_tracking to allow a page-LSN scan")
	}
	p.method, p.reason = shared.MethodLSNScan, reason
	return nil
}

// copyAll makes an incremental copy every page of every file (method "full"), for when
// nothing on disk can show what changed since the base: neither the tracked list nor a
// page-LSN scan may be used. It stays an incremental on its base for the host, but none of
// its tablespaces is marked incremental, so its restore takes nothing from the base.
func (p *trackingPlan) copyAll(o *options, reason string) error {
	if o.requirePageTracking {
		return shared.Precondition("this incremental must copy every page (" + reason + ") and require_page_tracking is set; take a full backup, or unset require_page_tracking to allow it")
	}
	p.method, p.reason = shared.MethodFull, reason
	return nil
}

// prepareTracking decodes the base, resets page tracking (every backup sets a new reset point
// so the next incremental can use it) and waits until the checkpoint passes it, and decides
// whether this incremental may trust the tracked page list. A restart since the base makes it
// copy everything (see checkRestart); any other doubt falls back to the page-LSN scan: the
// tracked list cannot span a tracking stop/start or a purge. Whether redo logging stayed on
// is decided under the backup lock (checkRedoUnderLock).
func (b *backup) prepareTracking(ctx context.Context, req *shared.BackupRequest) (*trackingPlan, error) {
	p := &trackingPlan{method: shared.MethodFull}
	var err error
	if p.server, err = readServerIdentity(ctx, b.db); err != nil {
		return nil, err
	}
	if req.Base != nil {
		if p.base, err = decodeState(req.Base.State); err != nil {
			return nil, shared.InvalidConfig(err.Error())
		}
		if p.base.ServerUUID != b.info.uuid {
			return nil, shared.Precondition(fmt.Sprintf("the base snapshot was taken from server %s but the dsn reaches server %s; take a full backup of this server first", p.base.ServerUUID, b.info.uuid))
		}
		p.method = shared.MethodPageTracking
		if err := b.checkRestart(ctx, p); err != nil {
			return nil, err
		}
	}
	if !b.info.component && b.o.installComponent {
		if _, err := b.db.ExecContext(ctx, "INSTALL COMPONENT 'file://component_mysqlbackup'"); err != nil {
			return nil, fmt.Errorf("installing component_mysqlbackup (install_component = true; the backup user needs INSERT ON mysql.component): %w", err)
		}
		b.src.log.Info("installed component_mysqlbackup")
		b.info.component = true
	}
	if !b.info.component {
		if p.base != nil {
			return p, p.fallBack(b.o, "component_mysqlbackup is not installed; run INSTALL COMPONENT 'file://component_mysqlbackup' (or set install_component = true) so later incrementals read only changed pages")
		}
		return p, nil
	}

	groupBefore, err := trackingGroupStart(ctx, b.db)
	if err != nil {
		return nil, err
	}
	if p.reset, err = resetTracking(ctx, b.db); err != nil {
		return nil, err
	}
	if p.group, err = trackingGroupStart(ctx, b.db); err != nil {
		return nil, err
	}
	if p.base != nil {
		if reason := trackingUnusable(p.base, groupBefore, p.group); reason != "" {
			if err := p.fallBack(b.o, reason); err != nil {
				return nil, err
			}
		}
	}
	waitStart := time.Now()
	if _, err := waitForCheckpoint(ctx, b.src.log, b.db, p.reset, b.o.trackingWait); err != nil {
		return nil, err
	}
	p.checkpointWait = time.Since(waitStart)
	return p, nil
}

// checkRestart makes the incremental copy everything when the server restarted since the
// base: after a kill -9 the tracked list was measured to miss pages, and a restart empties
// performance_schema.error_log, the only record of redo logging switched off before it.
func (b *backup) checkRestart(ctx context.Context, p *trackingPlan) error {
	now, err := readLogStatus(ctx, b.db)
	if err != nil {
		return err
	}
	binlogDir := ""
	if b.info.binlogBasename != "" {
		binlogDir = filepath.Dir(hostPath(b.info.binlogBasename, b.info.datadir, b.o.datadir))
	}
	var ring *keyring.Keyring // an encrypted binlog's Format_description event needs its key
	if b.o.keyringFile != "" {
		if ring, err = keyring.Load(b.o.keyringFile); err != nil {
			return shared.Precondition(fmt.Sprintf("attribute %q: %v", keyringAttr, err))
		}
	}
	reason := restartReason(p.base, p.server, binlogDir, now.BinlogFile, ring)
	if reason == "" {
		return nil
	}
	bridged, why := b.restartBridged(p)
	if bridged {
		// The component's list is not trusted across a restart; the bitmaps may be.
		p.restart = reason
		b.src.log.Info("server restarted since the base; the redo tracker watched redo logging throughout", "restart", reason)
		return p.fallBack(b.o, reason+"; page tracking's list is not trusted across a restart")
	}
	if why != "" {
		reason += "; the redo tracker cannot bridge it (" + why + ")"
	}
	return p.copyAll(b.o, reason+"; a restart empties performance_schema.error_log, which would show redo logging switched off before it, so every page is copied")
}

// checkRedoUnderLock refuses the backup while redo logging is off and, for an incremental,
// makes it copy everything unless the error log proves logging stayed on since the base. It
// runs under the backup lock, which ALTER INSTANCE … INNODB REDO_LOG waits for, and records
// when it saw logging on, for the next incremental.
func (b *backup) checkRedoUnderLock(ctx context.Context, p *trackingPlan, lock *backupLock) error {
	if err := useUTC(ctx, lock.conn); err != nil {
		return err
	}
	if err := checkRedoLogging(ctx, lock.conn); err != nil {
		return err
	}
	var err error
	if p.redoOnAt, err = serverClockMicros(ctx, lock.conn); err != nil {
		return err
	}
	if p.base == nil || p.method == shared.MethodFull {
		return nil
	}
	reason, err := redoSwitchReason(ctx, lock.conn, p.base, p.restart != "")
	if err != nil {
		return err
	}
	if reason == "" && p.restart != "" {
		// The restart emptied the ring; the error log file must prove it (errlogfile.go).
		if reason, err = b.errorLogFileReason(ctx, lock.conn, p.base); err != nil {
			return err
		}
		if reason != "" {
			reason = p.restart + "; " + reason
		}
	}
	if reason == "" {
		return nil
	}
	return p.copyAll(b.o, reason)
}

// trackingUnusable says why the tracked list between the base and now cannot be trusted
// as far as the tracking API tells (restarts are checked separately), or "".
func trackingUnusable(base *sourceState, groupBefore, group uint64) string {
	switch {
	case base.TrackingReset == 0:
		return "the base backup was taken without page tracking"
	case groupBefore == 0:
		return "page tracking was off on the server"
	case group != base.TrackingGroup:
		return fmt.Sprintf("page tracking was stopped and started again since the base (tracking group now starts at LSN %d, at the base it started at %d)", group, base.TrackingGroup)
	}
	return ""
}

// changedSet fetches the tracked pages between the base's checkpoint and this backup's, or
// falls back when the server no longer has them.
func (b *backup) changedSet(ctx context.Context, p *trackingPlan, lock *backupLock, checkpoint uint64, files []*tablespaceFile) (*pagemap.PageSet, error) {
	switch {
	case checkpoint == p.base.CheckpointLSN:
		// Nothing was flushed under a new checkpoint since the base: every change since the
		// base is in the redo this backup carries from the same checkpoint. The server
		// refuses an empty range (3803), so it is not asked.
		return pagemap.NewPageSet(), nil
	case checkpoint < p.base.CheckpointLSN:
		return nil, p.fallBack(b.o, fmt.Sprintf("the server's checkpoint %d is behind the base's %d (was the datadir replaced?)", checkpoint, p.base.CheckpointLSN))
	}
	set, entries, err := changedPages(ctx, b.src.log, lock.conn, b.o.datadir, p.base.CheckpointLSN, checkpoint)
	if errors.Is(err, errRangeNotTracked) {
		return nil, p.fallBack(b.o, fmt.Sprintf("the server has no tracking data from the base's checkpoint %d to %d (purged, or tracking restarted)", p.base.CheckpointLSN, checkpoint))
	}
	if err != nil {
		return nil, err
	}
	if reason := implausibleTracked(set, files, p.base); reason != "" {
		return nil, p.fallBack(b.o, "the server's changed-page list is damaged ("+reason+"), so it cannot be trusted (a damaged tracking file has made servers hand out raw bytes as page ids, PS-11202)")
	}
	b.src.log.Info("changed pages from page tracking", "from_lsn", exact(p.base.CheckpointLSN), "to_lsn", exact(checkpoint), "entries", entries, "pages", set.Len())
	return set, nil
}

// Space ids at or above reservedSpaceIDs belong to the server's own spaces, handed out from the
// top: the dictionary and temporary tablespaces, undo tablespaces (MySQL 8.0+ reserves 127 ×
// 512 ids below 0xFFFFFFF0 for them; an undo space's id changes at every truncation) and the
// session temporary tablespaces (400,000 ids below those).
const reservedSpaceIDs = 0xFFF00000

// droppedSpaceSlack bounds how far above every known ordinary space id an entry may lie: a
// tablespace created and dropped between two backups is in neither backup's list (its id is
// usually above the base's ids, but an ALTER's intermediate table was measured below them, in
// the replayed mariabackup incremental_compressed scenario), so an unknown id up to the
// highest known one plus this slack is taken as such a tablespace and its pages ignored. What
// the check catches is a damaged list handing out raw bytes as ids, which land far above.
const droppedSpaceSlack = 1024

// implausibleTracked says why the tracked set cannot be what the server tracked, or "": a page
// beyond the end of its file, or a space id neither this backup nor the base knows that is not
// one a tablespace created and dropped since the base could have had.
func implausibleTracked(set *pagemap.PageSet, files []*tablespaceFile, base *sourceState) string {
	now := map[uint32]*tablespaceFile{} // the file holding the space's last page
	var highest uint32                  // of the ordinary space ids either backup knows
	for _, f := range files {
		if g, ok := now[f.page0.SpaceID]; !ok || g.firstPage < f.firstPage {
			now[f.page0.SpaceID] = f
		}
		if f.page0.SpaceID < reservedSpaceIDs {
			highest = max(highest, f.page0.SpaceID)
		}
	}
	inBase := map[uint32]bool{}
	for _, f := range base.Files {
		inBase[f.SpaceID] = true
		if f.SpaceID < reservedSpaceIDs {
			highest = max(highest, f.SpaceID)
		}
	}
	for _, space := range set.Spaces() {
		if f, ok := now[space]; ok {
			runs := set.Runs(space)
			if len(runs) > 0 && runs[len(runs)-1].End() > f.firstPage+f.pages {
				last := runs[len(runs)-1].End()
				return fmt.Sprintf("it lists page %d of space %d, whose file %s has %d pages", last-1, space, f.rel, f.firstPage+f.pages)
			}
			continue
		}
		dropped := uint64(space) <= uint64(highest)+droppedSpaceSlack
		if !inBase[space] && space < reservedSpaceIDs && !dropped {
			return fmt.Sprintf("it lists space id %d, which is in neither this backup's nor the base's tablespace list", space)
		}
	}
	return ""
}

// dictionary is what the server's data dictionary says about spaces, read under the lock.
type dictionary struct {
	indexes   map[uint32][]uint64
	encrypted []uint32
}

func readDictionary(ctx context.Context, conn *backupLock) (*dictionary, error) {
	d := &dictionary{indexes: map[uint32][]uint64{}}
	rows, err := conn.conn.QueryContext(ctx, "SELECT SPACE, INDEX_ID FROM information_schema.INNODB_INDEXES ORDER BY SPACE, INDEX_ID")
	if err != nil {
		return nil, fmt.Errorf("reading INNODB_INDEXES: %w", err)
	}
	for rows.Next() {
		var space uint32
		var id uint64
		if err := rows.Scan(&space, &id); err != nil {
			rows.Close()
			return nil, err
		}
		d.indexes[space] = append(d.indexes[space], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = conn.conn.QueryContext(ctx, "SELECT SPACE FROM information_schema.INNODB_TABLESPACES WHERE ENCRYPTION = 'Y' ORDER BY SPACE")
	if err != nil {
		return nil, fmt.Errorf("reading INNODB_TABLESPACES: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var space uint32
		if err := rows.Scan(&space); err != nil {
			return nil, err
		}
		d.encrypted = append(d.encrypted, space)
	}
	return d, rows.Err()
}

// wholeReason says why an incremental must copy f whole, or "" when only its changes are needed.
func wholeReason(f *tablespaceFile, base *sourceState, dict *dictionary) string {
	bf, ok := base.file(f.rel)
	space := f.page0.SpaceID
	switch {
	case !ok:
		return "new since the base"
	case bf.SpaceID != space:
		return fmt.Sprintf("space id changed from %d to %d (undo truncation, or the table was dropped and recreated)", bf.SpaceID, space)
	case bf.PageSize != uint32(f.pageSize):
		return "page size changed"
	case base.newIndexes(space, dict.indexes[space]):
		return "an index was built since the base (index builds are not fully page-tracked)"
	case slices.Contains(base.Encrypted, space) != slices.Contains(dict.encrypted, space):
		return "encryption changed since the base"
	}
	return ""
}

// planIncremental decides, file by file, what an incremental reads: whole files where the base
// cannot be built on, otherwise the changed pages (from the tracked set, or every page kept
// only when newer than the base's checkpoint) plus the pages added since the base.
func (b *backup) planIncremental(files []*tablespaceFile, p *trackingPlan, changed *pagemap.PageSet, dict *dictionary, before *preBase) ([]pageRange, uint64) {
	var ranges []pageRange
	var tracked []trackedFile
	baseC := p.base.CheckpointLSN
	newerThanBase := func(_ uint64, page []byte) bool { return innodb.PageLSN(page) > baseC }
	for _, f := range files {
		reason := wholeReason(f, p.base, dict)
		if reason == "" && p.unlogged[f.page0.SpaceID] {
			reason = "an index of it was built without page redo (MLOG_INDEX_LOAD) since the base"
		}
		if reason != "" {
			b.src.log.Debug("copying file whole", "file", f.rel, "reason", reason)
			ranges = append(ranges, split(f, 0, f.pages)...)
			continue
		}
		f.incremental = true
		bf, _ := p.base.file(f.rel)
		kept := min(f.pages, bf.SizePages) // pages the base chain holds
		if p.method == shared.MethodPageTracking || p.method == shared.MethodRedoBitmap {
			tracked = append(tracked, trackedFile{f, kept})
		} else {
			for _, r := range split(f, 0, kept) {
				r.keep = newerThanBase
				ranges = append(ranges, r)
			}
		}
		if f.pages > kept {
			ranges = append(ranges, split(f, kept, f.pages-kept)...)
		}
	}
	reads, inSet := planTrackedReads(tracked, changed, before)
	return append(ranges, reads...), inSet
}

type trackedFile struct {
	f    *tablespaceFile
	kept uint64 // pages below this come from the tracked set
}

// planTrackedReads turns the tracked pages of each file into reads: each run of adjacent
// changed pages is read on its own, cut to record size, and never joined to the next run
// across a gap. Reading through a gap costs its bytes (the reason the bytes read exceeded the
// changed bytes by 13 % at 1 % changed) and is no cheaper than a second read once reads are
// many in flight without readahead (pages.go). Every range carries before's keep.
func planTrackedReads(files []trackedFile, changed *pagemap.PageSet, before *preBase) ([]pageRange, uint64) {
	var out []pageRange
	var wanted uint64
	for _, tf := range files {
		fp := tf.f.firstPage // a later file of the system tablespace holds the space's pages from fp
		for _, r := range changed.Runs(tf.f.page0.SpaceID) {
			first, end := max(uint64(r.First), fp), min(r.End(), fp+tf.kept)
			if first >= end {
				continue
			}
			wanted += end - first
			for _, rg := range split(tf.f, first-fp, end-first) {
				if before != nil {
					rg.keep = before.keeper(rg.first, rg.count)
				}
				out = append(out, rg)
			}
		}
	}
	return out, wanted
}

// preBase finds, among the tracked pages an incremental reads, those whose FIL_PAGE_LSN is at
// or below the base's checkpoint: changed only before the base (the server lists a page when
// it flushes it, and pages changed before the base are flushed after it). Such a page is on
// disk as the base copied it: every change below the base's checkpoint was flushed before the
// base read it, and none came after, or its LSN would be higher. So the chain's copy is exact
// and skip may leave it out (shared/chain's merge rule asks an incremental for the pages a
// file gained, which are never tracked pages: kept bounds those). That holds only while page
// LSNs tell every change, i.e. where redo logging stayed on since the base (checkRedoUnderLock)
// and no restart intervened; elsewhere skip is false and the pages are only counted.
//
// A zero page is never counted: its LSN says nothing. The copier calls keep again on the good
// copy of a page it had to re-read, so each page's mark is the last decision, counted once
// the copy is done.
type preBase struct {
	baseC uint64
	skip  bool
	mu    sync.Mutex
	marks [][]bool // one per range, indexed by page within the range
}

// keeper returns the keep function of a tracked range of count pages from first.
func (b *preBase) keeper(first, count uint64) func(uint64, []byte) bool {
	marks := make([]bool, count)
	b.mu.Lock()
	b.marks = append(b.marks, marks)
	b.mu.Unlock()
	return func(pageNo uint64, page []byte) bool {
		before := !innodb.IsZeroPage(page) && innodb.PageLSN(page) <= b.baseC
		marks[pageNo-first] = before
		return !before || !b.skip
	}
}

// counts returns how many tracked pages were changed only before the base, and how many of
// those were skipped; valid once every range was copied.
func (b *preBase) counts() (pages, skipped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.marks {
		for _, before := range m {
			if before {
				pages++
			}
		}
	}
	if b.skip {
		skipped = pages
	}
	return pages, skipped
}
