package mysqlsrc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

func externalHeader() *shared.Header {
	return &shared.Header{StreamFormat: shared.StreamFormat, PageSize: 16384, BinlogBasename: "binlog", GTIDMode: "ON",
		DataFilePath: "ibdata1:12M;ibdata2:12M:autoextend",
		Locations: []shared.Location{
			{ID: 1, Role: shared.RoleDataHomeDir, OriginalPath: "/srv/home"},
			{ID: 2, Role: shared.RoleUndoDir, OriginalPath: "/srv/home"},
			{ID: 3, Role: shared.RoleInnoDBDirectory, OriginalPath: "/srv/tables"},
			{ID: 4, Role: shared.RoleInnoDBDirectory, OriginalPath: "/srv/general"},
			{ID: 5, Role: shared.RoleBinlogDir, OriginalPath: "/srv/binlog"},
		}}
}

// TestRestoreLayout: where each file of a Location goes, and the options that tell a server.
func TestRestoreLayout(t *testing.T) {
	root, moved := t.TempDir(), filepath.Join(t.TempDir(), "tables")
	l, err := newRestoreLayout(root, externalHeader(), []shared.Relocation{{From: "/srv/tables", To: moved}})
	if err != nil {
		t.Fatal(err)
	}
	const general = 0x4800 // a shared tablespace's flags
	if !innodb.FSPFlags(general).Shared() {
		t.Fatal("the test's general tablespace flags are not shared")
	}
	ext := filepath.Join(root, shared.ExternalDir)
	for _, c := range []struct {
		rel  string
		ts   *shared.Tablespace
		want string
	}{
		{"db/t.ibd", &shared.Tablespace{SpaceID: 9}, filepath.Join(root, "db/t.ibd")},
		{shared.ExternalPath(1, "ibdata2"), &shared.Tablespace{SpaceID: 0, Flags: general}, filepath.Join(ext, "1/ibdata2")},
		{shared.ExternalPath(2, "undo_001"), &shared.Tablespace{SpaceID: 0xFFFFFFEF}, filepath.Join(ext, "1/undo_001")}, // the data home's directory
		{shared.ExternalPath(3, "db/t.ibd"), &shared.Tablespace{SpaceID: 10}, filepath.Join(moved, "db/t.ibd")},
		{shared.ExternalPath(4, "sub/g1.ibd"), &shared.Tablespace{SpaceID: 11, Flags: general}, filepath.Join(root, "g1.ibd")},
		{shared.ExternalPath(5, "binlog.000003"), nil, filepath.Join(ext, "5/binlog.000003")},
	} {
		if got, err := l.path(c.rel, c.ts); err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.rel, got, err, c.want)
		}
	}
	opts := l.serverOptions(externalHeader())
	for _, want := range []string{
		"innodb_data_home_dir=" + filepath.Join(ext, "1"), "innodb_undo_directory=" + filepath.Join(ext, "1"),
		"innodb_data_file_path=ibdata1:12M;ibdata2:12M:autoextend", "innodb_directories=" + moved,
		"log_bin=" + filepath.Join(ext, "5/binlog"), "gtid_mode=ON",
	} {
		if !slices.Contains(opts, want) {
			t.Errorf("options %q lack %q", opts, want)
		}
	}
	file, err := writeOptionFile(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	args, err := ReadOptionFile(file)
	if err != nil || len(args) != len(opts) || args[0] != "--"+opts[0] {
		t.Fatalf("the option file reads back as %q, %v; wrote %q", args, err, opts)
	}
}

func TestRestoreLayoutRefusals(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		relocs []shared.Relocation
		kind   error
		want   string
	}{
		{"unknown directory", []shared.Relocation{{From: "/srv/other", To: "/tmp/x"}}, shared.ErrInvalidConfig,
			"the relocation names /srv/other, which is not a directory of this backup (its directories outside the datadir: data_home_dir /srv/home"},
		{"not empty", []shared.Relocation{{From: "/srv/tables", To: full}}, shared.ErrPrecondition, "is not empty"},
		{"twice", []shared.Relocation{{From: "/srv/tables", To: "/a"}, {From: "/srv/tables", To: "/b"}}, shared.ErrInvalidConfig, "given twice"},
		{"relative", []shared.Relocation{{From: "/srv/tables", To: "a"}}, shared.ErrInvalidConfig, "absolute, clean path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newRestoreLayout(t.TempDir(), externalHeader(), c.relocs)
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %v containing %q", err, c.kind, c.want)
			}
		})
	}
}

// TestSystemTablespaceFiles: a later file of the system tablespace takes its place in the
// space, and tracked page numbers map to pages of the file holding them.
func TestSystemTablespaceFiles(t *testing.T) {
	first := &tablespaceFile{rel: "#pagetrack-external/1/ibdata1", page0: innodb.Page0{SpaceID: 0, Flags: 0x4800}, pageSize: 16384, pages: 768}
	second := &tablespaceFile{rel: "#pagetrack-external/1/ibdata2", system: true, pageSize: 16384, pages: 200}
	if err := placeSystemFiles([]*tablespaceFile{first, second}, "ibdata1:12M;ibdata2:12M:autoextend"); err != nil {
		t.Fatal(err)
	}
	if second.firstPage != 768 || second.page0 != first.page0 {
		t.Fatalf("ibdata2 starts at page %d with page 0 %+v", second.firstPage, second.page0)
	}
	set := pagemap.NewPageSet()
	for _, p := range []uint32{5, 770, 771, 967} {
		set.Add(0, p)
	}
	reads, wanted := planTrackedReads([]trackedFile{{first, first.pages}, {second, second.pages}}, set, nil)
	var got []string
	for _, r := range reads {
		got = append(got, fmt.Sprintf("%s:%d+%d", filepath.Base(r.file.rel), r.first, r.count))
	}
	if want := []string{"ibdata1:5+1", "ibdata2:2+2", "ibdata2:199+1"}; !slices.Equal(got, want) || wanted != 4 {
		t.Fatalf("reads %v (%d pages wanted), want %v", got, wanted, want)
	}
	if err := placeSystemFiles([]*tablespaceFile{first}, "ibdata1:12M;ibdata2:12M:autoextend"); err == nil || !strings.Contains(err.Error(), "ibdata2, which was not found") {
		t.Fatalf("a missing ibdata2: %v", err)
	}
}

// TestPlanLocations: which directories become Locations, which Location holds a file, and how
// the server's relative dictionary paths resolve.
func TestPlanLocations(t *testing.T) {
	info := &serverInfo{datadir: "/var/lib/mysql/", binlogBasename: "/var/log/mysql/binlog", dirs: serverDirs{
		dataHome: "/srv/home", undo: "./", directories: "/srv/a; /srv/a/b;/var/lib/mysql/sub;/srv/home"}}
	l, err := planLocations(info)
	if err != nil {
		t.Fatal(err)
	}
	want := []shared.Location{
		{ID: 1, Role: shared.RoleDataHomeDir, OriginalPath: "/srv/home"},
		{ID: 2, Role: shared.RoleInnoDBDirectory, OriginalPath: "/srv/a"},
		{ID: 3, Role: shared.RoleInnoDBDirectory, OriginalPath: "/srv/a/b"},
		{ID: 4, Role: shared.RoleBinlogDir, OriginalPath: "/var/log/mysql"},
	}
	if !slices.Equal(l.list, want) {
		t.Fatalf("locations %v, want %v", l.list, want)
	}
	if p, err := l.streamPath("/srv/a/b/db/t.ibd"); err != nil || p != shared.ExternalPath(3, "db/t.ibd") {
		t.Errorf("the innermost location: %q, %v", p, err)
	}
	if _, err := l.streamPath("/elsewhere/t.ibd"); err == nil || !strings.Contains(err.Error(), "add its directory to innodb_directories") {
		t.Errorf("a file in no location: %v", err)
	}
	for _, c := range []struct {
		path      string
		space     uint32
		spaceType string
		want      string
	}{
		{"ibdata2", 0, "", "/srv/home/ibdata2"},
		{"u3.ibu", 0xFFFFFFEF, "Undo", "/var/lib/mysql/u3.ibu"},
		{"./db/t.ibd", 9, "Single", "/var/lib/mysql/db/t.ibd"},
		{"/srv/a/db/t.ibd", 10, "Single", "/srv/a/db/t.ibd"},
	} {
		if got := l.dictionaryPath(c.path, c.space, c.spaceType, info.dirs); got != c.want {
			t.Errorf("%s resolves to %s, want %s", c.path, got, c.want)
		}
	}
	if err := checkDataFilePath("ibdata1:3Gnewraw"); !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "raw partition") {
		t.Errorf("a raw partition: %v", err)
	}
}

// TestRestoreLayoutClear: a failed restore leaves the relocation directories as it found them.
func TestRestoreLayoutClear(t *testing.T) {
	existing, absent := t.TempDir(), filepath.Join(t.TempDir(), "new")
	l, err := newRestoreLayout(t.TempDir(), externalHeader(), []shared.Relocation{{From: "/srv/tables", To: existing}, {From: "/srv/general", To: absent}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{existing, absent} {
		if err := os.WriteFile(filepath.Join(d, "t.ibd"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l.clear()
	if es, err := os.ReadDir(existing); err != nil || len(es) != 0 {
		t.Errorf("the existing directory holds %v (%v) after clear", es, err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory the restore created is still there: %v", err)
	}
}
