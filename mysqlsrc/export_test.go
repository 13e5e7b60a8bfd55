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
	known, err := dictionaryTablespaces(ctx, db)
	if err != nil {
		return err
	}
	files, err := findTablespaces(datadir, pageSize, known)
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
			fn(ts.page0.SpaceID, uint32(p), innodb.PageLSN(buf))
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

// TrackOnce opens the tracker's directory, polls the redo once and closes it again.
func TrackOnce(t *Tracker) error {
	closeFn, err := t.open()
	if err != nil {
		return err
	}
	defer closeFn()
	return t.poll()
}

// ForEachLivePageData is ForEachLivePage with each valid page's bytes (valid until fn returns).
func ForEachLivePageData(ctx context.Context, db *sql.DB, datadir string, pageSize uint32, fn func(space, page uint32, data []byte)) error {
	known, err := dictionaryTablespaces(ctx, db)
	if err != nil {
		return err
	}
	files, err := findTablespaces(datadir, pageSize, known)
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
				continue
			}
			fn(ts.page0.SpaceID, uint32(p), buf)
		}
		f.Close()
	}
	return nil
}
