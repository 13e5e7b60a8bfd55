package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// externalDirs are the directories outside the datadir one source server keeps files in, each
// for one feature: innodb_data_home_dir with a two-file system tablespace, innodb_undo_directory,
// a DATA DIRECTORY table and a general tablespace with an absolute path (both under
// innodb_directories), and the binary log.
type externalDirs struct{ dataHome, undo, dataDir, general, binlog string }

func (d externalDirs) all() map[string]string {
	return map[string]string{"data home": d.dataHome, "undo": d.undo, "DATA DIRECTORY": d.dataDir, "general tablespace": d.general, "binlog": d.binlog}
}

// TestExternalFiles backs up one server whose files lie outside its datadir in every way a
// server allows, full and by a page-tracking incremental, and restores each: inside the
// target by default and, with --relocate, into other directories. Each restored datadir is
// started by a stock mysqld with the options the restore printed (and recorded in the
// target's option file) and compared table by table with the source at its backup.
func TestExternalFiles(t *testing.T) {
	t.Parallel() // its own servers and directories; run beside the other storage tests (make test's long pole)
	base := t.TempDir()
	dirs := externalDirs{filepath.Join(base, "home"), filepath.Join(base, "undo"), filepath.Join(base, "tables"), filepath.Join(base, "general"), filepath.Join(base, "binlogs")}
	for _, d := range dirs.all() {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	srv := testmysql.Start(t, testmysql.Options{Args: []string{
		"--innodb-data-home-dir=" + dirs.dataHome, "--innodb-data-file-path=ibdata1:12M;ibdata2:12M:autoextend",
		"--innodb-undo-directory=" + dirs.undo, "--innodb-directories=" + dirs.dataDir + ";" + dirs.general,
		"--log-bin=" + filepath.Join(dirs.binlog, "binlog"),
	}})
	const columns = " (id INT PRIMARY KEY, v VARCHAR(64), pad VARCHAR(600))"
	const fill = `INSERT INTO %s (id, v, pad) WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
		SELECT n, CONCAT('row-', n), REPEAT(CHAR(65 + MOD(n, 26)), 500) FROM seq`
	conn, err := srv.Root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SET SESSION cte_max_recursion_depth = 100000",
		"CREATE DATABASE ext",
		"CREATE TABLE ext.dd" + columns + " DATA DIRECTORY='" + dirs.dataDir + "'",
		"CREATE TABLESPACE g1 ADD DATAFILE '" + filepath.Join(dirs.general, "g1.ibd") + "'",
		"CREATE TABLE ext.gt" + columns + " TABLESPACE g1",
		// In the system tablespace and large enough to spill from ibdata1 into ibdata2.
		"CREATE TABLE ext.sys" + columns + " TABLESPACE innodb_system",
		fmt.Sprintf(fill, "ext.dd", 2000), fmt.Sprintf(fill, "ext.gt", 2000), fmt.Sprintf(fill, "ext.sys", 24000),
	} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	sourcetest.Checkpoint(t, srv)
	requireExternalLayout(t, srv.DataDir, dirs)

	dir := t.TempDir()
	config := filepath.Join(dir, "pagetrack.hcl")
	cfg := fmt.Sprintf("state_file = %q\n\nsource \"mysql\" \"primary\" {\n  dsn     = %q\n  datadir = %q\n}\n",
		filepath.Join(dir, "state.json"), srv.DSN, srv.DataDir)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	full := backupStream(t, config, filepath.Join(dir, "full.pgt"), "--full")
	wantFull := schemaDigest(t, srv.Root, "ext")
	for _, q := range []string{
		"UPDATE ext.dd SET v = CONCAT(v, '+') WHERE id % 5 = 0",
		"UPDATE ext.gt SET v = CONCAT(v, '*') WHERE id % 7 = 0",
		"DELETE FROM ext.gt WHERE id % 11 = 0",
		"UPDATE ext.sys SET v = CONCAT(v, '#') WHERE id > 23000",
	} {
		srv.MustExec(q)
	}
	sourcetest.Checkpoint(t, srv)
	inc := backupStream(t, config, filepath.Join(dir, "inc.pgt"))
	wantInc := schemaDigest(t, srv.Root, "ext")
	if maps.Equal(wantFull, wantInc) {
		t.Fatal("the change left every table as it was")
	}
	checkExternalStreams(t, full, inc, dirs)
	before := listFiles(t, dirs)
	defer func() {
		if after := listFiles(t, dirs); !maps.Equal(before, after) {
			t.Errorf("the restores changed the source's directories: before %v, after %v", before, after)
		}
	}()

	restores := []struct {
		name     string
		streams  []string
		want     map[string]string
		relocate bool
		verify   bool
		again    bool // back the restored server up and restore that too
	}{
		{"full", []string{full}, wantFull, false, false, false},
		{"incremental", []string{full, inc}, wantInc, false, true, true},
		{"incremental relocated", []string{full, inc}, wantInc, true, false, false},
	}
	for _, r := range restores {
		t.Run(strings.ReplaceAll(r.name, " ", "_"), func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "datadir")
			args := []string{"restore", "--target", target}
			for _, s := range r.streams {
				args = append(args, "--from", s)
			}
			moved := externalDirs{}
			if r.relocate {
				other := t.TempDir()
				moved = externalDirs{filepath.Join(other, "home"), filepath.Join(other, "undo"), filepath.Join(other, "tables"), filepath.Join(other, "general"), filepath.Join(other, "binlogs")}
				for k, from := range dirs.all() {
					args = append(args, "--relocate", from+"="+moved.all()[k])
				}
			}
			if r.verify {
				args = append(args, "--verify")
			}
			var out strings.Builder
			runHost(t, &out, args...)
			if r.verify && !strings.Contains(out.String(), "verified   yes") {
				t.Fatalf("restore --verify did not report a verification:\n%s", out.String())
			}
			opts := printedOptions(t, out.String(), target)
			requireRestoredLayout(t, target, moved, r.relocate)
			var mysqldArgs []string
			for _, o := range opts {
				mysqldArgs = append(mysqldArgs, "--"+o)
			}
			restored := testmysql.StartExisting(t, target, testmysql.Options{Args: mysqldArgs})
			if got := schemaDigest(t, restored.Root, "ext"); !maps.Equal(got, r.want) {
				t.Fatalf("restored ext schema %v, source at the backup %v", got, r.want)
			}
			allowed := []string{target}
			if r.relocate {
				allowed = append(allowed, moved.dataHome, moved.undo, moved.dataDir, moved.general)
			}
			requireFilesInside(t, restored, allowed)
			binlogDir := filepath.Join(target, shared.ExternalDir)
			if r.relocate {
				binlogDir = moved.binlog
			}
			var basename, first string
			if err := restored.Root.QueryRow("SELECT @@log_bin_basename").Scan(&basename); err != nil || !strings.HasPrefix(basename, binlogDir+"/") {
				t.Fatalf("the restored server writes its binary log at %q (%v), not in %s", basename, err, binlogDir)
			}
			var size any
			var encrypted string
			if err := restored.Root.QueryRow("SHOW BINARY LOGS").Scan(&first, &size, &encrypted); err != nil || !strings.HasPrefix(first, "binlog.") {
				t.Fatalf("the restored server's first binary log: %q, %v", first, err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(basename), first)); err != nil {
				t.Fatalf("the restored binary log the server lists: %v", err)
			}
			t.Logf("%s: %d tables equal to the source (CHECKSUM TABLE and row count); options %v", r.name, len(r.want), opts)
			if r.again {
				backUpRestored(t, restored, r.want)
			}
		})
	}
}

// requireExternalLayout asserts each feature's precondition on the source's disk.
func requireExternalLayout(t *testing.T, datadir string, d externalDirs) {
	t.Helper()
	exists := func(p string) {
		t.Helper()
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("precondition: %v", err)
		}
	}
	for _, p := range []string{
		filepath.Join(d.dataDir, "ext", "dd.ibd"), filepath.Join(d.general, "g1.ibd"),
		filepath.Join(d.undo, "undo_001"), filepath.Join(d.undo, "undo_002"),
		filepath.Join(d.dataHome, "ibdata1"), filepath.Join(d.dataHome, "ibdata2"),
		filepath.Join(d.binlog, "binlog.000001"), filepath.Join(d.binlog, "binlog.index"),
	} {
		exists(p)
	}
	for _, p := range []string{"ext/dd.ibd", "g1.ibd", "undo_001", "ibdata1", "ibdata2", "binlog.000001", "binlog.index"} {
		if _, err := os.Stat(filepath.Join(datadir, p)); err == nil {
			t.Fatalf("precondition: %s is in the datadir too", p)
		}
	}
	if n := countPages(t, filepath.Join(d.dataHome, "ibdata2"), 16384, func([]byte) bool { return true }); n == 0 {
		t.Fatal("precondition: ibdata2 holds no page: the system tablespace did not grow into it")
	}
}

// checkExternalStreams asserts that both streams carry every external file under its Location
// and that the incremental, taken by page tracking, holds changed pages of each feature's files.
func checkExternalStreams(t *testing.T, full, inc string, d externalDirs) {
	t.Helper()
	want := map[string]string{ // stream path below its Location → the Location's directory
		"ext/dd.ibd": d.dataDir, "g1.ibd": d.general, "undo_001": d.undo, "undo_002": d.undo,
		"ibdata1": d.dataHome, "ibdata2": d.dataHome,
	}
	for _, s := range []string{full, inc} {
		h, pages, trailer := readStream(t, s)
		loc := map[uint32]shared.Location{}
		for _, l := range h.Locations {
			loc[l.ID] = l
		}
		if h.DataFilePath != "ibdata1:12M;ibdata2:12M:autoextend" || shared.BinlogDir(h) == "" {
			t.Fatalf("%s: header data file path %q, locations %v", filepath.Base(s), h.DataFilePath, h.Locations)
		}
		got := map[string]string{}
		changed := map[string]int{}
		for p, n := range pages {
			if id, below, ok := shared.SplitExternalPath(p); ok {
				got[below] = loc[id].OriginalPath
				changed[below] = n
			}
		}
		for below, dir := range want {
			if got[below] != dir {
				t.Fatalf("%s: %s lies in location %q, want %s (files %v)", filepath.Base(s), below, got[below], dir, got)
			}
		}
		if s != inc {
			continue
		}
		if trailer.Kind != shared.KindIncremental || trailer.Method != shared.MethodPageTracking {
			t.Fatalf("incremental %s by %s, want page tracking", trailer.Kind, trailer.Method)
		}
		for _, f := range []string{"ext/dd.ibd", "g1.ibd", "ibdata2"} {
			if changed[f] == 0 {
				t.Fatalf("the incremental holds no page of %s (pages per external file: %v)", f, changed)
			}
		}
		if changed["undo_001"]+changed["undo_002"] == 0 {
			t.Fatalf("the incremental holds no undo page (pages per external file: %v)", changed)
		}
		t.Logf("incremental by page tracking: pages of the external files %v", changed)
	}
}

// readStream reads a backup --stdout stream: its header, the pages per file path, its trailer.
func readStream(t *testing.T, path string) (*shared.Header, map[string]int, *shared.Trailer) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := pgstream.NewReader(f).Next()
	if err != nil {
		t.Fatal(err)
	}
	var h *shared.Header
	var tr *shared.Trailer
	spaces := map[uint32]*shared.Tablespace{}
	pages := map[string]int{}
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Header != nil:
			h = r.Header
		case r.Tablespace != nil:
			spaces[r.Tablespace.FileIndex] = r.Tablespace
			pages[r.Tablespace.Path] += 0
		case r.Pages != nil:
			ts := spaces[r.Pages.FileIndex]
			for p := range slicesOf(r.Pages.Data, int(ts.PageSize)) {
				if err := innodb.ValidatePage(p, ts.ZipSize != 0); err != nil && !innodb.IsZeroPage(p) {
					t.Errorf("%s: an invalid page: %v", ts.Path, err)
				}
			}
			pages[ts.Path] += len(r.Pages.Data) / int(ts.PageSize)
		case r.Trailer != nil:
			tr = r.Trailer
		}
	}
	return h, pages, tr
}

// printedOptions returns the server options the restore printed and checks that the target's
// option file records the same.
func printedOptions(t *testing.T, out, target string) []string {
	t.Helper()
	var printed []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "start it with these server options"):
			in = true
		case in && strings.HasPrefix(line, "    "):
			printed = append(printed, strings.TrimSpace(line))
		default:
			in = false
		}
	}
	f, err := os.Open(filepath.Join(target, "pagetrack-restore.cnf"))
	if err != nil {
		t.Fatalf("the restore recorded no option file: %v\n%s", err, out)
	}
	defer f.Close()
	var recorded []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") {
			recorded = append(recorded, l)
		}
	}
	if strings.Join(printed, "\n") != strings.Join(recorded, "\n") || len(printed) == 0 {
		t.Fatalf("printed options %q, recorded %q", printed, recorded)
	}
	return printed
}

// requireRestoredLayout asserts where the restore put the external files: inside the target
// (general tablespaces in the target itself, MySQL refusing them below the datadir), or in the
// relocation directories with nothing external left in the target.
func requireRestoredLayout(t *testing.T, target string, moved externalDirs, relocated bool) {
	t.Helper()
	var want []string
	if relocated {
		want = []string{filepath.Join(moved.dataDir, "ext", "dd.ibd"), filepath.Join(moved.general, "g1.ibd"),
			filepath.Join(moved.undo, "undo_001"), filepath.Join(moved.dataHome, "ibdata2"), filepath.Join(moved.binlog, "binlog.index")}
		if _, err := os.Stat(filepath.Join(target, shared.ExternalDir)); err == nil {
			t.Fatalf("relocated restore left %s in the target", shared.ExternalDir)
		}
	} else {
		matches, _ := filepath.Glob(filepath.Join(target, shared.ExternalDir, "*", "*"))
		want = []string{filepath.Join(target, "g1.ibd")}
		for _, name := range []string{"dd.ibd", "undo_001", "ibdata2", "binlog.index"} {
			found := false
			for _, m := range matches {
				if _, err := os.Stat(filepath.Join(m, name)); err == nil || filepath.Base(m) == name {
					found = true
				}
			}
			if !found {
				t.Fatalf("no %s under %s (%v)", name, filepath.Join(target, shared.ExternalDir), matches)
			}
		}
	}
	for _, p := range want {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
}

// requireFilesInside asserts the restored server opened no InnoDB file outside dirs: had it not
// found a restored copy, it would use the source's file at the path its dictionary holds.
func requireFilesInside(t *testing.T, s *testmysql.Server, dirs []string) {
	t.Helper()
	rows, err := s.Root.Query("SELECT PATH FROM information_schema.INNODB_DATAFILES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		rows.Scan(&p)
		if !filepath.IsAbs(p) {
			continue
		}
		inside := false
		for _, d := range dirs {
			if strings.HasPrefix(p, d+"/") {
				inside = true
			}
		}
		if !inside {
			t.Fatalf("the restored server uses %s, outside the restored directories %v", p, dirs)
		}
	}
}

// backUpRestored takes a full backup of a server running on a restored datadir, whose files
// from outside the source's datadir now lie below its #pagetrack-external directory, restores
// it and compares it with want.
func backUpRestored(t *testing.T, srv *testmysql.Server, want map[string]string) {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "pagetrack.hcl")
	cfg := fmt.Sprintf("state_file = %q\n\nsource \"mysql\" \"restored\" {\n  dsn     = %q\n  datadir = %q\n}\n",
		filepath.Join(dir, "state.json"), srv.DSN, srv.DataDir)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	stream := backupStream(t, config, filepath.Join(dir, "again.pgt"), "--full")
	target := filepath.Join(dir, "datadir")
	var out strings.Builder
	runHost(t, &out, "restore", "--target", target, "--from", stream)
	var args []string
	for _, o := range printedOptions(t, out.String(), target) {
		args = append(args, "--"+o)
	}
	again := testmysql.StartExisting(t, target, testmysql.Options{Args: args})
	if got := schemaDigest(t, again.Root, "ext"); !maps.Equal(got, want) {
		t.Fatalf("the backup of the restored server restored %v, want %v", got, want)
	}
	requireFilesInside(t, again, []string{target})
	t.Logf("the restored server backed up and restored again: %d tables equal", len(want))
}

// listFiles lists the files below the source's directories outside its datadir.
func listFiles(t *testing.T, d externalDirs) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, dir := range d.all() {
		err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && !strings.HasPrefix(e.Name(), "ibtmp") {
				out[p] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
