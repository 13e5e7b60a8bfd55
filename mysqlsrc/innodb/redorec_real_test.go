package innodb_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// capturedRedo is the redo a real server wrote during a varied workload, cut out of its
// #ib_redoN files, and the pages whose FIL_PAGE_LSN lies in it after a clean shutdown.
type capturedRedo struct {
	Header        []byte      // the 512-byte header block of the redo file holding StartLSN
	FirstBlockLSN uint64      // LSN of Blocks[0]
	Blocks        []byte      // whole 512-byte blocks from FirstBlockLSN to the end of the log
	StartLSN      uint64      // a mini-transaction boundary: log_status's LSN before the workload
	EndLSN        uint64      // end of the log written when the redo was cut
	SampleEndLSN  uint64      // a mini-transaction boundary before the undo tablespace work
	Pages         []pageAtLSN `json:"-"`
}

// pageAtLSN is a page of the shut-down datadir whose FIL_PAGE_LSN is in (StartLSN, EndLSN].
type pageAtLSN struct {
	Space, Page uint32
	LSN         uint64
	File        string
}

// redoWorkload touches every kind of page and file operation a tracker must see: B-tree
// inserts, updates and deletes with a secondary index, BLOBs, compressed and redundant tables,
// a spatial index, DDL (create, drop, truncate, rename, index build, instant column), a general
// tablespace, an undo tablespace, AUTO_INCREMENT persistence and temporary tables.
var redoWorkload = []string{
	"SET SESSION cte_max_recursion_depth = 100000",
	"CREATE DATABASE w",
	"USE w",
	"CREATE TABLE w.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, v VARCHAR(200), b LONGBLOB, KEY k_idx (k))",
	`INSERT INTO w.t (k, v) WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 150)
	 SELECT n * 7919 % 1009, CONCAT(SHA2(n, 256), REPEAT('x', n % 50)) FROM seq`,
	"INSERT INTO w.t (k, v, b) VALUES (1, 'blob1', REPEAT(SHA2('a', 256), 200)), (2, 'blob2', REPEAT(SHA2('b', 256), 100))",
	"UPDATE w.t SET v = CONCAT(v, 'u'), k = k + 1 WHERE id % 5 = 0",
	"UPDATE w.t SET b = REPEAT('z', 3000) WHERE v = 'blob2'",
	"UPDATE w.t SET k = k + 0, v = LEFT(v, 20) WHERE id % 11 = 0",
	"DELETE FROM w.t WHERE id % 7 = 0",
	"CREATE TABLE w.z (id INT PRIMARY KEY, k INT, v VARCHAR(200), b BLOB, KEY (k)) ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=4",
	`INSERT INTO w.z WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 120)
	 SELECT n, n % 17, SHA2(n, 256), IF(n % 50 = 0, REPEAT(SHA2(n, 256), 100), NULL) FROM seq`,
	"UPDATE w.z SET v = CONCAT(v, 'uu'), k = k + 1 WHERE id % 4 = 0",
	"DELETE FROM w.z WHERE id % 9 = 0",
	"CREATE TABLE w.r (id INT PRIMARY KEY, v VARCHAR(100), KEY (v)) ROW_FORMAT=REDUNDANT",
	`INSERT INTO w.r WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 100)
	 SELECT n, SHA2(n, 224) FROM seq`,
	"UPDATE w.r SET v = REVERSE(v) WHERE id % 3 = 0",
	"DELETE FROM w.r WHERE id % 4 = 0",
	"CREATE TABLE w.s (id INT PRIMARY KEY, g GEOMETRY NOT NULL SRID 0, SPATIAL INDEX (g))",
	`INSERT INTO w.s WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 60)
	 SELECT n, ST_GeomFromText(CONCAT('POINT(', n, ' ', n % 13, ')')) FROM seq`,
	"DELETE FROM w.s WHERE id % 3 = 0",
	"CREATE TABLESPACE g ADD DATAFILE 'g.ibd'",
	"CREATE TABLE w.ing (id INT PRIMARY KEY, v VARCHAR(50)) TABLESPACE g",
	"INSERT INTO w.ing SELECT id, LEFT(v, 50) FROM w.t",
	"ALTER TABLE w.t ADD INDEX v_idx (v(20))",
	"ALTER TABLE w.t ADD COLUMN c INT NOT NULL DEFAULT 5, ALGORITHM=INSTANT",
	"UPDATE w.t SET c = 6 WHERE id % 13 = 0",
	"RENAME TABLE w.t TO w.t2",
	"TRUNCATE TABLE w.z",
	"INSERT INTO w.z VALUES (1, 1, 'after truncate', NULL)",
	"DROP TABLE w.r",
	"CREATE TEMPORARY TABLE w.tmp (id INT PRIMARY KEY, v VARCHAR(50))",
	"INSERT INTO w.tmp SELECT id, LEFT(v, 50) FROM w.t2",
	"UPDATE w.tmp SET v = 'x'",
}

// captureRealRedo starts a server, runs redoWorkload, truncates an undo tablespace, stops the
// server cleanly and cuts the redo written since the workload began out of its redo files.
func captureRealRedo(t *testing.T) *capturedRedo {
	s := testmysql.Start(t, testmysql.Options{NoComponent: true})
	ctx := context.Background()
	conn, err := s.Root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	start := logStatusLSN(t, conn)
	for _, q := range redoWorkload {
		exec(q)
	}
	beforeUndo := logStatusLSN(t, conn)
	// An undo tablespace writes megabytes of redo (every rollback segment slot is set), so
	// it comes last and stays out of the committed sample.
	exec("CREATE UNDO TABLESPACE u3 ADD DATAFILE 'u3.ibu'")
	truncateUndo(t, conn, exec)
	exec("SET GLOBAL innodb_max_dirty_pages_pct = 0")
	conn.Close()
	// Cut the redo while the server runs: at shutdown the checkpoint moves to the end of the
	// log and the files before it are recycled.
	c := &capturedRedo{StartLSN: start, SampleEndLSN: beforeUndo}
	cutRedo(t, s.DataDir, c)
	s.Stop()
	c.Pages = pagesInRange(t, s.DataDir, c.StartLSN, c.EndLSN)
	return c
}

func logStatusLSN(t *testing.T, conn *sql.Conn) uint64 {
	t.Helper()
	var engines string
	if err := conn.QueryRowContext(context.Background(), "SELECT STORAGE_ENGINES FROM performance_schema.log_status").Scan(&engines); err != nil {
		t.Fatal(err)
	}
	var status struct{ InnoDB struct{ LSN uint64 } }
	if err := json.Unmarshal([]byte(engines), &status); err != nil || status.InnoDB.LSN == 0 {
		t.Fatalf("log_status STORAGE_ENGINES %q: %v", engines, err)
	}
	return status.InnoDB.LSN
}

// truncateUndo makes the server truncate undo tablespace u3: set inactive, purge empties it,
// then it is truncated and set active again. It polls the state the server reports.
func truncateUndo(t *testing.T, conn *sql.Conn, exec func(string)) {
	t.Helper()
	exec("ALTER UNDO TABLESPACE u3 SET INACTIVE")
	deadline := time.Now().Add(time.Minute)
	for {
		var state string
		if err := conn.QueryRowContext(context.Background(),
			"SELECT STATE FROM information_schema.INNODB_TABLESPACES WHERE NAME = 'u3'").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("undo tablespace u3 still %q after a minute", state)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's state, not synchronising on time
	}
	exec("ALTER UNDO TABLESPACE u3 SET ACTIVE")
}

// cutRedo reads the redo files of a running server and keeps the blocks from the one holding
// c.StartLSN to the end of the log written so far (the first block that is not full, or not
// yet valid).
func cutRedo(t *testing.T, dir string, c *capturedRedo) {
	t.Helper()
	c.FirstBlockLSN = c.StartLSN / innodb.RedoBlockSize * innodb.RedoBlockSize
	lsn := c.FirstBlockLSN
	var seen []string
	for _, f := range readRedoFiles(t, dir) {
		h, err := innodb.ParseRedoFileHeader(f.data)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		f.header = h
		seen = append(seen, fmt.Sprintf("%s [%d, %d)", f.name, h.StartLSN, f.endLSN()))
		for lsn >= h.StartLSN && lsn < f.endLSN() {
			if c.Header == nil {
				c.Header = append([]byte(nil), f.data[:innodb.RedoBlockSize]...)
			}
			off := lsn - h.StartLSN + innodb.RedoDataOffset
			b := f.data[off : off+innodb.RedoBlockSize]
			bh, err := innodb.CheckRedoBlockAt(b, lsn)
			if err != nil { // not written yet, or being written: the log ends before it
				c.EndLSN = lsn
				return
			}
			c.Blocks = append(c.Blocks, b...)
			if bh.DataLen < innodb.RedoBlockSize {
				c.EndLSN = lsn + uint64(bh.DataLen)
				return
			}
			lsn += innodb.RedoBlockSize
		}
	}
	t.Fatalf("the redo files do not hold the log from lsn %d to its end (reached %d): %v", c.FirstBlockLSN, lsn, seen)
}

// pagesInRange scans every tablespace file of a shut-down datadir (not the temporary ones,
// whose changes are not logged) and returns the pages whose FIL_PAGE_LSN is in (start, end]: a
// page changed by a mini-transaction gets the LSN where it ends.
func pagesInRange(t *testing.T, dir string, start, end uint64) []pageAtLSN {
	t.Helper()
	var files []string
	for _, pattern := range []string{"ibdata*", "undo_*", "*.ibu", "*.ibd", "*/*.ibd"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	var pages []pageAtLSN
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, "#") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p0, err := innodb.ParsePage0(data)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		size := p0.Flags.PhysicalPageSize()
		for off := 0; off+size <= len(data); off += size {
			p := data[off : off+size]
			if innodb.IsZeroPage(p) {
				continue
			}
			if lsn := innodb.PageLSN(p); lsn > start && lsn <= end {
				pages = append(pages, pageAtLSN{Space: innodb.PageSpaceID(p), Page: innodb.PageNumber(p), LSN: lsn, File: rel})
			}
		}
	}
	return pages
}

var updateRedoSample = flag.Bool("update-redo-sample", false,
	"rewrite "+redoSamplePath+" from the redo TestRedoParserRealServer captures")

// redoSamplePath holds the committed sample: the redo of redoWorkload without the undo
// tablespace work, gzipped JSON of a capturedRedo.
var redoSamplePath = filepath.Join("testdata", "redo", "workload.json.gz")

// TestRedoParserRealServer parses the redo a real server wrote during redoWorkload and checks
// (a) that every group up to the end parses, with no unknown record, and (b) that every page
// whose FIL_PAGE_LSN lies in the range after a clean shutdown is among the pages the parser
// reports, at exactly that LSN, unless its tablespace had a whole-space event.
func TestRedoParserRealServer(t *testing.T) {
	c := captureRealRedo(t)
	counts, groups := walkRedo(t, c, c.EndLSN)
	t.Logf("redo format %d, %d bytes, %d groups from lsn %d to %d: %v", redoFormat(t, c), len(c.Blocks), groups, c.StartLSN, c.EndLSN, counts)
	for _, want := range []innodb.RedoRecordType{innodb.MlogRecInsert, innodb.MlogRecUpdateInPlace, innodb.MlogRecDelete,
		innodb.MlogRecClustDeleteMark, innodb.MlogRecSecDeleteMark, innodb.MlogZipPageCompress, innodb.MlogFileCreate,
		innodb.MlogFileDelete, innodb.MlogFileRename, innodb.MlogFileExtend, innodb.MlogIndexLoad, innodb.MlogTableDynamicMeta,
		innodb.MlogUndoInsert, innodb.MlogInitFilePage2, innodb.MlogCompPageCreateRtree, innodb.MlogZipWriteBlobPtr} {
		if counts[want] == 0 {
			t.Errorf("the workload wrote no %v record: it no longer covers what it should", want)
		}
	}
	checkCompleteness(t, c)
	if *updateRedoSample {
		writeRedoSample(t, c)
	}
}

func redoFormat(t *testing.T, c *capturedRedo) uint32 {
	t.Helper()
	h, err := innodb.ParseRedoFileHeader(c.Header)
	if err != nil {
		t.Fatal(err)
	}
	return h.Format
}

// walkRedo walks c from StartLSN to end, fails the test on any error or if the walk stops
// short, and returns how many records of each type it saw and how many groups.
func walkRedo(t *testing.T, c *capturedRedo, end uint64) (map[innodb.RedoRecordType]int, int) {
	t.Helper()
	w, err := innodb.NewRedoWalker(bytes.NewReader(c.Blocks), redoFormat(t, c), c.FirstBlockLSN, c.StartLSN, end, innodb.RedoParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[innodb.RedoRecordType]int{}
	groups := 0
	for prevEnd := c.StartLSN; ; groups++ {
		g, err := w.Next()
		if err != nil {
			t.Fatalf("after %d groups: %v", groups, err)
		}
		if g == nil {
			break
		}
		if g.StartLSN != prevEnd || g.Records[0].StartLSN != g.StartLSN || g.Records[len(g.Records)-1].EndLSN != g.EndLSN {
			t.Fatalf("group %d [%d, %d) does not follow %d or its records do not fill it", groups, g.StartLSN, g.EndLSN, prevEnd)
		}
		prevEnd = g.EndLSN
		for _, r := range g.Records {
			counts[r.Type]++
		}
	}
	if w.Position() != end {
		t.Fatalf("the walk stopped at lsn %d, want %d", w.Position(), end)
	}
	return counts, groups
}

// checkCompleteness compares the pages the parser reports with the pages of the datadir. A page
// whose FIL_PAGE_LSN is in the range is accounted for if the parser reported it changed by a
// mini-transaction that ends at exactly that LSN; or if a mini-transaction ending there changed
// other pages, of its tablespace or another: InnoDB stamps every page a mini-transaction holds
// X-latched (tree siblings, the root, page 0, the dictionary header page 7 of ibdata1 during
// DDL on other spaces) with its end LSN when it commits, logged change or not, and since crash
// recovery needs every change in the redo, such a page was not changed; or if its
// tablespace saw MLOG_INDEX_LOAD (a bulk index build writes pages without redo). Anything else
// is a miss.
func checkCompleteness(t *testing.T, c *capturedRedo) {
	type pageID struct{ space, page uint32 }
	changed := map[pageID]map[uint64]bool{}
	groupEnds := map[uint64]map[uint32]bool{} // end LSN → spaces the mini-transaction changed
	indexLoad := map[uint32]bool{}
	h := innodb.RedoChangeHandler{
		Page: func(space, page uint32, lsn uint64) {
			id := pageID{space, page}
			if changed[id] == nil {
				changed[id] = map[uint64]bool{}
			}
			changed[id][lsn] = true
			if groupEnds[lsn] == nil {
				groupEnds[lsn] = map[uint32]bool{}
			}
			groupEnds[lsn][space] = true
		},
		Space: func(ev innodb.SpaceEvent) {
			if ev.Type == innodb.MlogIndexLoad {
				indexLoad[ev.Space] = true
			}
		},
	}
	upTo, err := innodb.ChangedPages(bytes.NewReader(c.Blocks), redoFormat(t, c), c.FirstBlockLSN, c.StartLSN, c.EndLSN, innodb.RedoParseOptions{}, h)
	if err != nil || upTo != c.EndLSN {
		t.Fatalf("ChangedPages = %d, %v; want %d, nil", upTo, err, c.EndLSN)
	}
	if len(c.Pages) == 0 {
		t.Fatal("no page of the datadir has an LSN in the range: the scan is broken")
	}
	exact, latched, latchedOther, bySpace := 0, 0, 0, 0
	for _, p := range c.Pages {
		switch {
		case changed[pageID{p.Space, p.Page}][p.LSN]:
			exact++
		case groupEnds[p.LSN][p.Space]:
			latched++
		case groupEnds[p.LSN] != nil:
			latchedOther++
		case indexLoad[p.Space]:
			bySpace++
		default:
			t.Errorf("missed: %s page %d (space %d) has FIL_PAGE_LSN %d in the range, but no mini-transaction ends there", p.File, p.Page, p.Space, p.LSN)
		}
	}
	t.Logf("%d datadir pages have an LSN in the range: %d changed by the redo at that LSN, %d stamped by a mini-transaction that changed other pages of the space, %d by one that changed pages of other spaces only, %d in a space with MLOG_INDEX_LOAD; the parser reported %d changed pages",
		len(c.Pages), exact, latched, latchedOther, bySpace, len(changed))
}

// writeRedoSample commits the redo from StartLSN to SampleEndLSN.
func writeRedoSample(t *testing.T, c *capturedRedo) {
	lastBlock := (c.SampleEndLSN/innodb.RedoBlockSize + 1) * innodb.RedoBlockSize
	sample := capturedRedo{Header: c.Header, FirstBlockLSN: c.FirstBlockLSN, Blocks: c.Blocks[:lastBlock-c.FirstBlockLSN],
		StartLSN: c.StartLSN, EndLSN: c.SampleEndLSN, SampleEndLSN: c.SampleEndLSN}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err := json.NewEncoder(zw).Encode(sample); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(redoSamplePath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(redoSamplePath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d bytes of redo, %d gzipped", redoSamplePath, len(sample.Blocks), buf.Len())
}
