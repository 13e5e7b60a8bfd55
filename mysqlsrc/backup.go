package mysqlsrc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
	"github.com/pagetrack/pagetrack/shared"
)

const timeoutUnlock = 30 * time.Second

// recordStream hands records from the backup goroutine to the caller.
type recordStream struct {
	ch     chan *shared.Record
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

func (s *recordStream) Recv() (*shared.Record, error) {
	if r, ok := <-s.ch; ok {
		return r, nil
	}
	<-s.done
	if s.err != nil {
		return nil, s.err
	}
	return nil, io.EOF
}

// backup is one run of the full-backup procedure.
type backup struct {
	src  *Source
	o    *options
	db   *sql.DB
	info *serverInfo
	out  chan<- *shared.Record
	// sendMu makes digesting and enqueueing one step: page workers send concurrently, and the
	// digest must follow the order records enter the stream.
	sendMu sync.Mutex
	digest *shared.Digester
	sent   uint64 // payload bytes sent
}

func (b *backup) send(ctx context.Context, r *shared.Record) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	b.digest.Add(r)
	b.sent += payloadLen(r)
	select {
	case b.out <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run takes the backup. Every error path releases the lock and the spool; the stream then ends
// without a trailer, which a host must treat as a failed backup.
func (b *backup) run(ctx context.Context, req *shared.BackupRequest) (err error) {
	log := b.src.log
	started := time.Now().UTC()

	plan, err := b.prepareTracking(ctx, req)
	if err != nil {
		return err
	}
	lock, err := lockInstance(ctx, b.db, b.o.lockWaitTimeout)
	if err != nil {
		return err
	}
	locked := true
	defer func() {
		if locked {
			if uerr := lock.release(); uerr != nil {
				log.Warn("UNLOCK INSTANCE failed", "error", uerr)
			}
		}
	}()
	if err := b.checkRedoUnderLock(ctx, plan, lock); err != nil {
		return err
	}
	start, err := lock.logStatus(ctx)
	if err != nil {
		return err
	}
	c := start.Checkpoint
	log.Info("backup lock held", "checkpoint_lsn", exact(c), "lsn", exact(start.LSN), "method", plan.method)

	// Read under the lock: a key rotation before it may have added keys.
	keys, err := b.loadKeys()
	if err != nil {
		return err
	}
	follower, err := startRedoFollower(ctx, log, b.o.datadir, b.o.spoolDir, c, b.info.redoCapacity, keys)
	if err != nil {
		return err
	}
	defer follower.close()

	locs, err := planLocations(b.info)
	if err != nil {
		return err
	}
	dictFiles, err := dictionaryTablespaces(ctx, lock.conn, locs, b.info.dirs)
	if err != nil {
		return err
	}
	locs.addRestoredDirs(dictFiles)
	files, err := findTablespaces(b.o.datadir, b.info.pageSize, dictFiles, locs, b.info.dirs.dataFilePath, keys)
	if err != nil {
		return err
	}
	if err := crossCheckDatafiles(dictFiles, locs, files); err != nil {
		return err
	}
	dict, err := readDictionary(ctx, lock)
	if err != nil {
		return err
	}
	binlogEncrypted, err := b.noteBinlogKey(keys, start)
	if err != nil {
		return err
	}

	// The Header goes out once every key the restore needs is known: those of the page 0s
	// found above, the redo's and the binlog's. A page 0 or binlog copied later that names
	// another key (a rotation during the backup) fails the backup.
	header := &shared.Header{
		StreamFormat: shared.StreamFormat, ServerVersion: b.info.version, ServerUUID: b.info.uuid,
		PageSize: b.info.pageSize, CheckpointLSN: c, StartedAt: started,
		GTIDMode: b.info.gtidMode, LowerCaseTableNames: b.info.lowerCaseTableNames,
		Locations: locs.list, DataFilePath: b.info.dirs.dataFilePath,
		MasterKeys: keys.freeze(), RedoEncryption: follower.encryption,
	}
	if b.info.binlogBasename != "" {
		header.BinlogBasename = filepath.Base(b.info.binlogBasename)
	}
	if binlogEncrypted {
		header.BinlogHeaderBytes = shared.EncryptedBinlogHeaderBytes
	}
	if err := b.send(ctx, &shared.Record{Header: header}); err != nil {
		return err
	}

	if err := b.useBitmaps(ctx, plan, c); err != nil {
		return err
	}
	var ranges []pageRange
	var inSet uint64
	before := plan.preBase() // nil unless the pages come from a tracked set
	if plan.base == nil || plan.method == shared.MethodFull {
		if plan.base != nil {
			log.Warn("incremental copies every page: nothing on disk shows what changed since the base", "reason", plan.reason)
		}
		for _, f := range files {
			ranges = append(ranges, split(f, 0, f.pages)...)
		}
	} else {
		changed := plan.bitmapPages
		if plan.method == shared.MethodPageTracking {
			if changed, err = b.changedSet(ctx, plan, lock, c, files); err != nil {
				return err
			}
		}
		if plan.method == shared.MethodLSNScan {
			log.Info("incremental falls back to a page-LSN scan: every page is read, those newer than the base are kept", "reason", plan.reason)
		}
		ranges, inSet = b.planIncremental(files, plan, changed, dict, before)
	}
	var totalPages, totalBytes uint64
	for _, f := range files {
		if err := b.send(ctx, &shared.Record{Tablespace: tablespaceRecord(f)}); err != nil {
			return err
		}
	}
	for _, r := range ranges {
		totalPages += r.count
		totalBytes += r.count * uint64(r.file.pageSize)
	}
	log.Info("reading tablespaces", "files", len(files), "pages", totalPages, "bytes", exact(totalBytes))

	copier := &pageCopier{emit: b.send, keys: keys, totalPages: totalPages, totalBytes: totalBytes}
	if err := copier.copyRanges(ctx, ranges, b.o.parallelism); err != nil {
		return err
	}

	// Files grow while they are copied (the server extends them under load); copy the new
	// tails before E is read, so that no copied page is newer than E.
	grown, err := b.copyGrownTails(ctx, copier, files)
	if err != nil {
		return err
	}
	end, err := lock.logStatus(ctx)
	if err != nil {
		return err
	}
	e := end.LSN
	if max := copier.maxPageLSN.Load(); max > e {
		return fmt.Errorf("a copied page has LSN %d beyond the end point %d; the backup cannot be made consistent", max, e)
	}
	if err := follower.waitFor(ctx, e); err != nil {
		return fmt.Errorf("capturing redo up to the end point %d: %w", e, err)
	}
	follower.stop()
	extras, err := listExtraFiles(b.o.datadir)
	if err != nil {
		return err
	}
	filesSent, err := b.sendExtraFiles(ctx, extras)
	if err != nil {
		return err
	}
	locked = false
	if err := lock.release(); err != nil {
		return fmt.Errorf("UNLOCK INSTANCE: %w", err)
	}
	log.Info("backup lock released", "end_lsn", exact(e), "binlog_file", end.BinlogFile, "binlog_pos", exact(end.BinlogPos), "grown_files", grown)

	redoBytes, err := follower.emit(ctx, e, b.send)
	if err != nil {
		return err
	}
	binlog, err := b.sendBinlog(ctx, plan.base, end, keys, binlogEncrypted)
	if err != nil {
		return err
	}
	state, err := b.state(plan, c, e, end, binlog, files, dict)
	if err != nil {
		return err
	}
	trailer := &shared.Trailer{
		EndLSN: e, CheckpointLSN: c, MaxPageLSN: copier.maxPageLSN.Load(),
		BinlogFile: end.BinlogFile, BinlogPos: end.BinlogPos, GTIDExecuted: end.GTIDExecuted,
		Tablespaces: uint64(len(files)), Pages: copier.pages.Load(), PageBytes: copier.bytes.Load(),
		RedoBytes: redoBytes, BinlogBytes: binlog.sent, BinlogFrom: binlog.from, BinlogWritten: binlog.written, Files: filesSent,
		Kind: shared.KindFull, Method: plan.method, FallbackReason: plan.reason,
		PagesInSet: inSet, PagesRead: copier.readPages.Load(),
		BytesRead: copier.readBytes.Load() + uint64(len(files))*page0ReadBytes, BytesSent: b.sent,
		SourceState: state, Records: b.digest.Records(), Digest: b.digest.Sum(), FinishedAt: time.Now().UTC(),
	}
	if plan.base != nil {
		trailer.Kind, trailer.BaseCheckpointLSN = shared.KindIncremental, plan.base.CheckpointLSN
	}
	trailer.CheckpointWaitMicros = uint64(plan.checkpointWait.Microseconds())
	if before != nil {
		trailer.PagesBeforeBase, trailer.PagesBeforeBaseSkipped = before.counts()
	}
	if b.info.binlogBasename == "" {
		trailer.BinlogFile, trailer.BinlogPos, trailer.BinlogFrom, trailer.BinlogWritten = "", 0, 0, 0
	}
	log.Info("backup complete", "kind", trailer.Kind, "method", trailer.Method, "checkpoint_lsn", exact(c), "end_lsn", exact(e),
		"pages_sent", trailer.Pages, "pages_read", trailer.PagesRead, "bytes_read", exact(trailer.BytesRead), "redo_bytes", exact(redoBytes),
		"rereads", copier.rereads.Load(), "seconds", time.Since(started).Seconds())
	select {
	case b.out <- &shared.Record{Trailer: trailer}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// page0ReadBytes is what discovery reads of each file's page 0.
const page0ReadBytes = 128

// state records what the next incremental needs to know about this backup.
func (b *backup) state(p *trackingPlan, c, e uint64, end coordinates, binlog binlogCopy, files []*tablespaceFile, dict *dictionary) ([]byte, error) {
	s := &sourceState{
		Version: stateVersion, ServerUUID: b.info.uuid, ServerStarted: p.server.started,
		ConnectionID: p.server.connectionID, BinlogFile: end.BinlogFile, BinlogPos: end.BinlogPos, BinlogSHA256: binlog.sha256,
		CheckpointLSN: c, EndLSN: e, RedoLoggingOnAt: p.redoOnAt, TrackingReset: p.reset, TrackingGroup: p.group,
		Indexes: dict.indexes, Encrypted: dict.encrypted,
	}
	for _, f := range files {
		s.Files = append(s.Files, stateFile{Path: f.rel, SpaceID: f.page0.SpaceID, PageSize: uint32(f.pageSize), SizePages: f.pages})
	}
	return s.encode()
}

func payloadLen(r *shared.Record) uint64 {
	switch {
	case r.Pages != nil:
		return uint64(len(r.Pages.Data))
	case r.Redo != nil:
		return uint64(len(r.Redo.Data))
	case r.Binlog != nil:
		return uint64(len(r.Binlog.Data))
	case r.File != nil:
		return uint64(len(r.File.Data))
	}
	return 0
}

func tablespaceRecord(f *tablespaceFile) *shared.Tablespace {
	return &shared.Tablespace{
		FileIndex: f.index, Path: f.rel, SpaceID: f.page0.SpaceID, Flags: uint32(f.page0.Flags),
		PageSize: uint32(f.pageSize), ZipSize: uint32(f.page0.Flags.ZipSize()), SizePages: f.pages,
		Incremental: f.incremental,
	}
}

// copyGrownTails re-stats every file and copies pages added since the copy began.
func (b *backup) copyGrownTails(ctx context.Context, copier *pageCopier, files []*tablespaceFile) (int, error) {
	var ranges []pageRange
	var grownFiles []*tablespaceFile
	for _, f := range files {
		st, err := os.Stat(f.abs)
		if err != nil {
			return 0, fmt.Errorf("re-reading the size of %s: %w", f.rel, err)
		}
		now := uint64(st.Size()) / uint64(f.pageSize)
		if now > f.pages {
			b.src.log.Debug("file grew during the copy", "file", f.rel, "from_pages", f.pages, "to_pages", now)
			ranges = append(ranges, split(f, f.pages, now-f.pages)...)
			f.pages = now
			grownFiles = append(grownFiles, f)
		}
	}
	for _, f := range grownFiles {
		if err := b.send(ctx, &shared.Record{Tablespace: tablespaceRecord(f)}); err != nil {
			return 0, err
		}
	}
	if len(ranges) == 0 {
		return 0, nil
	}
	return len(grownFiles), copier.copyRanges(ctx, ranges, b.o.parallelism)
}

// extraSuffixes are the non-InnoDB files a server needs in its schema directories: the CSV
// log tables (mysql/general_log, slow_log) and the serialized dictionary of non-InnoDB tables.
var extraSuffixes = []string{".CSV", ".CSM", ".sdi", ".MYD", ".MYI"}

func listExtraFiles(datadir string) ([]string, error) {
	entries, err := os.ReadDir(datadir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "#") || e.Name() == "performance_schema" {
			continue
		}
		sub, err := os.ReadDir(filepath.Join(datadir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, s := range sub {
			if !s.Type().IsRegular() {
				continue
			}
			for _, suf := range extraSuffixes {
				if strings.HasSuffix(s.Name(), suf) {
					out = append(out, e.Name()+"/"+s.Name())
					break
				}
			}
		}
	}
	return out, nil
}

// sendExtraFiles sends the files of rels that still exist and returns how many it sent: the
// Trailer's Files count, which a stream checker compares with the paths that arrived.
func (b *backup) sendExtraFiles(ctx context.Context, rels []string) (uint64, error) {
	var sent uint64
	for _, rel := range rels {
		_, err := b.sendFile(ctx, filepath.Join(b.o.datadir, filepath.FromSlash(rel)), -1, func(off uint64, data []byte) *shared.Record {
			return &shared.Record{File: &shared.FileChunk{Path: rel, Offset: off, Data: data}}
		})
		if errors.Is(err, os.ErrNotExist) {
			continue // dropped since the listing
		}
		if err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

func (b *backup) binlogPath(file string) string {
	return hostPath(filepath.Join(filepath.Dir(b.info.binlogBasename), file), b.info.datadir, b.o.datadir)
}

// loadKeys reads the keyring_file, if the source names one.
func (b *backup) loadKeys() (*backupKeys, error) {
	if b.o.keyringFile == "" {
		return newBackupKeys(nil), nil
	}
	ring, err := keyring.Load(b.o.keyringFile)
	if err != nil {
		return nil, shared.Precondition(fmt.Sprintf("attribute %q: %v", keyringAttr, err))
	}
	return newBackupKeys(ring), nil
}

// noteBinlogKey adds the key of the current binary log, if it is encrypted, to keys: the
// restored server needs it to read the binlog it recovers from.
// It says whether that binlog is encrypted.
func (b *backup) noteBinlogKey(keys *backupKeys, start coordinates) (bool, error) {
	if b.info.binlogBasename == "" || start.BinlogFile == "" {
		return false, nil
	}
	id, err := readBinlogKeyID(b.binlogPath(start.BinlogFile))
	if err != nil || id == "" {
		return false, err
	}
	if keys.ring == nil {
		return false, shared.Precondition(fmt.Sprintf("binary log %s is encrypted with key %s; set the source attribute %q to the server's component_keyring_file data file to back it up", start.BinlogFile, id, keyringAttr))
	}
	if _, ok := keys.ring.Key(id); !ok {
		return false, shared.Precondition(fmt.Sprintf("binary log %s is encrypted with key %s, which the keyring %s does not hold: point %q at the data file the server uses", start.BinlogFile, id, b.o.keyringFile, keyringAttr))
	}
	return true, keys.note(id, "binary log "+start.BinlogFile)
}

// hostPath turns a path as the server sees it into the path this host reads: the server's
// datadir may be mounted elsewhere here (the datadir check compares server uuids, not paths).
func hostPath(serverPath, serverDatadir, hostDatadir string) string {
	if !filepath.IsAbs(serverPath) {
		return filepath.Join(hostDatadir, serverPath)
	}
	if rel, err := filepath.Rel(serverDatadir, serverPath); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join(hostDatadir, rel)
	}
	return serverPath
}

// sendFile streams a file (its first limit bytes when limit ≥ 0) as records made by mk. An
// empty file still yields one record.
func (b *backup) sendFile(ctx context.Context, path string, limit int64, mk func(uint64, []byte) *shared.Record) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var src io.Reader = f
	if limit >= 0 {
		src = io.LimitReader(f, limit)
	}
	var off uint64
	for {
		buf := make([]byte, shared.MaxPayloadBytes)
		n, err := io.ReadFull(src, buf)
		if n > 0 || off == 0 {
			if serr := b.send(ctx, mk(off, buf[:n])); serr != nil {
				return off, serr
			}
			off += uint64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return off, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if limit >= 0 && off != uint64(limit) {
		return off, fmt.Errorf("%s is shorter (%d bytes) than the position %d the server reported", path, off, limit)
	}
	return off, nil
}
