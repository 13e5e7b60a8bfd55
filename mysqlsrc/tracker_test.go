package mysqlsrc_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// runTracker runs a redo tracker on srv's datadir into dir until the returned stop is called
// (or the test ends); stop returns its last status and fails the test if Run failed.
func runTracker(t *testing.T, datadir, dir string) (tr *mysqlsrc.Tracker, stop func() mysqlsrc.TrackerStatus) {
	t.Helper()
	tr, err := mysqlsrc.NewTracker(mysqlsrc.TrackerConfig{Datadir: datadir, Dir: dir,
		Log: hclog.New(&hclog.LoggerOptions{Name: "tracker", Level: hclog.Info})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	stopped := false
	stop = func() mysqlsrc.TrackerStatus {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("tracker: %v", err)
			}
		}
		return tr.Status()
	}
	t.Cleanup(func() { stop() })
	// Wait for its first look at the redo, so that tracking begins before what the test does.
	deadline := time.Now().Add(time.Minute)
	for tr.Status().TrackedLSN == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the tracker did not start: %+v", tr.Status())
		}
		time.Sleep(5 * time.Millisecond) // polling the tracker's status
	}
	return tr, stop
}

// waitStatus polls the tracker's status until ok says yes.
func waitStatus(t *testing.T, tr *mysqlsrc.Tracker, what string, ok func(mysqlsrc.TrackerStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok(tr.Status()) {
		if time.Now().After(deadline) {
			t.Fatalf("the tracker did not see %s: %+v", what, tr.Status())
		}
		time.Sleep(5 * time.Millisecond) // polling the tracker's status
	}
}

// load runs the 4-client workload for steps steps per client and stops it.
func load(t *testing.T, srv *testmysql.Server, cfg workload.Config, steps int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := workload.Start(ctx, srv.Root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	werr := run.WaitSteps(ctx, steps)
	if _, err := run.Stop(); err != nil || werr != nil {
		t.Fatalf("workload: %v, %v", werr, err)
	}
}

// ddl runs DDL of every kind that rewrites or creates files and indexes, round n.
func ddl(t *testing.T, srv *testmysql.Server, n int) {
	t.Helper()
	for _, q := range []string{
		fmt.Sprintf("CREATE TABLE trk.side%d (id INT PRIMARY KEY, v VARCHAR(200), w INT)", n),
		fmt.Sprintf("INSERT INTO trk.side%d SELECT seq, REPEAT('x', 150), seq FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq+1 FROM s WHERE seq < 1000) SELECT seq FROM s) q", n),
		fmt.Sprintf("ALTER TABLE trk.side%d ADD INDEX by_w (w), ALGORITHM=INPLACE", n),
		fmt.Sprintf("ALTER TABLE trk.side%d ADD COLUMN z INT DEFAULT 7, ALGORITHM=INSTANT", n),
		fmt.Sprintf("UPDATE trk.side%d SET z = id WHERE id %% 3 = 0", n),
		fmt.Sprintf("ALTER TABLE trk.side%d ENGINE=InnoDB", n), // a copy into a new file
		fmt.Sprintf("RENAME TABLE trk.side%d TO trk.moved%d", n, n),
		fmt.Sprintf("CREATE TABLE trk.gone%d (id INT PRIMARY KEY) SELECT id FROM trk.moved%d", n, n),
		fmt.Sprintf("DROP TABLE trk.gone%d", n),
		fmt.Sprintf("TRUNCATE TABLE trk.moved%d", n),
	} {
		srv.MustExec(q)
	}
}

// liveState is what a restored server must show: the workload's steps and the side tables.
func liveState(t *testing.T, db *sql.DB, cfg workload.Config) string {
	t.Helper()
	res, err := workload.Check(context.Background(), db, cfg)
	if err != nil {
		t.Fatalf("workload check: %v", err)
	}
	var tables []string
	rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'trk' ORDER BY TABLE_NAME")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	sums := fmt.Sprint(res.Steps)
	for _, tb := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow("CHECKSUM TABLE trk."+tb).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		sums += fmt.Sprintf(" %s=%d", tb, sum.Int64)
	}
	return sums
}

// checkRestores restores the chain and compares the restored server with want.
func checkRestores(t *testing.T, src shared.Source, cfg workload.Config, want string, chain ...[]*shared.Record) {
	t.Helper()
	dir := sourcetest.RestoreChain(t, src, chain...)
	restored := testmysql.StartExisting(t, dir, testmysql.Options{})
	defer restored.Stop()
	if got := liveState(t, restored.Root, cfg); got != want {
		t.Fatalf("the restored chain of %d holds %s, the server held %s", len(chain), got, want)
	}
}

func wantBitmap(t *testing.T, name string, tr *shared.Trailer) {
	t.Helper()
	if tr.Kind != shared.KindIncremental || tr.Method != shared.MethodRedoBitmap || tr.FallbackReason != "" {
		t.Fatalf("%s: kind %q method %q reason %q, want an incremental by %s", name, tr.Kind, tr.Method, tr.FallbackReason, shared.MethodRedoBitmap)
	}
	if tr.PagesInSet == 0 {
		t.Fatalf("%s: an empty changed-page set after a workload", name)
	}
}

// TestRedoTrackerChain runs the tracker beside a server through a clean restart, a kill -9 and
// a stop of the tracker itself: every incremental reads the bitmaps and restores exactly. Then,
// on the same server, the completeness of the bitmaps against a scan of the live files, and a
// copy of the real redo with an unknown record type injected, which makes the range untrusted.
func TestRedoTrackerChain(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	wl := workload.Config{Schema: "trk", Clients: 4, Accounts: 20, Slots: 4, BlobSize: 12 << 10, Seed: 14}
	if err := workload.Setup(context.Background(), srv.Root, wl); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, stopTracker := runTracker(t, srv.DataDir, dir)
	src := mysqlsrc.New(hclog.New(&hclog.LoggerOptions{Name: "mysqlsrc", Level: hclog.Info}))
	cfg := sourcetest.Config(srv)
	cfg["tracking_dir"] = dir
	steps := 0
	step := func(n int) { steps += n; load(t, srv, wl, steps) }

	fullRecs, full := sourcetest.BackupOn(t, src, cfg, nil)
	chain := [][]*shared.Record{fullRecs}

	step(40)
	ddl(t, srv, 1)
	srv.Stop()
	srv.Restart()
	step(40)
	sourcetest.Checkpoint(t, srv)
	recs1, inc1 := sourcetest.BackupOn(t, src, cfg, full)
	wantBitmap(t, "after a clean restart", inc1)
	chain = append(chain, recs1)
	checkRestores(t, src, wl, liveState(t, srv.Root, wl), chain...)

	step(40)
	ddl(t, srv, 2)
	srv.Kill()
	srv.Restart()
	step(40)
	sourcetest.Checkpoint(t, srv)
	recs2, inc2 := sourcetest.BackupOn(t, src, cfg, inc1)
	wantBitmap(t, "after kill -9", inc2)
	chain = append(chain, recs2)
	checkRestores(t, src, wl, liveState(t, srv.Root, wl), chain...)

	// The tracker stopped and started again while the redo still holds its position.
	status := stopTracker()
	if status.TrackedLSN < inc2.CheckpointLSN || len(status.Gaps) != 0 || status.MaxTrackedLSNAge == 0 || status.WrittenLSN < status.TrackedLSN || status.LastError != "" {
		t.Fatalf("tracker status %+v after the second incremental (checkpoint %d)", status, inc2.CheckpointLSN)
	}
	step(30)
	_, stopTracker = runTracker(t, srv.DataDir, dir)
	step(10)
	sourcetest.Checkpoint(t, srv)
	recs3, inc3 := sourcetest.BackupOn(t, src, cfg, inc2)
	wantBitmap(t, "after the tracker was stopped", inc3)
	chain = append(chain, recs3)
	checkRestores(t, src, wl, liveState(t, srv.Root, wl), chain...)

	t.Run("completeness", func(t *testing.T) { testBitmapCompleteness(t, srv, src, cfg, dir, wl, &steps) })
	t.Run("injected unknown record", func(t *testing.T) { testInjectedRedo(t, srv, src, cfg, dir, stopTracker, wl, &steps) })
}

// testBitmapCompleteness checks every page whose FIL_PAGE_LSN lies in (C_base, C] against the
// bitmaps' set for [C_base, C): it must be in the set, or be byte for byte the base's copy apart
// from its checksum and LSN fields (a page a mini-transaction only latched). The set must be no
// larger than 1.1 × the component's for the same range.
func testBitmapCompleteness(t *testing.T, srv *testmysql.Server, src shared.Source, cfg shared.Config, dir string, wl workload.Config, steps *int) {
	baseRecs, base := sourcetest.BackupOn(t, src, cfg, nil)
	*steps += 40
	load(t, srv, wl, *steps)
	ddl(t, srv, 3)
	*steps += 20
	load(t, srv, wl, *steps)
	sourcetest.Checkpoint(t, srv)
	_, inc := sourcetest.BackupOn(t, src, cfg, base)
	wantBitmap(t, "completeness", inc)
	from, to := base.CheckpointLSN, inc.CheckpointLSN

	files, err := pagemap.ListBitmapFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	set := pagemap.NewPageSet()
	if err := pagemap.ReadBitmaps(files, from, to, set); err != nil {
		t.Fatal(err)
	}
	component, err := mysqlsrc.ChangedPages(context.Background(), srv.Root, srv.DataDir, from, to)
	if err != nil {
		t.Fatal(err)
	}

	// The base's copy of every page, by space id.
	type baseFile struct {
		size  uint32
		pages map[uint64][]byte
		zip   bool
	}
	byIndex := map[uint32]*baseFile{}
	bySpace := map[uint32]*baseFile{}
	for _, r := range baseRecs {
		switch {
		case r.Tablespace != nil:
			if byIndex[r.Tablespace.FileIndex] == nil {
				f := &baseFile{size: r.Tablespace.PageSize, pages: map[uint64][]byte{}, zip: r.Tablespace.ZipSize != 0}
				byIndex[r.Tablespace.FileIndex], bySpace[r.Tablespace.SpaceID] = f, f
			}
		case r.Pages != nil:
			f := byIndex[r.Pages.FileIndex]
			for i := 0; i*int(f.size) < len(r.Pages.Data); i++ {
				f.pages[r.Pages.FirstPage+uint64(i)] = r.Pages.Data[i*int(f.size) : (i+1)*int(f.size)]
			}
		}
	}
	var inRange, inSet, latchedOnly, notInBase int
	var misses []string
	err = mysqlsrc.ForEachLivePageData(context.Background(), srv.Root, srv.DataDir, 16384, func(space, page uint32, data []byte) {
		lsn := innodb.PageLSN(data)
		if lsn <= from || lsn > to {
			return
		}
		inRange++
		if set.Contains(space, page) {
			inSet++
			return
		}
		bf := bySpace[space]
		if bf == nil || bf.pages[uint64(page)] == nil {
			notInBase++ // a file or page added since the base: copied whole
			return
		}
		if sameApartFromLSN(bf.pages[uint64(page)], data, bf.zip) {
			latchedOnly++
			return
		}
		misses = append(misses, fmt.Sprintf("space %d page %d (LSN %d, type %d)", space, page, lsn, innodb.PageType(data)))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("range (%d, %d]: %d pages in it on disk: %d in the redo set, %d latch-only (same as the base apart from LSN and checksum), %d new since the base; set %d pages, component %d",
		from, to, inRange, inSet, latchedOnly, notInBase, set.Len(), component.Len())
	if len(misses) > 0 {
		t.Fatalf("%d pages changed in the range are neither in the redo set nor equal to the base's copy: %s", len(misses), strings.Join(misses[:min(10, len(misses))], "; "))
	}
	if inSet == 0 {
		t.Fatal("no page of the range was in the set: the check checked nothing")
	}
	if float64(set.Len()) > 1.1*float64(component.Len()) {
		t.Fatalf("the redo set has %d pages, more than 1.1 × the component's %d", set.Len(), component.Len())
	}
}

// sameApartFromLSN compares two copies of a page leaving out the checksum, FIL_PAGE_LSN and,
// on uncompressed pages, the trailer (old checksum and low LSN bytes).
func sameApartFromLSN(a, b []byte, zip bool) bool {
	if len(a) != len(b) {
		return false
	}
	end := len(a)
	if !zip {
		end -= 8
	}
	return bytes.Equal(a[4:16], b[4:16]) && bytes.Equal(a[24:end], b[24:end])
}

// testInjectedRedo copies the tracker's directory and the live redo, puts an unknown record
// type at a group start in the copy, and runs a tracker on the copy: the range from that group
// on is a gap, and an incremental using the copy's bitmaps falls back, naming it.
func testInjectedRedo(t *testing.T, srv *testmysql.Server, src shared.Source, cfg shared.Config, dir string, stopTracker func() mysqlsrc.TrackerStatus, wl workload.Config, steps *int) {
	_, base := sourcetest.BackupOn(t, src, cfg, nil)
	status := stopTracker()
	copyDir := t.TempDir()
	copyFiles(t, dir, copyDir)
	*steps += 20
	load(t, srv, wl, *steps)
	sourcetest.Checkpoint(t, srv)
	fake := t.TempDir()
	copyFiles(t, filepath.Join(srv.DataDir, "#innodb_redo"), filepath.Join(fake, "#innodb_redo"))
	at := injectUnknownRecord(t, filepath.Join(fake, "#innodb_redo"), status.TrackedLSN)

	tr, err := mysqlsrc.NewTracker(mysqlsrc.TrackerConfig{Datadir: fake, Dir: copyDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := mysqlsrc.TrackOnce(tr); err != nil {
		t.Fatal(err)
	}
	st := tr.Status()
	if len(st.Gaps) != 1 || st.Gaps[0].Start != at || !strings.Contains(st.Gaps[0].Reason, "unknown redo record type") {
		t.Fatalf("tracker on the damaged copy: %+v; want one gap from LSN %d for an unknown record type", st, at)
	}
	// A damaged block (a flipped byte, its checksum left as it was) in another copy of the live
	// redo, tracked from the real tracker's own state: a gap from the group that holds it.
	fake2, copyDir2 := t.TempDir(), t.TempDir()
	copyFiles(t, dir, copyDir2)
	copyFiles(t, filepath.Join(srv.DataDir, "#innodb_redo"), filepath.Join(fake2, "#innodb_redo"))
	flipByteAt(t, filepath.Join(fake2, "#innodb_redo"), at+1000)
	tr2, err := mysqlsrc.NewTracker(mysqlsrc.TrackerConfig{Datadir: fake2, Dir: copyDir2})
	if err != nil {
		t.Fatal(err)
	}
	if err := mysqlsrc.TrackOnce(tr2); err != nil {
		t.Fatal(err)
	}
	st2 := tr2.Status()
	if len(st2.Gaps) != 1 || st2.Gaps[0].Kind != mysqlsrc.GapUntrusted || !strings.Contains(st2.Gaps[0].Reason, "bad redo block") ||
		st2.Gaps[0].Start <= status.TrackedLSN || st2.Gaps[0].Start > at+1000 || st2.TrackedLSN <= at+1000 {
		t.Fatalf("tracker on the copy with a damaged block at LSN %d: %+v; want one untrusted gap from the group holding it", at+1000, st2)
	}
	bad := shared.Config{}
	for k, v := range cfg {
		bad[k] = v
	}
	bad["tracking_dir"] = copyDir
	bad["tracker_wait_timeout"] = int64(0)
	_, inc := sourcetest.BackupOn(t, src, bad, base)
	if inc.Method == shared.MethodRedoBitmap || !strings.Contains(inc.FallbackReason, "unknown redo record type") {
		t.Fatalf("incremental on damaged bitmaps: method %q reason %q, want a fallback naming the unknown record", inc.Method, inc.FallbackReason)
	}
}

func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o750); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// injectUnknownRecord finds the first group that starts at or after lsn in the redo files of
// dir (after the first one, so that the walk has something good before it), gives its first
// record type 127 (no format uses it) and fixes the block's checksum. It returns the group's LSN.
func injectUnknownRecord(t *testing.T, dir string, lsn uint64) uint64 {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "#ib_redo") || strings.HasSuffix(e.Name(), "_tmp") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := innodb.ParseRedoFileHeader(data[:512])
		if err != nil || lsn < h.StartLSN || lsn >= h.StartLSN+uint64(len(data))-2048 {
			continue
		}
		block := lsn / 512 * 512
		end := h.StartLSN + uint64(len(data)) - 2048 - 512 + innodb.RedoBlockHeaderSize
		w, err := innodb.NewRedoWalker(bytes.NewReader(data[2048+block-h.StartLSN:]), innodb.RedoFormat, block, lsn, end, innodb.RedoParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Next(); err != nil {
			t.Fatalf("walking the copy from %d: %v", lsn, err)
		}
		at := w.Position()
		off := 2048 + at - h.StartLSN
		data[off] = 127
		blk := data[off/512*512 : off/512*512+512]
		innodb.SetRedoBlockChecksum(blk)
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		return at
	}
	t.Fatalf("no redo file in %s holds LSN %d", dir, lsn)
	return 0
}

// TestRedoTrackerRecycled stops the tracker until the server has recycled the redo it had not
// read: the tracker records the gap, and the incremental falls back naming it.
func TestRedoTrackerRecycled(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{RedoCapacity: 8 << 20})
	srv.MustExec("CREATE DATABASE rc")
	srv.MustExec("CREATE TABLE rc.t (id INT PRIMARY KEY, v VARCHAR(40), n INT DEFAULT 0, pad VARBINARY(3000))")
	srv.Fill("rc.t", 1, 500, 2000)
	dir := t.TempDir()
	_, stop := runTracker(t, srv.DataDir, dir)
	src := mysqlsrc.New(hclog.New(&hclog.LoggerOptions{Name: "mysqlsrc", Level: hclog.Info}))
	cfg := sourcetest.Config(srv)
	cfg["tracking_dir"] = dir
	_, base := sourcetest.BackupOn(t, src, cfg, nil)
	sourcetest.Checkpoint(t, srv)
	stopped := stop()
	// Far more redo than the capacity, with checkpoints, while nobody reads it.
	for round := 0; round < 6; round++ {
		srv.MustExec("UPDATE rc.t SET n = n + 1, pad = CONCAT(RANDOM_BYTES(1000), RANDOM_BYTES(1000))")
		sourcetest.Checkpoint(t, srv)
	}
	if oldest := oldestRedo(t, srv.DataDir); oldest <= stopped.TrackedLSN {
		t.Fatalf("the redo still holds LSN %d (oldest file starts at %d): the test did not recycle it", stopped.TrackedLSN, oldest)
	}
	tr, _ := runTracker(t, srv.DataDir, dir)
	_, inc := sourcetest.BackupOn(t, src, cfg, base)
	if inc.Method != shared.MethodPageTracking && inc.Method != shared.MethodLSNScan || !strings.Contains(inc.FallbackReason, "recycled") {
		t.Fatalf("method %q reason %q, want a fallback because the redo was recycled", inc.Method, inc.FallbackReason)
	}

	// Redo logging switched off and on, then a restart that empties the error log: only the
	// tracker saw the switch, and its gap keeps the incremental from bridging the restart.
	sourcetest.Checkpoint(t, srv)
	_, base = sourcetest.BackupOn(t, src, cfg, nil)
	srv.MustExec("ALTER INSTANCE DISABLE INNODB REDO_LOG")
	waitStatus(t, tr, "redo logging off", func(s mysqlsrc.TrackerStatus) bool { return s.RedoLoggingOff })
	srv.MustExec("UPDATE rc.t SET n = n + 1000 WHERE id <= 100")
	srv.MustExec("ALTER INSTANCE ENABLE INNODB REDO_LOG")
	srv.MustExec("UPDATE rc.t SET n = n + 1 WHERE id = 1")
	sourcetest.Checkpoint(t, srv)
	waitStatus(t, tr, "redo logging on again", func(s mysqlsrc.TrackerStatus) bool {
		if len(s.Gaps) == 0 {
			return false
		}
		last := s.Gaps[len(s.Gaps)-1]
		return !s.RedoLoggingOff && last.End > last.Start && strings.Contains(last.Reason, "redo logging was switched off")
	})
	srv.Stop()
	srv.Restart()
	_, inc = sourcetest.BackupOn(t, src, cfg, base)
	if inc.Method != shared.MethodFull || !strings.Contains(inc.FallbackReason, "saw redo logging switched off") {
		t.Fatalf("after redo logging was off and a restart: method %q reason %q, want every page copied because the tracker saw the switch", inc.Method, inc.FallbackReason)
	}
}

func oldestRedo(t *testing.T, datadir string) uint64 {
	t.Helper()
	dir := filepath.Join(datadir, "#innodb_redo")
	entries, _ := os.ReadDir(dir)
	oldest := ^uint64(0)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "#ib_redo") || strings.HasSuffix(e.Name(), "_tmp") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		head := make([]byte, 512)
		f.ReadAt(head, 0)
		f.Close()
		if h, err := innodb.ParseRedoFileHeader(head); err == nil {
			oldest = min(oldest, h.StartLSN)
		}
	}
	return oldest
}

// flipByteAt inverts the byte at lsn in the redo files of dir.
func flipByteAt(t *testing.T, dir string, lsn uint64) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_tmp") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil || len(data) < 2048 {
			continue
		}
		h, err := innodb.ParseRedoFileHeader(data[:512])
		if err != nil || lsn < h.StartLSN || lsn >= h.StartLSN+uint64(len(data))-2048 {
			continue
		}
		data[2048+lsn-h.StartLSN] ^= 0xFF
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no redo file in %s holds LSN %d", dir, lsn)
}
