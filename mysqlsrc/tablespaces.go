package mysqlsrc

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// tablespaceFile is one InnoDB data file found in the datadir.
type tablespaceFile struct {
	index    uint32
	rel      string // the stream path: relative to the datadir, or shared.ExternalPath
	abs      string
	page0    innodb.Page0
	pageSize int // physical
	pages    uint64
	// incremental: this backup sends only the file's changes over the base chain.
	incremental bool
	// system: a file of the system tablespace after the first (ibdata2, …); firstPage is the
	// space's page number of the file's page 0 (placeSystemFiles).
	system    bool
	firstPage uint64
	// key decrypts the pages of an encrypted tablespace for checking; nil when not encrypted.
	key *innodb.TablespaceKey
}

// findTablespaces finds every InnoDB file a restore needs — the system tablespace, undo
// tablespaces, mysql.ibd, general tablespaces and file-per-table files — and reads page 0 of
// each for its space id and page size. Files in the datadir are found by walking it; files
// outside it (innodb_data_home_dir, innodb_undo_directory, DATA DIRECTORY tables, general
// tablespaces with absolute paths) are those the server's dictionary lists there, each sent
// under its Location (locs). Space ids are read afresh every backup: undo truncation gives
// undo files new ids.
//
// A file created moments ago has only a provisional page 0 on disk (type ALLOCATED, FSP_SIZE 0,
// space id and flags set): the server has not flushed the real one yet, and its creation is in
// the redo the backup carries. For those, the space id and flags come from the server's
// dictionary, when the on-disk space id agrees with it.
//
// The key of an encrypted tablespace is unsealed through keys (which notes the master key's
// keyring id for the Header).
func findTablespaces(datadir string, logicalPageSize uint32, dict []dictFile, locs *locations, dataFilePath string, keys *backupKeys) ([]*tablespaceFile, error) {
	rels, err := walkDatadir(datadir)
	if err != nil {
		return nil, err
	}
	abs := map[string]string{}
	for _, rel := range rels {
		abs[rel] = filepath.Join(datadir, filepath.FromSlash(rel))
	}
	known := map[string]innodb.Page0{}
	for _, d := range dict {
		if d.temporary() {
			continue
		}
		if !locs.external(d.abs) {
			rel, _ := filepath.Rel(locs.datadir, d.abs)
			known[filepath.ToSlash(rel)] = d.page0
			continue
		}
		rel, err := locs.streamPath(d.abs)
		if err != nil {
			return nil, err
		}
		if _, dup := abs[rel]; !dup {
			rels = append(rels, rel)
		}
		abs[rel], known[rel] = d.abs, d.page0
	}
	sort.Strings(rels)
	var files []*tablespaceFile
	for i, rel := range rels {
		f, err := openTablespace(abs[rel], rel, logicalPageSize, known, keys)
		if err != nil {
			return nil, err
		}
		f.index = uint32(i)
		files = append(files, f)
	}
	if err := placeSystemFiles(files, dataFilePath); err != nil {
		return nil, err
	}
	return files, nil
}

// walkDatadir lists the InnoDB files of the datadir: top-level system, undo and general
// tablespace files and the .ibd files one directory down.
func walkDatadir(datadir string) ([]string, error) {
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
	return rels, nil
}

// placeSystemFiles gives the files of the system tablespace after the first (ibdata2, …)
// their place in it: page 0 of the first file describes the whole space (later files start
// with ordinary pages), and page numbers run on across the files in innodb_data_file_path's
// order, so a later file's first page is the sum of the sizes of the files before it.
func placeSystemFiles(files []*tablespaceFile, dataFilePath string) error {
	byName := map[string]*tablespaceFile{}
	for _, f := range files {
		if f.page0.SpaceID == 0 || f.system {
			byName[path.Base(f.rel)] = f
		}
	}
	var first *tablespaceFile
	var next uint64
	for _, name := range systemDataFiles(dataFilePath) {
		f, ok := byName[name]
		if !ok {
			return fmt.Errorf("innodb_data_file_path names the system tablespace file %s, which was not found", name)
		}
		if first == nil {
			first = f
		} else {
			f.page0, f.pageSize, f.key = first.page0, first.pageSize, first.key
		}
		f.firstPage = next
		next += f.pages
	}
	return nil
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

func openTablespace(abs, rel string, logicalPageSize uint32, known map[string]innodb.Page0, keys *backupKeys) (*tablespaceFile, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("opening tablespace %s: %w", rel, err)
	}
	defer f.Close()
	head := make([]byte, 128)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("reading page 0 of %s: %w", rel, err)
	}
	if meta, ok := known[rel]; ok && meta.SpaceID == 0 && !innodb.IsZeroPage(head) && innodb.PageNumber(head) != 0 {
		// a later file of the system tablespace: placeSystemFiles gives it page 0 of the first
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		return &tablespaceFile{rel: rel, abs: abs, system: true, pageSize: int(logicalPageSize), pages: uint64(st.Size()) / uint64(logicalPageSize)}, nil
	}
	p0, err := innodb.ParsePage0(head)
	if err != nil {
		meta, ok := known[rel]
		if !ok || (!innodb.IsZeroPage(head) && innodb.PageSpaceID(head) != meta.SpaceID) {
			return nil, fmt.Errorf("page 0 of %s: %w", rel, err)
		}
		p0 = meta
	}
	if got := p0.Flags.LogicalPageSize(); got != int(logicalPageSize) {
		return nil, fmt.Errorf("tablespace %s has page size %d but the server's innodb_page_size is %d", rel, got, logicalPageSize)
	}
	var key *innodb.TablespaceKey
	if p0.Flags.Encrypted() {
		if key, err = keys.tablespaceKey(f, rel, p0); err != nil {
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ts := &tablespaceFile{rel: rel, abs: abs, page0: p0, pageSize: p0.Flags.PhysicalPageSize(), key: key}
	ts.pages = uint64(st.Size()) / uint64(ts.pageSize)
	return ts, nil
}

// dictFile is one file of the server's list of InnoDB files.
type dictFile struct {
	raw   string // as INNODB_DATAFILES shows it
	abs   string // resolved on the server (locations.dictionaryPath)
	page0 innodb.Page0
}

func (d dictFile) temporary() bool {
	return strings.HasSuffix(d.raw, "ibtmp1") || strings.Contains(d.raw, "#innodb_temp/")
}

// dictionaryTablespaces reads the server's list of InnoDB files with their space ids and
// flags, each path resolved as the server resolves it.
func dictionaryTablespaces(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, locs *locations, dirs serverDirs) ([]dictFile, error) {
	// INNODB_TABLESPACES has no row for the system tablespace (space 0): its flags come from
	// its page 0.
	// A discarded tablespace (ALTER TABLE … DISCARD TABLESPACE) keeps its row with no file on
	// purpose: the restored server's dictionary says it is discarded too, and a later IMPORT
	// brings a file the next backup finds.
	rows, err := q.QueryContext(ctx, `SELECT d.PATH, d.SPACE, COALESCE(t.FLAG, 0), COALESCE(t.SPACE_TYPE, '') FROM information_schema.INNODB_DATAFILES d
		LEFT JOIN information_schema.INNODB_TABLESPACES t ON t.SPACE = d.SPACE
		WHERE t.STATE IS NULL OR t.STATE <> 'discarded'`)
	if err != nil {
		return nil, fmt.Errorf("reading INNODB_TABLESPACES: %w", err)
	}
	defer rows.Close()
	var out []dictFile
	for rows.Next() {
		var p, spaceType string
		var space, flags uint32
		if err := rows.Scan(&p, &space, &flags, &spaceType); err != nil {
			return nil, err
		}
		out = append(out, dictFile{raw: p, abs: locs.dictionaryPath(p, space, spaceType, dirs),
			page0: innodb.Page0{SpaceID: space, Flags: innodb.FSPFlags(flags)}})
	}
	return out, rows.Err()
}

// crossCheckDatafiles compares what discovery found with the server's own list of files (read
// under the same lock): a datafile it missed would make a restore lose a table, so it is an
// error rather than a silent gap.
func crossCheckDatafiles(dict []dictFile, locs *locations, files []*tablespaceFile) error {
	found := map[string]bool{}
	for _, f := range files {
		found[f.rel] = true
	}
	for _, d := range dict {
		if d.temporary() {
			continue
		}
		var rel string
		if !locs.external(d.abs) {
			r, _ := filepath.Rel(locs.datadir, d.abs)
			rel = filepath.ToSlash(r)
		} else if rel, _ = locs.streamPath(d.abs); rel == "" {
			return fmt.Errorf("tablespace file %s lies outside every directory the backup takes files from", d.abs)
		}
		if !found[rel] {
			return fmt.Errorf("the server lists tablespace file %s, but it was not found where the server keeps it (a file in a subdirectory of the datadir below the schema directories cannot be backed up yet)", d.raw)
		}
	}
	return nil
}
