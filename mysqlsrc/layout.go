package mysqlsrc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// OptionFileName is the option file a restore writes into the target: the options a server
// needs to start on the restored datadir, which restore --verify starts it with.
const OptionFileName = "pagetrack-restore.cnf"

// restoreLayout says where a restore writes each file of a stream: files of the datadir into
// the target, files of a Location (shared.ExternalPath) into the target under the same path —
// except general tablespace files, which MySQL refuses to open from a subdirectory of the
// datadir (MY-012213, measured on 9.7.4) and which go into the target itself — or, for a
// relocated Location, into its new directory. Locations with the same original path share one
// directory, as they did on the server.
type restoreLayout struct {
	root      string
	dirs      map[uint32]string // Location id → directory its files go to
	relocated map[uint32]bool
	prepared  []string // relocation directories this restore writes into (cleared on failure)
	created   []string // those of them it created (removed on failure)
}

func newRestoreLayout(root string, h *shared.Header, relocs []shared.Relocation) (*restoreLayout, error) {
	l := &restoreLayout{root: root, dirs: map[uint32]string{}, relocated: map[uint32]bool{}}
	to := map[string]string{}
	for _, r := range relocs {
		if _, dup := to[r.From]; dup {
			return nil, shared.InvalidConfig(fmt.Sprintf("the relocation of %s is given twice", r.From))
		}
		if !filepath.IsAbs(r.To) || filepath.Clean(r.To) != r.To {
			return nil, shared.InvalidConfig(fmt.Sprintf("the relocation %s=%s: the new directory must be an absolute, clean path", r.From, r.To))
		}
		to[r.From] = r.To
	}
	first := map[string]uint32{} // original path → the lowest id naming it
	for _, loc := range h.Locations {
		if id, ok := first[loc.OriginalPath]; !ok || loc.ID < id {
			first[loc.OriginalPath] = loc.ID
		}
	}
	for _, loc := range h.Locations {
		if dir, ok := to[loc.OriginalPath]; ok {
			l.dirs[loc.ID], l.relocated[loc.ID] = dir, true
			continue
		}
		l.dirs[loc.ID] = filepath.Join(root, shared.ExternalDir, strconv.FormatUint(uint64(first[loc.OriginalPath]), 10))
	}
	for from, dir := range to {
		if _, ok := first[from]; !ok {
			return nil, shared.InvalidConfig(fmt.Sprintf("the relocation names %s, which is not a directory of this backup (%s)", from, describeLocations(h.Locations)))
		}
		_, statErr := os.Stat(dir)
		if _, err := prepareTarget(dir); err != nil {
			l.clear()
			return nil, err
		}
		l.prepared = append(l.prepared, dir)
		if errors.Is(statErr, os.ErrNotExist) {
			l.created = append(l.created, dir)
		}
	}
	return l, nil
}

func describeLocations(ls []shared.Location) string {
	if len(ls) == 0 {
		return "it has every file in the datadir"
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Role+" "+l.OriginalPath)
	}
	return "its directories outside the datadir: " + strings.Join(out, ", ")
}

// path returns where the file of stream path rel goes; ts is its Tablespace record, nil for
// other files.
func (l *restoreLayout) path(rel string, ts *shared.Tablespace) (string, error) {
	id, below, ok := shared.SplitExternalPath(rel)
	if !ok {
		return shared.TargetPath(l.root, rel)
	}
	dir, declared := l.dirs[id]
	if !declared { // the checker refuses this before
		return "", fmt.Errorf("%w: %s names no Location of the stream", shared.ErrBadStream, rel)
	}
	if ts != nil && ts.SpaceID != 0 && innodb.FSPFlags(ts.Flags).Shared() && !l.relocated[id] {
		return shared.TargetPath(l.root, path.Base(below))
	}
	return shared.TargetPath(dir, below)
}

// restoredDirs are the directories the restore wrote files into.
func (l *restoreLayout) restoredDirs() []string {
	return append([]string{l.root}, l.prepared...)
}

// clear removes what a failed restore wrote into relocation directories.
func (l *restoreLayout) clear() {
	if l == nil {
		return
	}
	for _, dir := range l.prepared {
		clearDir(dir)
	}
	for _, dir := range l.created {
		os.Remove(dir)
	}
}

// serverOptions are the options a server needs to start on the restored datadir with header h:
// its page size and table-name case rule, where the files outside the datadir now are, the
// system tablespace's files, and the binary log and GTID mode binlog crash recovery needs.
func (l *restoreLayout) serverOptions(h *shared.Header) []string {
	opts := []string{
		"datadir=" + l.root,
		"innodb_page_size=" + strconv.FormatUint(uint64(h.PageSize), 10),
		"lower_case_table_names=" + strconv.FormatInt(h.LowerCaseTableNames, 10),
	}
	if h.DataFilePath != "" {
		opts = append(opts, "innodb_data_file_path="+h.DataFilePath)
	}
	var directories []string
	for _, loc := range h.Locations {
		dir := l.dirs[loc.ID]
		switch loc.Role {
		case shared.RoleDataHomeDir:
			opts = append(opts, "innodb_data_home_dir="+dir)
		case shared.RoleUndoDir:
			opts = append(opts, "innodb_undo_directory="+dir)
		case shared.RoleInnoDBDirectory:
			// Directories inside the datadir are scanned with it (and ignored in
			// innodb_directories, MY-012191); relocated ones must be named.
			if l.relocated[loc.ID] && !containsString(directories, dir) {
				directories = append(directories, dir)
			}
		}
	}
	if len(directories) > 0 {
		opts = append(opts, "innodb_directories="+strings.Join(directories, ";"))
	}
	if h.BinlogBasename != "" {
		opts = append(opts, "log_bin="+l.binlogBase(h))
	} else {
		opts = append(opts, "skip_log_bin")
	}
	if strings.EqualFold(h.GTIDMode, "ON") {
		opts = append(opts, "gtid_mode=ON", "enforce_gtid_consistency=ON")
	}
	return opts
}

// binlogBase is the log_bin value of the restored server: the base name in the datadir, or
// the restored binlog directory's path with it.
func (l *restoreLayout) binlogBase(h *shared.Header) string {
	for _, loc := range h.Locations {
		if loc.Role == shared.RoleBinlogDir {
			return filepath.Join(l.dirs[loc.ID], h.BinlogBasename)
		}
	}
	return h.BinlogBasename
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeOptionFile writes opts as a [mysqld] group into the target's OptionFileName.
func writeOptionFile(root string, opts []string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by pagetrack restore: the options a server needs to start on this datadir\n")
	b.WriteString("# (mysqld --defaults-extra-file=" + filepath.Join(root, OptionFileName) + ", or merge them into your my.cnf).\n[mysqld]\n")
	for _, o := range opts {
		b.WriteString(o + "\n")
	}
	p := filepath.Join(root, OptionFileName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		return "", err
	}
	return p, f.Sync()
}

// ReadOptionFile reads the options of an option file's [mysqld] group as mysqld arguments
// (--name=value), the way restore --verify starts a server with them.
func ReadOptionFile(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var args []string
	group := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			group = strings.Trim(line, "[]")
		case group == "mysqld":
			args = append(args, "--"+line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New(p + " has no [mysqld] options")
	}
	return args, nil
}
