package mysqlsrc_test

import (
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestThrottledChainRestoresExactly: a full and an incremental taken with max_read_rate and
// nice restore to exactly the source's rows; every page read went through the limiter (its
// bytes are the page reads the trailer counts), the process runs at the lower priority, and
// the incremental's scattered changed pages travel in page-list batches (stream format 3).
func TestThrottledChainRestoresExactly(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE th")
	srv.MustExec("CREATE TABLE th.t (id INT PRIMARY KEY, v VARCHAR(40), pad VARBINARY(2000))")
	const rows = 6000 // × 2000 bytes ≈ 12 MB
	srv.Fill("th.t", 0, rows, 2000)
	sourcetest.Checkpoint(t, srv)

	var granted uint64
	defer mysqlsrc.OnThrottled(func(g uint64, _ time.Duration) { granted = g })()
	src := mysqlsrc.New(hclog.NewNullLogger())
	cfg := sourcetest.Config(srv)
	cfg["max_read_rate"] = int64(256 << 20)
	cfg["nice"] = int64(5)

	full, ft := sourcetest.BackupOn(t, src, cfg, nil)
	checkThrottled(t, "full", granted, ft)
	if prio, err := unix.Getpriority(unix.PRIO_PROCESS, os.Getpid()); err != nil || 20-prio < 5 {
		t.Fatalf("nice = 5: the process's main thread runs at nice %d (%v)", 20-prio, err)
	}

	for i := range 40 { // scattered single-row updates: pages far apart
		srv.MustExec("UPDATE th.t SET pad = REVERSE(pad) WHERE id = ?", (i*997)%rows)
	}
	sourcetest.Checkpoint(t, srv)
	granted = 0
	inc, it := sourcetest.BackupOn(t, src, cfg, ft)
	checkThrottled(t, "incremental", granted, it)
	if it.Method != shared.MethodPageTracking {
		t.Fatalf("incremental method %q (%s), want page tracking", it.Method, it.FallbackReason)
	}
	var listed, batches, runs int
	for _, r := range inc {
		if r.Pages != nil {
			batches++
			if r.Pages.PageNumbers != nil {
				listed++
			}
			_ = r.Pages.Runs(16384, func(uint64, uint64, []byte) error { runs++; return nil })
		}
	}
	if listed == 0 || uint64(batches) >= it.Pages {
		t.Fatalf("the incremental sent %d pages in %d batches, %d with a page list: scattered pages are not batched", it.Pages, batches, listed)
	}
	t.Logf("incremental: %d pages in %d batches (%d listed); one batch per run would be %d", it.Pages, batches, listed, runs)

	want := tableSum(t, srv.Root)
	target := sourcetest.RestoreChain(t, src, full, inc)
	restored := testmysql.StartExisting(t, target, testmysql.Options{})
	if got := tableSum(t, restored.Root); got != want {
		t.Fatalf("restored th.t is %q, the source's %q", got, want)
	}
}

func checkThrottled(t *testing.T, what string, granted uint64, tr *shared.Trailer) {
	t.Helper()
	if granted < tr.PageBytes || granted > tr.BytesRead {
		t.Fatalf("%s: the limiter granted %d bytes; the backup sent %d page bytes and read %d bytes: page reads bypass the limiter", what, granted, tr.PageBytes, tr.BytesRead)
	}
}

// tableSum is th.t's row count and a checksum over every row.
func tableSum(t *testing.T, db *sql.DB) string {
	t.Helper()
	var n, sum int64
	if err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(id, v, pad))), 0) FROM th.t").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows, crc sum %d", n, sum)
}
