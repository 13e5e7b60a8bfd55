package mysqlsrc

import (
	"context"
	"database/sql"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
)

// Hooks for the external test package, which can import internal/testmysql (that package
// imports this one, so the tests that need a server live outside it).

// ChangedPages runs the tracked-page query the incremental uses.
func ChangedPages(ctx context.Context, db *sql.DB, datadir string, from, to uint64) (*pagemap.PageSet, error) {
	set, _, err := changedPages(ctx, hclog.NewNullLogger(), db, datadir, from, to)
	return set, err
}

// ForEachLivePage reads every valid page of every InnoDB file of a live server.
func ForEachLivePage(ctx context.Context, db *sql.DB, datadir string, pageSize uint32, fn func(space, page uint32, lsn uint64)) error {
	return ForEachLivePageData(ctx, db, datadir, pageSize, func(space, page uint32, data []byte) {
		fn(space, page, innodb.PageLSN(data))
	})
}

// ForEachLivePageData is ForEachLivePage with each valid page's bytes (valid until fn returns).
func ForEachLivePageData(ctx context.Context, db *sql.DB, datadir string, pageSize uint32, fn func(space, page uint32, data []byte)) error {
	info := &serverInfo{}
	if err := db.QueryRowContext(ctx, "SELECT @@datadir, COALESCE(@@innodb_data_home_dir, ''), COALESCE(@@innodb_undo_directory, ''), COALESCE(@@innodb_directories, ''), @@innodb_data_file_path").Scan(
		&info.datadir, &info.dirs.dataHome, &info.dirs.undo, &info.dirs.directories, &info.dirs.dataFilePath); err != nil {
		return err
	}
	locs, err := planLocations(info)
	if err != nil {
		return err
	}
	known, err := dictionaryTablespaces(ctx, db, locs, info.dirs)
	if err != nil {
		return err
	}
	locs.addRestoredDirs(known)
	files, err := findTablespaces(datadir, pageSize, known, locs, info.dirs.dataFilePath, nil)
	if err != nil {
		return err
	}
	for _, ts := range files {
		f, err := os.Open(ts.abs)
		if err != nil {
			return err
		}
		buf := make([]byte, ts.pageSize)
		zip := ts.page0.Flags.ZipSize() != 0
		for p := uint64(0); ; p++ {
			if _, err := f.ReadAt(buf, int64(p)*int64(ts.pageSize)); err != nil {
				break
			}
			if innodb.IsZeroPage(buf) || innodb.ValidatePage(buf, zip) != nil {
				continue // unused, or caught mid-write
			}
			fn(ts.page0.SpaceID, uint32(ts.firstPage+p), buf)
		}
		f.Close()
	}
	return nil
}

// BinlogCreated reads the "created" field of a binlog file's Format_description event.
var BinlogCreated = binlogCreated

// OnIdxWritten makes fn see each .idx file the server writes before the backup reads it, until
// the returned function is called.
func OnIdxWritten(fn func(path string)) (undo func()) {
	idxWritten = fn
	return func() { idxWritten = nil }
}

// SetArchiveEventHook makes the archiver call f with every event it accepts (type, and whether
// the event belongs to a transaction), so that a test can stop it at a chosen event.
func SetArchiveEventHook(a *Archiver, f func(eventType byte, inTransaction bool)) { a.afterEvent = f }

// TrackOnce opens the tracker's directory, polls the redo once and closes it again.
func TrackOnce(t *Tracker) error {
	closeFn, err := t.open()
	if err != nil {
		return err
	}
	defer closeFn()
	return t.poll()
}
