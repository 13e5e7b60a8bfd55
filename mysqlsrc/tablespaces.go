package mysqlsrc

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// tablespaceFile is one InnoDB data file found in the datadir.
type tablespaceFile struct {
	index    uint32
	rel      string // slash-separated, relative to the datadir
	abs      string
	page0    innodb.Page0
	pageSize int // physical
	pages    uint64
	// incremental: this backup sends only the file's changes over the base chain.
	incremental bool
}

// findTablespaces walks the datadir for every InnoDB file a restore needs — the system
// tablespace, undo tablespaces, mysql.ibd, general tablespaces and file-per-table files — and
// reads page 0 of each for its space id and page size. Space ids are read afresh every backup:
// undo truncation gives undo files new ids.
//
// A file created moments ago has only a provisional page 0 on disk (type ALLOCATED, FSP_SIZE 0,
// space id and flags set): the server has not flushed the real one yet, and its creation is in
// the redo the backup carries. For those, the space id and flags come from the server's
// dictionary, known, when the on-disk space id agrees with it.
func findTablespaces(datadir string, logicalPageSize uint32, known map[string]innodb.Page0) ([]*tablespaceFile, error) {
	var rels []string
	top, err := os.ReadDir(datadir)
	if err != nil {
		return nil, fmt.Errorf("reading datadir: %w", err)
	}
	for _, e := range top {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "#"), name == "performance_schema":
		case e.IsDir():
			sub, err := os.ReadDir(filepath.Join(datadir, name))
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			for _, s := range sub {
				if s.Type().IsRegular() && strings.HasSuffix(s.Name(), ".ibd") {
					rels = append(rels, name+"/"+s.Name())
				}
			}
		case !e.Type().IsRegular():
		case isInnoDBTopLevel(name):
			rels = append(rels, name)
		}
	}
	sort.Strings(rels)
	var files []*tablespaceFile
	for i, rel := range rels {
		f, err := openTablespace(datadir, rel, logicalPageSize, known)
		if err != nil {
			return nil, err
		}
		f.index = uint32(i)
		files = append(files, f)
	}
	return files, nil
}

func isInnoDBTopLevel(name string) bool {
	switch {
	case name == "ibtmp1":
		return false
	case strings.HasPrefix(name, "ibdata"), strings.HasPrefix(name, "undo_"),
		strings.HasSuffix(name, ".ibd"), strings.HasSuffix(name, ".ibu"):
		return true
	}
	return false
}

func openTablespace(datadir, rel string, logicalPageSize uint32, known map[string]innodb.Page0) (*tablespaceFile, error) {
	abs := filepath.Join(datadir, filepath.FromSlash(rel))
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("opening tablespace %s: %w", rel, err)
	}
	defer f.Close()
	head := make([]byte, 128)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("reading page 0 of %s: %w", rel, err)
	}
	p0, err := innodb.ParsePage0(head)
	if err != nil {
		meta, ok := known[rel]
		if !ok || (!innodb.IsZeroPage(head) && innodb.PageSpaceID(head) != meta.SpaceID) {
			return nil, fmt.Errorf("page 0 of %s: %w", rel, err)
		}
		p0 = meta
	}
	if p0.Flags.Encrypted() { // the probe refuses these before the lock; this catches a late ALTER
		return nil, fmt.Errorf("tablespace %s (space %d) is encrypted, which pagetrack cannot back up yet; decrypt it (ENCRYPTION='N') to back it up", rel, p0.SpaceID)
	}
	if got := p0.Flags.LogicalPageSize(); got != int(logicalPageSize) {
		return nil, fmt.Errorf("tablespace %s has page size %d but the server's innodb_page_size is %d", rel, got, logicalPageSize)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ts := &tablespaceFile{rel: rel, abs: abs, page0: p0, pageSize: p0.Flags.PhysicalPageSize()}
	ts.pages = uint64(st.Size()) / uint64(ts.pageSize)
	return ts, nil
}

// dictionaryTablespaces reads the server's list of InnoDB files with their space ids and
// flags, keyed by path relative to the datadir.
func dictionaryTablespaces(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]innodb.Page0, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.PATH, t.SPACE, t.FLAG FROM information_schema.INNODB_DATAFILES d
		JOIN information_schema.INNODB_TABLESPACES t ON t.SPACE = d.SPACE`)
	if err != nil {
		return nil, fmt.Errorf("reading INNODB_TABLESPACES: %w", err)
	}
	defer rows.Close()
	out := map[string]innodb.Page0{}
	for rows.Next() {
		var path string
		var space, flags uint32
		if err := rows.Scan(&path, &space, &flags); err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(filepath.ToSlash(path), "./")] = innodb.Page0{SpaceID: space, Flags: innodb.FSPFlags(flags)}
	}
	return out, rows.Err()
}

// crossCheckDatafiles compares what the walk found with the server's own list: a datafile the
// walk missed (DATA DIRECTORY tables, innodb_directories) would make a restore lose a table, so
// it is an error rather than a silent gap. A discarded tablespace (ALTER TABLE … DISCARD
// TABLESPACE) is listed with no file on purpose: the restored server's dictionary says it is
// discarded too, and a later IMPORT brings a file the next backup finds.
func crossCheckDatafiles(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, files []*tablespaceFile) error {
	found := map[string]bool{}
	for _, f := range files {
		found[f.rel] = true
	}
	rows, err := q.QueryContext(ctx, `SELECT d.PATH FROM information_schema.INNODB_DATAFILES d
		LEFT JOIN information_schema.INNODB_TABLESPACES t ON t.SPACE = d.SPACE
		WHERE t.STATE IS NULL OR t.STATE <> 'discarded'`)
	if err != nil {
		return fmt.Errorf("listing INNODB_DATAFILES: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var path string
		if err := rows.Scan(&path); err != nil {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(path), "./")
		if strings.HasSuffix(rel, "ibtmp1") || strings.HasPrefix(rel, "#innodb_temp/") {
			continue
		}
		if filepath.IsAbs(rel) || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("tablespace file %s lies outside the datadir (DATA DIRECTORY or innodb_directories), which pagetrack does not back up yet; move the table into the datadir (ALTER TABLE … ENGINE=InnoDB without DATA DIRECTORY) to back it up", path)
		}
		if !found[rel] {
			return fmt.Errorf("the server lists tablespace file %s, but it was not found in the datadir walk", path)
		}
	}
	return rows.Err()
}
