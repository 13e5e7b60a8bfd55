package mysqlsrc

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pagetrack/pagetrack/shared"
)

// serverDirs are the directories, besides the datadir, the server keeps its files in, as it
// reports them (innodb_data_home_dir, innodb_undo_directory, innodb_directories, the
// directory of log_bin) and its innodb_data_file_path.
type serverDirs struct {
	dataHome     string
	undo         string
	directories  string // ';'-separated
	dataFilePath string
}

// locations are the directories outside the datadir a backup takes files from: the Header's
// Locations, with the server's datadir for resolving the server's relative paths.
type locations struct {
	datadir string // the server's, clean
	list    []shared.Location
}

// planLocations turns the server's directories into Locations: each directory outside the
// datadir, in a fixed order (data home, undo directory, innodb_directories entries, binlog
// directory) so that the same configuration gives the same ids at every backup. An
// innodb_directories entry naming a directory already listed is left out; the data home and
// the undo directory keep one Location each even when they are the same directory.
//
// A server running on a restored datadir keeps such files below the datadir's
// #pagetrack-external directory, which the datadir walk does not enter: its directories are
// Locations too (the configured ones here, the others in addRestoredDirs).
func planLocations(info *serverInfo) (*locations, error) {
	l := &locations{datadir: filepath.Clean(info.datadir)}
	add := func(role, dir string) error {
		if dir == "" {
			return nil
		}
		abs := l.serverPath(dir)
		if !l.external(abs) || abs == filepath.Join(l.datadir, shared.ExternalDir) {
			return nil
		}
		if !filepath.IsAbs(abs) {
			return fmt.Errorf("the server's %s %q is not an absolute path", role, dir)
		}
		for _, have := range l.list {
			if have.OriginalPath == abs && (role == shared.RoleInnoDBDirectory || have.Role == role) {
				return nil
			}
		}
		l.add(role, abs)
		return nil
	}
	d := info.dirs
	if err := add(shared.RoleDataHomeDir, d.dataHome); err != nil {
		return nil, err
	}
	if err := add(shared.RoleUndoDir, d.undo); err != nil {
		return nil, err
	}
	for _, dir := range strings.Split(d.directories, ";") {
		if err := add(shared.RoleInnoDBDirectory, strings.TrimSpace(dir)); err != nil {
			return nil, err
		}
	}
	if info.binlogBasename != "" {
		if err := add(shared.RoleBinlogDir, filepath.Dir(info.binlogBasename)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *locations) add(role, abs string) {
	l.list = append(l.list, shared.Location{ID: uint32(len(l.list) + 1), Role: role, OriginalPath: abs})
}

// addRestoredDirs makes a Location of each directory #pagetrack-external/<n> of the datadir
// that holds a file of dict and is not one already.
func (l *locations) addRestoredDirs(dict []dictFile) {
	for _, d := range dict {
		rel, err := filepath.Rel(l.datadir, d.abs)
		if err != nil || d.temporary() {
			continue
		}
		id, _, ok := shared.SplitExternalPath(filepath.ToSlash(rel))
		if !ok || id == 0 {
			continue
		}
		if _, err := l.streamPath(d.abs); err == nil {
			continue // in a Location already
		}
		l.add(shared.RoleInnoDBDirectory, filepath.Join(l.datadir, shared.ExternalDir, strconv.FormatUint(uint64(id), 10)))
	}
}

// external says whether the server file abs is backed up under a Location: it lies outside the
// datadir, or below the datadir's #pagetrack-external directory (a restored datadir's).
func (l *locations) external(abs string) bool {
	if !l.insideDatadir(abs) {
		return true
	}
	rel, _ := filepath.Rel(l.datadir, abs)
	return rel == shared.ExternalDir || strings.HasPrefix(rel, shared.ExternalDir+"/")
}

// serverPath makes a path the server reports absolute: relative ones are relative to its
// datadir (the server's working directory).
func (l *locations) serverPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.datadir, p)
}

func (l *locations) insideDatadir(abs string) bool {
	rel, err := filepath.Rel(l.datadir, abs)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// streamPath returns the stream path of the InnoDB file abs (a server path outside the
// datadir): relative to the innermost Location holding it. The binlog directory holds no
// InnoDB file.
func (l *locations) streamPath(abs string) (string, error) {
	best, bestRel := shared.Location{}, ""
	for _, loc := range l.list {
		if loc.Role == shared.RoleBinlogDir {
			continue
		}
		rel, err := filepath.Rel(loc.OriginalPath, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if best.ID == 0 || len(loc.OriginalPath) > len(best.OriginalPath) {
			best, bestRel = loc, rel
		}
	}
	if best.ID == 0 {
		return "", fmt.Errorf("tablespace file %s lies outside the datadir and outside every directory innodb_data_home_dir, innodb_undo_directory and innodb_directories name, so a restored server could not find it; add its directory to innodb_directories (a restart) to back it up", abs)
	}
	p := shared.ExternalPath(best.ID, filepath.ToSlash(bestRel))
	if err := shared.CheckStreamPath(p); err != nil {
		return "", fmt.Errorf("tablespace file %s: %v", abs, err)
	}
	return p, nil
}

// dictionaryPath resolves a path of INNODB_DATAFILES as the server does (measured on 9.7.4): an
// absolute path as it is, "./x" in the datadir, a bare name of the system tablespace in
// innodb_data_home_dir and of an undo tablespace in innodb_undo_directory, other bare names in
// the datadir.
func (l *locations) dictionaryPath(path string, space uint32, spaceType string, dirs serverDirs) string {
	switch {
	case filepath.IsAbs(path), strings.HasPrefix(path, "./"):
	case space == 0 && dirs.dataHome != "":
		return filepath.Join(l.serverPath(dirs.dataHome), path)
	case strings.EqualFold(spaceType, "Undo") && dirs.undo != "":
		return filepath.Join(l.serverPath(dirs.undo), path)
	}
	return l.serverPath(path)
}

// checkDataFilePath refuses system tablespace files named with a directory or raw partitions
// in innodb_data_file_path: a restore places them in innodb_data_home_dir by name.
func checkDataFilePath(spec string) error {
	for _, f := range systemDataFiles(spec) {
		if strings.ContainsAny(f, `/\`) || f == "" {
			return shared.Precondition(fmt.Sprintf("innodb_data_file_path %q names the system tablespace file %q with a directory, which pagetrack cannot back up yet; name the files relative to innodb_data_home_dir", spec, f))
		}
	}
	for _, entry := range strings.Split(spec, ";") {
		for _, field := range strings.Split(entry, ":")[1:] {
			if strings.HasSuffix(strings.ToLower(field), "raw") {
				return shared.Precondition(fmt.Sprintf("innodb_data_file_path %q uses a raw partition, which pagetrack cannot back up", spec))
			}
		}
	}
	return nil
}

// systemDataFiles lists the file names of innodb_data_file_path in their order.
func systemDataFiles(spec string) []string {
	var out []string
	for _, entry := range strings.Split(spec, ";") {
		if entry = strings.TrimSpace(entry); entry != "" {
			name, _, _ := strings.Cut(entry, ":")
			out = append(out, name)
		}
	}
	return out
}
