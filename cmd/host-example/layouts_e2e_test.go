package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// layoutTable is the table every layout case fills: rows with a recognisable padding, so a
// page of it can be found by its bytes.
const (
	layoutColumns = " (id INT PRIMARY KEY, v VARCHAR(64), pad VARCHAR(1000))"
	layoutFill    = `INSERT INTO %s (id, v, pad) WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
		SELECT n, CONCAT('row-', n), REPEAT(CONCAT('layout ', MOD(n, 10), ' '), 40) FROM seq`
	layoutMarker = "layout 3 layout 3 layout 3" // bytes of a row's padding, in any uncompressed row
)

// TestInnoDBLayouts covers the page sizes, the system tablespace, lower_case_table_names and
// the DDL that moves or rewrites tablespace files: full backup, page-tracking incremental,
// each restored and started by a stock mysqld with only the options the restore needs.
func TestInnoDBLayouts(t *testing.T) {
	t.Parallel() // its own servers and directories; run beside the other storage tests (make test's long pole)
	var cases []storageCase
	for _, kib := range []int{4, 8, 32, 64} {
		cases = append(cases, pageSizeCase(kib))
	}
	cases = append(cases, lowerCaseNamesCase(), systemTablespaceCase(), undoTablespaceCase(),
		discardImportCase(), instantColumnsCase(), reorganizedPartitionsCase())
	runStorageCases(t, cases)
}

// fillSetup creates schema and its tables (name → extra table options) filled with rows.
func fillSetup(schema string, rows int, tables map[string]string) []string {
	out := []string{"SET SESSION cte_max_recursion_depth = 100000", "CREATE DATABASE " + schema}
	for name, opts := range tables {
		table := schema + "." + name
		out = append(out, "CREATE TABLE "+table+layoutColumns+opts, fmt.Sprintf(layoutFill, table, rows))
	}
	return out
}

// changeEach updates, deletes and inserts rows of every table of schema.
func changeEach(schema string, tables map[string]string) []string {
	var out []string
	for name := range tables {
		t := schema + "." + name
		out = append(out, "UPDATE "+t+" SET v = CONCAT(v, '+') WHERE id % 5 = 0", "DELETE FROM "+t+" WHERE id % 13 = 0",
			fmt.Sprintf("INSERT INTO %s SELECT id + 10000, v, pad FROM %s WHERE id < 500", t, t))
	}
	return out
}

func pageSizeCase(kib int) storageCase {
	size := kib << 10
	schema := fmt.Sprintf("ps%dk", kib)
	tables := map[string]string{"plain": ""}
	files := []string{schema + "/plain.ibd"}
	if kib <= 16 { // ROW_FORMAT=COMPRESSED exists only up to 16 KiB pages
		tables["zip"] = fmt.Sprintf(" ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=%d", kib/2)
		files = append(files, schema+"/zip.ibd")
	}
	sizeOf := func(t *testing.T, datadir string) {
		for _, f := range append([]string{"ibdata1", "mysql.ibd", "undo_001"}, files...) {
			if got := filePageSize(t, filepath.Join(datadir, f)); got != size {
				t.Fatalf("precondition: %s has %d-byte pages by its FSP flags, want %d", f, got, size)
			}
		}
	}
	opt := fmt.Sprintf("--innodb-page-size=%d", size)
	return storageCase{
		name: fmt.Sprintf("page size %d KiB", kib), args: []string{opt}, restoreArgs: []string{opt},
		schema:   schema,
		setup:    fillSetup(schema, 3000, tables),
		change:   changeEach(schema, tables),
		files:    files,
		onDisk:   sizeOf,
		restored: func(t *testing.T, datadir, _ string) { sizeOf(t, datadir) },
	}
}

func systemTablespaceCase() storageCase {
	inIbdata := func(t *testing.T, datadir string) {
		if _, err := os.Stat(filepath.Join(datadir, "sys_ts/t.ibd")); !os.IsNotExist(err) {
			t.Fatalf("precondition: sys_ts/t.ibd exists (%v): the table is not in the system tablespace", err)
		}
		b, err := os.ReadFile(filepath.Join(datadir, "ibdata1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(layoutMarker)) {
			t.Fatalf("precondition: ibdata1 holds no row of sys_ts.t")
		}
	}
	return storageCase{
		// innodb_file_per_table is dynamic and read at CREATE TABLE: the table is created with
		// it off on the shared server
		name: "file per table off", schema: "sys_ts",
		setup: append(append([]string{"SET GLOBAL innodb_file_per_table = OFF"}, fillSetup("sys_ts", 2000, map[string]string{"t": ""})...),
			"SET GLOBAL innodb_file_per_table = ON"),
		setupFunc: func(t *testing.T, srv *testmysql.Server) {
			var space int
			if err := srv.Root.QueryRow("SELECT SPACE FROM information_schema.INNODB_TABLES WHERE NAME = 'sys_ts/t'").Scan(&space); err != nil || space != 0 {
				t.Fatalf("precondition: sys_ts.t is in space %d (%v), want the system tablespace 0", space, err)
			}
		},
		change:   []string{"UPDATE sys_ts.t SET v = CONCAT(v, '+') WHERE id % 3 = 0", "DELETE FROM sys_ts.t WHERE id > 1900"},
		files:    []string{"ibdata1"},
		onDisk:   inIbdata,
		restored: func(t *testing.T, datadir, _ string) { inIbdata(t, datadir) },
	}
}

func lowerCaseNamesCase() storageCase {
	lower := func(t *testing.T, datadir string) {
		if _, err := os.Stat(filepath.Join(datadir, "mixedcase/mytable.ibd")); err != nil {
			t.Fatalf("precondition: the table's file is not stored lower-cased: %v", err)
		}
		if _, err := os.Stat(filepath.Join(datadir, "MixedCase")); !os.IsNotExist(err) {
			t.Fatalf("precondition: a mixed-case schema directory exists (%v)", err)
		}
	}
	opt := "--lower-case-table-names=1"
	return storageCase{
		name: "lower case table names", args: []string{opt}, restoreArgs: []string{opt}, schema: "mixedcase",
		setup: []string{
			"SET SESSION cte_max_recursion_depth = 100000", "CREATE DATABASE MixedCase",
			"CREATE TABLE MixedCase.MyTable" + layoutColumns, fmt.Sprintf(layoutFill, "MixedCase.MyTable", 2000),
		},
		change:   []string{"UPDATE MIXEDCASE.MYTABLE SET v = CONCAT(v, '+') WHERE id % 4 = 0"},
		files:    []string{"mixedcase/mytable.ibd"},
		onDisk:   lower,
		restored: func(t *testing.T, datadir, _ string) { lower(t, datadir) },
	}
}

// undoTablespaceCase: undo_a exists at the full backup; before the incremental undo_b is
// created and undo_a set inactive, emptied and dropped.
func undoTablespaceCase() storageCase {
	exists := func(t *testing.T, datadir, file string, want bool) {
		t.Helper()
		_, err := os.Stat(filepath.Join(datadir, file))
		if got := err == nil; got != want {
			t.Fatalf("precondition: %s exists: %v, want %v (%v)", file, got, want, err)
		}
	}
	return storageCase{
		name: "undo tablespaces created and dropped", schema: "undo_ts",
		setup: append([]string{"CREATE UNDO TABLESPACE undo_a ADD DATAFILE 'undo_a.ibu'"},
			fillSetup("undo_ts", 2000, map[string]string{"t": ""})...),
		change: []string{
			"CREATE UNDO TABLESPACE undo_b ADD DATAFILE 'undo_b.ibu'",
			"ALTER UNDO TABLESPACE undo_a SET INACTIVE",
			"UPDATE undo_ts.t SET v = CONCAT(v, '+') WHERE id % 3 = 0",
		},
		changeFunc: func(t *testing.T, srv *testmysql.Server) {
			waitForValue(t, srv, "SELECT STATE FROM information_schema.INNODB_TABLESPACES WHERE NAME = 'undo_a'", "empty")
			srv.MustExec("DROP UNDO TABLESPACE undo_a")
		},
		files: []string{"undo_ts/t.ibd", "undo_b.ibu"},
		onDisk: func(t *testing.T, datadir string) {
			exists(t, datadir, "undo_a.ibu", true)
		},
		changedOnDisk: func(t *testing.T, datadir string) {
			exists(t, datadir, "undo_a.ibu", false)
			exists(t, datadir, "undo_b.ibu", true)
		},
		restored: func(t *testing.T, datadir, backup string) {
			exists(t, datadir, "undo_a.ibu", backup == "full")
			exists(t, datadir, "undo_b.ibu", backup != "full")
		},
	}
}

// discardImportCase: at the full backup di.target's tablespace is discarded (no file); before
// the incremental it is imported from di.source's export, and di.again is discarded and
// imported afresh.
func discardImportCase() storageCase {
	export := func(t *testing.T, srv *testmysql.Server, from, to string) {
		t.Helper()
		conn, err := srv.Root.Conn(t.Context()) // FOR EXPORT holds only for its session
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "FLUSH TABLES di."+from+" FOR EXPORT"); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".ibd", ".cfg"} {
			b, err := os.ReadFile(filepath.Join(srv.DataDir, "di", from+ext))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(srv.DataDir, "di", to+ext), b, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
	}
	return storageCase{
		name: "discard and import tablespace", schema: "di",
		setup: append(fillSetup("di", 2000, map[string]string{"source": "", "again": ""}),
			"CREATE TABLE di.target"+layoutColumns, "ALTER TABLE di.target DISCARD TABLESPACE"),
		changeFunc: func(t *testing.T, srv *testmysql.Server) {
			srv.MustExec("UPDATE di.source SET v = CONCAT(v, '+') WHERE id % 3 = 0")
			export(t, srv, "source", "target")
			srv.MustExec("ALTER TABLE di.target IMPORT TABLESPACE")
			srv.MustExec("UPDATE di.source SET v = CONCAT(v, '*') WHERE id % 4 = 0")
			export(t, srv, "source", "again_new")
			srv.MustExec("ALTER TABLE di.again DISCARD TABLESPACE")
			for _, ext := range []string{".ibd", ".cfg"} {
				if err := os.Rename(filepath.Join(srv.DataDir, "di", "again_new"+ext), filepath.Join(srv.DataDir, "di", "again"+ext)); err != nil {
					t.Fatal(err)
				}
			}
			srv.MustExec("ALTER TABLE di.again IMPORT TABLESPACE")
		},
		files: []string{"di/target.ibd", "di/again.ibd", "di/source.ibd"},
		// IMPORT writes the files' pages itself, outside what page tracking vouches for
		wholeFiles: []string{"di/target.ibd", "di/again.ibd"},
		onDisk: func(t *testing.T, datadir string) {
			if _, err := os.Stat(filepath.Join(datadir, "di/target.ibd")); !os.IsNotExist(err) {
				t.Fatalf("precondition: di/target.ibd exists after DISCARD TABLESPACE (%v)", err)
			}
		},
		restored: func(t *testing.T, datadir, backup string) {
			_, err := os.Stat(filepath.Join(datadir, "di/target.ibd"))
			if (err == nil) != (backup != "full") {
				t.Fatalf("restored from the %s backup, di/target.ibd exists: %v (%v)", backup, err == nil, err)
			}
		},
		changedOnDisk: func(t *testing.T, datadir string) {
			for _, f := range []string{"di/target.ibd", "di/again.ibd"} {
				if n := countPages(t, filepath.Join(datadir, f), 16384, func(p []byte) bool { return bytes.Contains(p, []byte(layoutMarker)) }); n == 0 {
					t.Fatalf("precondition: imported %s holds no row page", f)
				}
			}
		},
	}
}

// instantColumnsCase: a column added instantly before the full backup, another added and the
// first dropped instantly before the incremental.
func instantColumnsCase() storageCase {
	return storageCase{
		name: "instant add and drop column", schema: "ic",
		setup: append(fillSetup("ic", 2000, map[string]string{"t": ""}),
			"ALTER TABLE ic.t ADD COLUMN first_added INT NOT NULL DEFAULT 7, ALGORITHM=INSTANT",
			"UPDATE ic.t SET first_added = id WHERE id % 10 = 0"),
		change: []string{
			"ALTER TABLE ic.t ADD COLUMN second_added VARCHAR(20) DEFAULT 'instant' AFTER id, ALGORITHM=INSTANT",
			"ALTER TABLE ic.t DROP COLUMN first_added, ALGORITHM=INSTANT",
			"UPDATE ic.t SET second_added = CONCAT('s', id) WHERE id % 7 = 0",
			"INSERT INTO ic.t (id, v, pad) SELECT id + 5000, v, pad FROM ic.t WHERE id < 100",
		},
		setupFunc:  func(t *testing.T, srv *testmysql.Server) { requireRowVersions(t, srv, 1) },
		changeFunc: func(t *testing.T, srv *testmysql.Server) { requireRowVersions(t, srv, 3) },
		files:      []string{"ic/t.ibd", "mysql.ibd"},
		onDisk:     func(t *testing.T, datadir string) {},
	}
}

// requireRowVersions asserts ic.t's row versions (instant ADD/DROP COLUMN, not a rebuild).
func requireRowVersions(t *testing.T, srv *testmysql.Server, want int) {
	t.Helper()
	var got int
	if err := srv.Root.QueryRow("SELECT TOTAL_ROW_VERSIONS FROM information_schema.INNODB_TABLES WHERE NAME = 'ic/t'").Scan(&got); err != nil || got != want {
		t.Fatalf("precondition: ic.t has %d row versions (%v), want %d (instant DDL)", got, err, want)
	}
}

// reorganizedPartitionsCase: partition p2 is split into p2 and p3 between the backups, and p0
// and p1 merged.
func reorganizedPartitionsCase() storageCase {
	has := func(files ...string) func(t *testing.T, datadir string) {
		return func(t *testing.T, datadir string) {
			t.Helper()
			got, _ := filepath.Glob(filepath.Join(datadir, "pt", "*.ibd"))
			for i := range got {
				got[i] = filepath.Base(got[i])
			}
			if strings.Join(got, " ") != strings.Join(files, " ") {
				t.Fatalf("precondition: pt holds %v, want %v", got, files)
			}
		}
	}
	return storageCase{
		name: "partitions reorganized", schema: "pt",
		setup: []string{
			"SET SESSION cte_max_recursion_depth = 100000", "CREATE DATABASE pt",
			"CREATE TABLE pt.t" + layoutColumns + " PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (1000), PARTITION p1 VALUES LESS THAN (2000), PARTITION p2 VALUES LESS THAN MAXVALUE)",
			fmt.Sprintf(layoutFill, "pt.t", 3000),
		},
		change: []string{
			"ALTER TABLE pt.t REORGANIZE PARTITION p2 INTO (PARTITION p2 VALUES LESS THAN (2500), PARTITION p3 VALUES LESS THAN MAXVALUE)",
			"ALTER TABLE pt.t REORGANIZE PARTITION p0, p1 INTO (PARTITION p01 VALUES LESS THAN (2000))",
			"UPDATE pt.t SET v = CONCAT(v, '+') WHERE id % 3 = 0",
		},
		files:         []string{"pt/t#p#p01.ibd", "pt/t#p#p2.ibd", "pt/t#p#p3.ibd"},
		onDisk:        has("t#p#p0.ibd", "t#p#p1.ibd", "t#p#p2.ibd"),
		changedOnDisk: has("t#p#p01.ibd", "t#p#p2.ibd", "t#p#p3.ibd"),
		restored: func(t *testing.T, datadir, backup string) {
			if backup == "full" {
				has("t#p#p0.ibd", "t#p#p1.ibd", "t#p#p2.ibd")(t, datadir)
			} else {
				has("t#p#p01.ibd", "t#p#p2.ibd", "t#p#p3.ibd")(t, datadir) // the replaced partitions' files are gone
			}
		},
	}
}

// filePageSize is the logical page size page 0's FSP flags give a tablespace file.
func filePageSize(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 128)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	p0, err := innodb.ParsePage0(head)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p0.Flags.LogicalPageSize()
}

// waitForValue polls the server until query answers want (a server-side state change with no
// event to wait on).
func waitForValue(t *testing.T, srv *testmysql.Server, query, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var got string
		if err := srv.Root.QueryRow(query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %q after a minute, want %q", query, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's state
	}
}
