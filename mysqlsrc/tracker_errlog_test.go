package mysqlsrc_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestRedoTrackerErrorLogFile checks that an incremental bridges a server restart only when
// the server's error log file reaches back past the base and shows no redo logging switch
// since: a readable file that does → redo-bitmap; a file moved away (the restarted server
// starts a new one) → every page copied; an injected MY-014088 line → every page copied.
func TestRedoTrackerErrorLogFile(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE el")
	srv.MustExec("CREATE TABLE el.t (id INT PRIMARY KEY, v VARCHAR(40), n INT DEFAULT 0, pad VARBINARY(3000))")
	srv.Fill("el.t", 1, 300, 1000)
	dir := t.TempDir()
	runTracker(t, srv.DataDir, dir)
	src := mysqlsrc.New(hclog.New(&hclog.LoggerOptions{Name: "mysqlsrc", Level: hclog.Info}))
	cfg := sourcetest.Config(srv)
	cfg["tracking_dir"] = dir
	errorLog := srv.Proc.Options.ErrorLog()
	restartAndChange := func() {
		srv.Stop()
		srv.Restart()
		srv.MustExec("UPDATE el.t SET n = n + 1 WHERE id % 7 = 0")
		sourcetest.Checkpoint(t, srv)
	}

	_, full := sourcetest.BackupOn(t, src, cfg, nil)
	restartAndChange()
	_, inc1 := sourcetest.BackupOn(t, src, cfg, full)
	wantBitmap(t, "a restart with the error log file reaching back", inc1)

	// Moved away: the restarted server writes a new file, whose first entry is after the base.
	if err := os.Rename(errorLog, errorLog+".old"); err != nil {
		t.Fatal(err)
	}
	restartAndChange()
	_, inc2 := sourcetest.BackupOn(t, src, cfg, inc1)
	wantFullBecause(t, "the error log file moved away", inc2, "the error log file "+errorLog+" does not reach back to the base")

	// A switch recorded only in the file (as if it came between two polls of the tracker).
	restartAndChange()
	injected := fmt.Sprintf("%s 12 [Warning] [MY-014088] [InnoDB] InnoDB redo logging is disabled. All data could be lost in case of a server crash. Current lsn is %d.\n",
		time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), inc2.CheckpointLSN+1)
	f, err := os.OpenFile(errorLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(injected); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, inc3 := sourcetest.BackupOn(t, src, cfg, inc2)
	wantFullBecause(t, "a MY-014088 entry in the file", inc3, "redo logging was switched off since the base (the error log file "+errorLog+": MY-014088")
}

func wantFullBecause(t *testing.T, name string, tr *shared.Trailer, reason string) {
	t.Helper()
	if tr.Kind != shared.KindIncremental || tr.Method != shared.MethodFull || !strings.Contains(tr.FallbackReason, reason) || !strings.Contains(tr.FallbackReason, "restarted") {
		t.Fatalf("%s: kind %q method %q reason %q, want every page copied because %q", name, tr.Kind, tr.Method, tr.FallbackReason, reason)
	}
}
