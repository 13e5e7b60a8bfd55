package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// storageCase is one InnoDB storage layout a production server may use, backed up full and by a
// page-tracking incremental, each restored and started by a stock mysqld and compared exactly
// with the source at its backup.
type storageCase struct {
	name string
	args []string // the source server's extra options; cases with equal args share a server
	// restoreArgs are options a server started on the restored datadir needs (page size,
	// lower_case_table_names); everything else is stock.
	restoreArgs []string
	schema      string // the feature's tables live here; every table in it is compared
	setup       []string
	change      []string
	// setupFunc and changeFunc run after setup and change (steps SQL alone cannot do).
	setupFunc, changeFunc func(t *testing.T, srv *testmysql.Server)
	// files are the feature's tablespaces (relative to the datadir): the incremental must hold
	// changed pages of each.
	files []string
	// wholeFiles are files the incremental must carry whole (every page of the file at the
	// backup), because page tracking cannot vouch for how they changed.
	wholeFiles []string
	// onDisk asserts the feature's precondition on the source's files (after a checkpoint).
	onDisk func(t *testing.T, datadir string)
	// changedOnDisk asserts the feature's precondition after the change (may be nil).
	changedOnDisk func(t *testing.T, datadir string)
	// fallback, when set, is the recorded reason the incremental must give for not using
	// page tracking; empty: the incremental must be taken by page tracking.
	fallback string
	// restored checks a datadir restored from the "full" or the "incremental" backup before a
	// server starts on it; restoreLog is a line the restore must log.
	restored   func(t *testing.T, datadir, backup string)
	restoreLog string
}

// TestStorageLayouts runs one source server per configuration.
func TestStorageLayouts(t *testing.T) {
	t.Parallel() // its own servers and directories; run beside the other storage tests (make test's long pole)
	const fill = `INSERT INTO %s (id, v, pad) WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 3000)
		SELECT n, CONCAT('row-', n), REPEAT(CONCAT('compressible ', MOD(n, 10), ' '), 40) FROM seq`
	const columns = " (id INT PRIMARY KEY, v VARCHAR(64), pad VARCHAR(1000))"
	cases := []storageCase{
		{
			name:   "page compression",
			schema: "pc",
			setup: []string{
				"SET SESSION cte_max_recursion_depth = 10000",
				"CREATE DATABASE pc",
				"CREATE TABLE pc.zlib" + columns + " COMPRESSION='zlib'",
				"CREATE TABLE pc.lz4" + columns + " COMPRESSION='lz4'",
				fmt.Sprintf(fill, "pc.zlib"), fmt.Sprintf(fill, "pc.lz4"),
			},
			change: []string{
				"UPDATE pc.zlib SET v = CONCAT(v, '+') WHERE id % 5 = 0",
				"UPDATE pc.lz4 SET v = CONCAT(v, '*') WHERE id % 7 = 0",
				"DELETE FROM pc.lz4 WHERE id % 11 = 0",
			},
			files: []string{"pc/zlib.ibd", "pc/lz4.ibd"},
			onDisk: func(t *testing.T, datadir string) {
				for _, f := range []string{"pc/zlib.ibd", "pc/lz4.ibd"} {
					path := filepath.Join(datadir, f)
					if n := countPages(t, path, 16384, innodb.IsPageCompressed); n == 0 {
						t.Fatalf("precondition: %s has no FIL_PAGE_COMPRESSED page", f)
					}
					requireSparse(t, path, "source")
				}
			},
			restored: func(t *testing.T, datadir, _ string) {
				for _, f := range []string{"pc/zlib.ibd", "pc/lz4.ibd"} {
					requireSparse(t, filepath.Join(datadir, f), "restored")
				}
			},
			restoreLog: "transparently compressed file restored sparse",
		},
		{
			name:   "legacy innodb checksums",
			args:   []string{"--innodb-checksum-algorithm=innodb"},
			schema: "lc",
			setup: []string{
				"SET SESSION cte_max_recursion_depth = 10000",
				"CREATE DATABASE lc",
				"CREATE TABLE lc.plain" + columns,
				"CREATE TABLE lc.zip" + columns + " ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8",
				fmt.Sprintf(fill, "lc.plain"), fmt.Sprintf(fill, "lc.zip"),
			},
			change: []string{
				"UPDATE lc.plain SET v = CONCAT(v, '+') WHERE id % 5 = 0",
				"UPDATE lc.zip SET v = CONCAT(v, '*') WHERE id % 7 = 0",
			},
			files: []string{"lc/plain.ibd", "lc/zip.ibd"},
			onDisk: func(t *testing.T, datadir string) {
				for f, size := range map[string]int{"lc/plain.ibd": 16384, "lc/zip.ibd": 8192, "ibdata1": 16384} {
					n := countPages(t, filepath.Join(datadir, f), size, func(p []byte) bool {
						kind, err := innodb.PageChecksumKind(p, size != 16384)
						return err == nil && kind == innodb.ChecksumInnoDB
					})
					if n == 0 {
						t.Fatalf("precondition: %s has no page with the legacy innodb checksum", f)
					}
				}
			},
		},
	}
	runStorageCases(t, cases)
}

// runStorageCases runs each case as a subtest; cases with the same server options share one
// source server (each has its own schema, state file and backups, so each stays independent).
func runStorageCases(t *testing.T, cases []storageCase) {
	servers := map[string]*testmysql.Server{}
	parent := t
	for _, c := range cases {
		key := strings.Join(c.args, " ")
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			if servers[key] == nil { // started by the first case that runs, it outlives the subtest
				servers[key] = testmysql.Start(parent, testmysql.Options{Args: c.args})
			}
			runStorageCase(t, servers[key], c)
		})
	}
}

func runStorageCase(t *testing.T, srv *testmysql.Server, c storageCase) {
	conn, err := srv.Root.Conn(context.Background()) // one session for the session variable
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range c.setup {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	if c.setupFunc != nil {
		c.setupFunc(t, srv)
	}
	sourcetest.Checkpoint(t, srv) // the pages on disk, for the precondition
	c.onDisk(t, srv.DataDir)

	dir := t.TempDir()
	config := writeStreamConfig(t, dir, srv)
	full := backupStream(t, config, filepath.Join(dir, "full.pgt"), "--full")
	wantFull := schemaDigest(t, srv.Root, c.schema)

	for _, q := range c.change {
		srv.MustExec(q)
	}
	if c.changeFunc != nil {
		c.changeFunc(t, srv)
	}
	sourcetest.Checkpoint(t, srv) // tracked pages are those flushed under a newer checkpoint
	if c.changedOnDisk != nil {
		c.changedOnDisk(t, srv.DataDir)
	}
	inc := backupStream(t, config, filepath.Join(dir, "inc.pgt"))
	wantInc := schemaDigest(t, srv.Root, c.schema)
	if maps.Equal(wantFull, wantInc) {
		t.Fatal("the change left every table as it was")
	}
	pages := checkIncremental(t, inc, c.files, c.fallback)
	for _, f := range c.wholeFiles {
		st, err := os.Stat(filepath.Join(srv.DataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if want := int(st.Size() / 16384); pages[f] != want {
			t.Fatalf("the incremental carries %d pages of %s, want all %d", pages[f], f, want)
		}
	}

	for _, r := range []struct {
		name    string
		streams []string
		want    map[string]string
	}{
		{"full", []string{full}, wantFull},
		{"incremental", []string{full, inc}, wantInc},
	} {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel() // the restores and their servers wait on the disk more than on the cores
			target := filepath.Join(t.TempDir(), "datadir")
			args := []string{"restore", "--target", target}
			for _, s := range r.streams {
				args = append(args, "--from", s)
			}
			if log := runHost(t, nil, args...); !strings.Contains(log, c.restoreLog) {
				t.Errorf("the restore's log lacks %q:\n%s", c.restoreLog, log)
			}
			if c.restored != nil {
				c.restored(t, target, r.name)
			}
			restored := testmysql.StartExisting(t, target, testmysql.Options{Args: c.restoreArgs}) // stock options, default checksums
			if got := schemaDigest(t, restored.Root, c.schema); !maps.Equal(got, r.want) {
				t.Fatalf("restored %s schema %v, source at the backup %v", c.schema, got, r.want)
			}
			t.Logf("%s: %d tables equal to the source (CHECKSUM TABLE and row count)", r.name, len(r.want))
		})
	}
}

// writeStreamConfig writes a configuration for backup --stdout of srv, its state file in dir,
// and returns its path.
func writeStreamConfig(t *testing.T, dir string, srv *testmysql.Server) string {
	t.Helper()
	config := filepath.Join(dir, "pagetrack.hcl")
	cfg := fmt.Sprintf("state_file = %q\n\nsource \"mysql\" \"primary\" {\n  dsn     = %q\n  datadir = %q\n}\n",
		filepath.Join(dir, "state.json"), srv.DSN, srv.DataDir)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// runHost runs host-example with the real plugin; stdout goes to out (nil: discarded). It
// returns what went to stderr.
func runHost(t *testing.T, out io.Writer, args ...string) string {
	t.Helper()
	if out == nil {
		out = io.Discard
	}
	var stderr strings.Builder
	if code := pluginhost.Run(context.Background(), pluginBinary, args, out, &stderr); code != 0 {
		t.Fatalf("host-example %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stderr.String()
}

// backupStream writes a backup --stdout stream to path and returns path.
func backupStream(t *testing.T, config, path string, extra ...string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runHost(t, f, append([]string{"backup", "--stdout", "-c", config}, extra...)...)
	return path
}

// checkIncremental asserts the incremental was taken by page tracking (or, with fallback set,
// by the page-LSN scan for that recorded reason, or one of its "|"-separated alternatives)
// and carries changed pages of every one of
// files, and that every page it carries validates.
func checkIncremental(t *testing.T, path string, files []string, fallback string) (pagesPerFile map[string]int) {
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
	spaces := map[uint32]*shared.Tablespace{}
	pages := map[string]int{}
	var trailer *shared.Trailer
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Tablespace != nil:
			spaces[r.Tablespace.FileIndex] = r.Tablespace
		case r.Pages != nil:
			ts := spaces[r.Pages.FileIndex]
			for p := range slicesOf(r.Pages.Data, int(ts.PageSize)) {
				if err := innodb.ValidatePage(p, ts.ZipSize != 0); err != nil {
					t.Errorf("%s: the incremental carries an invalid page: %v", ts.Path, err)
				}
			}
			pages[ts.Path] += len(r.Pages.Data) / int(ts.PageSize)
		case r.Trailer != nil:
			trailer = r.Trailer
		}
	}
	switch {
	case trailer == nil || trailer.Kind != shared.KindIncremental:
		t.Fatalf("incremental trailer %+v; want an incremental", trailer)
	case fallback == "" && trailer.Method != shared.MethodPageTracking:
		t.Fatalf("incremental by %s (%s); want one by page tracking", trailer.Method, trailer.FallbackReason)
	case fallback != "" && !fellBack(trailer, fallback):
		t.Fatalf("incremental by %s (%q); want a page-LSN scan because %q", trailer.Method, trailer.FallbackReason, fallback)
	}
	for _, f := range files {
		if pages[f] == 0 {
			t.Fatalf("the incremental holds no page of %s (pages per file: %v)", f, pages)
		}
	}
	if trailer.FallbackReason != "" {
		t.Logf("incremental by %s (%s)", trailer.Method, trailer.FallbackReason)
	}
	t.Logf("incremental by %s: pages per file %v", trailer.Method, pages)
	return pages
}

// fellBack says whether t is the fallback a step expects: a page-LSN scan for one of the
// "|"-separated reasons in want, or a full copy because the server restarted since the base
// (that rule outranks the others: a restart empties the error log that proves redo logging
// stayed on, mysqlsrc/redolog.go).
func fellBack(t *shared.Trailer, want string) bool {
	switch t.Method {
	case shared.MethodLSNScan:
		return containsAny(t.FallbackReason, strings.Split(want, "|"))
	case shared.MethodFull:
		return strings.Contains(t.FallbackReason, "restarted since the base")
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// slicesOf yields data cut into size-byte pieces.
func slicesOf(data []byte, size int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for i := 0; i+size <= len(data); i += size {
			if !yield(data[i : i+size]) {
				return
			}
		}
	}
}

// schemaDigest is CHECKSUM TABLE and COUNT(*) of every table of schema.
func schemaDigest(t *testing.T, db *sql.DB, schema string) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", schema)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if len(names) == 0 {
		t.Fatalf("schema %s has no tables", schema)
	}
	out := map[string]string{}
	for _, n := range names {
		table := fmt.Sprintf("`%s`.`%s`", schema, n)
		var name string
		var sum sql.NullInt64
		var count int64
		err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&count)
		if my, ok := err.(*mysql.MySQLError); ok && my.Number == erTablespaceDiscarded {
			out[n] = "tablespace discarded"
			continue
		}
		if err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		if err := db.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
			t.Fatalf("CHECKSUM TABLE %s: %v", table, err)
		}
		out[n] = fmt.Sprintf("checksum %d (valid %v), %d rows", sum.Int64, sum.Valid, count)
	}
	return out
}

// erTablespaceDiscarded is ER_TABLESPACE_DISCARDED: the table's tablespace was discarded.
const erTablespaceDiscarded = 1814

// countPages counts the pages of a file for which match holds.
func countPages(t *testing.T, path string, size int, match func([]byte) bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for p := range slicesOf(b, size) {
		if !innodb.IsZeroPage(p) && match(p) {
			n++
		}
	}
	return n
}

// requireSparse asserts that path takes less room on disk than its apparent size.
func requireSparse(t *testing.T, path, which string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if allocated := st.Blocks * 512; allocated >= st.Size {
		t.Fatalf("%s file %s: allocated %d bytes, apparent %d: not sparse", which, path, allocated, st.Size)
	} else {
		t.Logf("%s file %s: apparent %d bytes, allocated %d (%.0f%%)", which, filepath.Base(path), st.Size, allocated, 100*float64(allocated)/float64(st.Size))
	}
}
