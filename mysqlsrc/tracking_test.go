package mysqlsrc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// misses counts live pages with from < FIL_PAGE_LSN ≤ to that the set lacks: pages that
// changed inside the range, were flushed before the checkpoint passed its end, and so must
// have been tracked. It returns a few examples for the failure message.
func misses(t *testing.T, srv *testmysql.Server, set *pagemap.PageSet, from, to uint64) (n, checked int, examples []string) {
	t.Helper()
	err := mysqlsrc.ForEachLivePage(context.Background(), srv.Root, srv.DataDir, 16384, func(space, page uint32, lsn uint64) {
		if lsn <= from || lsn > to {
			return
		}
		checked++
		if !set.Contains(space, page) {
			n++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("space %d page %d lsn %d", space, page, lsn))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, checked, examples
}

// TestTrackedSetIsComplete: while the workload runs, every page whose on-disk LSN lies in
// (C_base, C_now] is in the tracked set for that range (zero misses); and the same check
// catches the set of a range that starts too late (from a later reset point).
func TestTrackedSetIsComplete(t *testing.T) {
	ctx := context.Background()
	srv := testmysql.Start(t, testmysql.Options{})
	wcfg := workload.Config{Schema: "wl", Clients: 4, Seed: 7}
	if err := workload.Setup(ctx, srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	// A table written only between the base and a later reset point: a set that starts at
	// that reset point cannot hold its pages, whatever the workload's hot pages do.
	srv.MustExec("CREATE TABLE wl.early (id INT PRIMARY KEY, v VARCHAR(40), pad VARBINARY(2000))")
	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	src := mysqlsrc.New(hclog.NewNullLogger())
	_, full := sourcetest.BackupOn(t, src, sourcetest.Config(srv), nil)
	base := full.CheckpointLSN

	srv.Fill("wl.early", 0, 3000, 1500)
	run.WaitSteps(ctx, 40)
	sourcetest.Checkpoint(t, srv)
	var reset uint64
	if err := srv.Root.QueryRow("SELECT mysqlbackup_page_track_set(true)").Scan(&reset); err != nil {
		t.Fatal(err)
	}
	sourcetest.Checkpoint(t, srv)
	run.WaitSteps(ctx, 40)
	sourcetest.Checkpoint(t, srv)

	// Freeze DDL, as a backup does, and take the current checkpoint.
	lock, err := srv.Root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "LOCK INSTANCE FOR BACKUP"); err != nil {
		t.Fatal(err)
	}
	defer lock.ExecContext(ctx, "UNLOCK INSTANCE")
	var now uint64
	if err := lock.QueryRowContext(ctx, "SELECT JSON_EXTRACT(STORAGE_ENGINES, '$.InnoDB.LSN_checkpoint') FROM performance_schema.log_status").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if !(base < reset && reset < now) {
		t.Fatalf("no later reset point: base %d, reset %d, now %d", base, reset, now)
	}

	set, err := mysqlsrc.ChangedPages(ctx, srv.Root, srv.DataDir, base, now)
	if err != nil {
		t.Fatal(err)
	}
	n, checked, ex := misses(t, srv, set, base, now)
	t.Logf("tracked set (%d, %d]: %d pages; %d live pages in range checked, %d missed", base, now, set.Len(), checked, n)
	if checked == 0 {
		t.Fatal("no live page changed inside the range: the check proves nothing")
	}
	if n != 0 {
		t.Fatalf("%d changed pages are missing from the tracked set, e.g. %v", n, ex)
	}

	late, err := mysqlsrc.ChangedPages(ctx, srv.Root, srv.DataDir, reset, now)
	if err != nil {
		t.Fatal(err)
	}
	n, _, ex = misses(t, srv, late, base, now)
	t.Logf("set from the later reset point (%d, %d]: %d pages, %d misses against (%d, %d], e.g. %v", reset, now, late.Len(), n, base, now, ex)
	if n == 0 {
		t.Fatal("the completeness check did not catch the set of a range that starts too late")
	}
}

// TestIncrementalReadsOnlyChangedPages: on a dataset of over 200 MB with under 5 % of its
// pages changed, the incremental's own counters show it read at most 1.1 × the changed
// pages plus one page per file.
func TestIncrementalReadsOnlyChangedPages(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE big")
	srv.MustExec("CREATE TABLE big.t (id INT PRIMARY KEY, v VARCHAR(40), pad VARBINARY(3000))")
	const rows = 72000 // × 3000 bytes ≈ 216 MB
	srv.Fill("big.t", 0, rows, 3000)
	// Flush the load first: pages still dirty when tracking starts are tracked when they are
	// flushed, and would count as changed.
	sourcetest.Checkpoint(t, srv)
	src := mysqlsrc.New(hclog.NewNullLogger())
	cfg := sourcetest.Config(srv)
	full := sourcetest.TrailerOf(t, src, cfg, nil)
	if full.PageBytes < 200<<20 {
		t.Fatalf("the dataset is only %d bytes", full.PageBytes)
	}
	for i := range 250 { // scattered single-row updates: a few hundred leaf pages
		srv.MustExec("UPDATE big.t SET pad = REVERSE(pad) WHERE id = ?", (i*7919)%rows)
	}
	sourcetest.Checkpoint(t, srv)
	inc := sourcetest.TrailerOf(t, src, cfg, full)
	t.Logf("full: %d pages; incremental (%s): set %d pages, read %d pages / %d bytes, sent %d pages / %d bytes, %d files",
		full.Pages, inc.Method, inc.PagesInSet, inc.PagesRead, inc.BytesRead, inc.Pages, inc.BytesSent, inc.Tablespaces)
	if inc.Method != shared.MethodPageTracking {
		t.Fatalf("method %q (%s)", inc.Method, inc.FallbackReason)
	}
	if inc.PagesInSet == 0 || inc.PagesInSet*20 > full.Pages {
		t.Fatalf("%d of %d pages changed: not the < 5 %% this test needs", inc.PagesInSet, full.Pages)
	}
	limit := inc.PagesInSet*16384*11/10 + inc.Tablespaces*16384
	if inc.BytesRead > limit {
		t.Fatalf("the incremental read %d bytes from disk, over 1.1 × %d changed pages + one page per file = %d", inc.BytesRead, inc.PagesInSet, limit)
	}
}

// TestTrackingRestartsAfterRestart: a restart after tracking was stopped and started again
// (xb_incremental_disable_enable_pagetracking.sh, then a restart) can leave tracking off, and
// mysqlbackup_page_track_set(true) alone does not start it. The next incremental falls back
// for that reason, and its backup must leave tracking on, so the one after uses it again.
func TestTrackingRestartsAfterRestart(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE tr")
	srv.MustExec("CREATE TABLE tr.t (id INT PRIMARY KEY, v VARCHAR(40), pad VARBINARY(1000))")
	srv.Fill("tr.t", 0, 2000, 500)
	src := mysqlsrc.New(hclog.NewNullLogger())
	cfg := sourcetest.Config(srv)
	full := sourcetest.TrailerOf(t, src, cfg, nil)
	groupStart := func() (lsn int64) {
		if err := srv.Root.QueryRow("SELECT mysqlbackup_page_track_get_start_lsn()").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	// Measured: a restart after a stop and start of tracking left it off in about half the
	// tries (the rest kept the group), so the restart is repeated until the server shows the
	// state; ten tries that all keep tracking on mean the server changed.
	for try := 1; ; try++ {
		srv.MustExec("SELECT mysqlbackup_page_track_set(false)")
		srv.MustExec("SELECT mysqlbackup_page_track_set(true)")
		srv.Stop()
		srv.Restart()
		if groupStart() == 0 {
			t.Logf("tracking off after restart %d", try)
			break
		}
		if try == 10 {
			t.Fatal("precondition: tracking stayed on across 10 restarts after a stop and start; the server no longer behaves as measured")
		}
	}
	srv.MustExec("UPDATE tr.t SET v = 'after restart' WHERE id % 7 = 0")
	sourcetest.Checkpoint(t, srv)
	first := sourcetest.TrailerOf(t, src, cfg, full)
	// A restart since the base makes the incremental copy every page (the error log that would
	// prove redo logging stayed on is gone; redolog.go), whatever tracking says.
	if first.Method != shared.MethodFull || !strings.Contains(first.FallbackReason, "restart") {
		t.Fatalf("incremental after the restart: %s (%s); want a full copy because the server restarted", first.Method, first.FallbackReason)
	}
	if g := groupStart(); g == 0 {
		t.Fatal("the backup left page tracking off")
	}
	srv.MustExec("UPDATE tr.t SET v = 'tracked again' WHERE id % 5 = 0")
	sourcetest.Checkpoint(t, srv)
	next := sourcetest.TrailerOf(t, src, cfg, first)
	if next.Method != shared.MethodPageTracking {
		t.Fatalf("the incremental after that: %s (%s); want page tracking", next.Method, next.FallbackReason)
	}
	t.Logf("after the restart: %s (%s); next: %s, %d pages in the tracked set", first.Method, first.FallbackReason, next.Method, next.PagesInSet)
}

// TestPagesBeforeBase: an incremental counts the tracked pages whose FIL_PAGE_LSN is at or
// below the base's checkpoint, the same count a scan of the live pages in the server's own
// tracked set gives, and (redo logging having stayed on) sends none of them; the chain still
// restores every page the incremental's checkpoint holds byte for byte.
func TestPagesBeforeBase(t *testing.T) {
	ctx := context.Background()
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE pb")
	srv.MustExec("CREATE TABLE pb.t (id INT PRIMARY KEY, v VARCHAR(40), pad VARBINARY(2000))")
	srv.Fill("pb.t", 0, 4000, 1500)
	// Left dirty: the base's own wait for the checkpoint flushes these pages, and a page
	// flushed while the server's LSN is past the base's checkpoint lands in the next range.
	src := mysqlsrc.New(hclog.NewNullLogger())
	cfg := sourcetest.Config(srv)
	fullRecs, full := sourcetest.BackupOn(t, src, cfg, nil)
	for i := range 40 {
		srv.MustExec("UPDATE pb.t SET v = 'changed' WHERE id = ?", i*97)
	}
	sourcetest.Checkpoint(t, srv)
	incRecs, inc := sourcetest.BackupOn(t, src, cfg, full)
	if inc.Method != shared.MethodPageTracking {
		t.Fatalf("method %q (%s)", inc.Method, inc.FallbackReason)
	}
	set, err := mysqlsrc.ChangedPages(ctx, srv.Root, srv.DataDir, full.CheckpointLSN, inc.CheckpointLSN)
	if err != nil {
		t.Fatal(err)
	}
	var before, after uint64
	err = mysqlsrc.ForEachLivePageData(ctx, srv.Root, srv.DataDir, 16384, func(space, page uint32, data []byte) {
		if !set.Contains(space, page) || isZero(data) {
			return
		}
		if lsn := pageLSN(data); lsn <= full.CheckpointLSN {
			before++
		} else if lsn <= inc.CheckpointLSN {
			after++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base checkpoint %d, incremental checkpoint %d: %d pages in the set, %d changed only before the base (trailer %d, %d skipped), %d after; %d pages sent, wait %d µs",
		full.CheckpointLSN, inc.CheckpointLSN, inc.PagesInSet, before, inc.PagesBeforeBase, inc.PagesBeforeBaseSkipped, after, inc.Pages, inc.CheckpointWaitMicros)
	if before == 0 || after == 0 {
		t.Fatalf("%d tracked pages from before the base and %d after: the check needs both", before, after)
	}
	if inc.PagesBeforeBase != before || inc.PagesBeforeBaseSkipped != before {
		t.Fatalf("the trailer counts %d pages before the base (%d skipped), the live pages %d", inc.PagesBeforeBase, inc.PagesBeforeBaseSkipped, before)
	}
	for _, r := range incRecs {
		if r.Pages == nil {
			continue
		}
		for off := 0; off+16384 <= len(r.Pages.Data); off += 16384 {
			if p := r.Pages.Data[off : off+16384]; !isZero(p) && pageLSN(p) <= full.CheckpointLSN && r.Pages.FirstPage+uint64(off/16384) != 0 {
				t.Fatalf("file %d page %d (LSN %d, at or below the base's checkpoint) was sent", r.Pages.FileIndex, r.Pages.FirstPage+uint64(off/16384), pageLSN(p))
			}
		}
	}
	restored := sourcetest.RestoreChain(t, src, fullRecs, incRecs)
	compared := sameAsLive(t, srv.DataDir, restored, inc.CheckpointLSN)
	t.Logf("%d restored pages compared with the live ones", compared)
}

func pageLSN(p []byte) uint64 { return binary.BigEndian.Uint64(p[16:]) }

func isZero(p []byte) bool { return bytes.Count(p, []byte{0}) == len(p) }

// sameAsLive compares every page of the restored .ibd files whose live copy has an LSN at or
// below upTo (what the restored chain holds before recovery) with the live one; it returns
// how many it compared.
func sameAsLive(t *testing.T, live, restored string, upTo uint64) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(live, "pb"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ibd") {
			return err
		}
		rel, _ := filepath.Rel(live, path)
		a, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(restored, rel))
		if err != nil {
			return err
		}
		for off := 0; off+16384 <= len(a); off += 16384 {
			p := a[off : off+16384]
			if pageLSN(p) > upTo || off/16384 == 0 {
				continue
			}
			if off+16384 > len(b) || !bytes.Equal(p, b[off:off+16384]) {
				t.Errorf("%s page %d (live LSN %d) differs in the restored chain", rel, off/16384, pageLSN(p))
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no restored page compared")
	}
	return n
}
