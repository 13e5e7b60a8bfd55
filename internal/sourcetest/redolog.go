package sourcetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/shared"
)

// erLockWaitTimeout is ER_LOCK_WAIT_TIMEOUT.
const erLockWaitTimeout = 1205

// RunRedoLogging checks backups against redo logging switched off (ALTER INSTANCE DISABLE
// INNODB REDO_LOG) on srv: refused while it is off, a full copy after it was off since the
// base, page tracking when it stayed on. The subtests share srv; each switches logging back on.
func RunRedoLogging(t *testing.T, src shared.Source, srv *testmysql.Server) {
	cfg := Config(srv)
	srv.MustExec("CREATE DATABASE redo")
	srv.MustExec("CREATE TABLE redo.t (id INT PRIMARY KEY, v INT, pad VARCHAR(200))")
	for lo := 0; lo < 500; lo += 100 {
		var b strings.Builder
		for id := lo; id < lo+100; id++ {
			if id > lo {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%d, %d, REPEAT('x', 200))", id, id)
		}
		srv.MustExec("INSERT INTO redo.t VALUES " + b.String())
	}
	redoOff := func(t *testing.T) {
		srv.MustExec("ALTER INSTANCE DISABLE INNODB REDO_LOG")
		t.Cleanup(func() { srv.MustExec("ALTER INSTANCE ENABLE INNODB REDO_LOG") })
	}

	t.Run("the backup lock holds off a switch", func(t *testing.T) {
		stream := startBackup(t, src, cfg, nil)
		if r, err := stream.Recv(); err != nil || r.Header == nil {
			t.Fatalf("first record %+v, %v; want the header, sent under the backup lock", r, err)
		}
		conn, err := srv.Root.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "SET SESSION lock_wait_timeout = 1"); err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(context.Background(), "ALTER INSTANCE DISABLE INNODB REDO_LOG")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != erLockWaitTimeout {
			if err == nil {
				srv.MustExec("ALTER INSTANCE ENABLE INNODB REDO_LOG")
			}
			t.Fatalf("ALTER INSTANCE DISABLE INNODB REDO_LOG during a backup: %v; want error %d (it waits for the backup lock)", err, erLockWaitTimeout)
		}
		recs, err := drain(stream)
		if err != nil || recs[len(recs)-1].Trailer == nil {
			t.Fatalf("the backup after the refused switch: %v", err)
		}
		if on := redoLogEnabled(t, srv.Root); on != "ON" {
			t.Fatalf("Innodb_redo_log_enabled = %s after the refused switch", on)
		}
	})

	t.Run("refused before a full", func(t *testing.T) {
		redoOff(t)
		checkRedoOffRefusal(t, src, cfg, nil)
	})

	t.Run("refused before an incremental", func(t *testing.T) {
		base := TrailerOf(t, src, cfg, nil)
		redoOff(t)
		checkRedoOffRefusal(t, src, cfg, base)
	})

	t.Run("off then on since the base: a full copy that restores every row", func(t *testing.T) {
		baseRecs, base := BackupOn(t, src, cfg, nil)
		srv.MustExec("ALTER INSTANCE DISABLE INNODB REDO_LOG")
		srv.MustExec("UPDATE redo.t SET v = v + 1000 WHERE id < 499")
		srv.MustExec("ALTER INSTANCE ENABLE INNODB REDO_LOG")
		srv.MustExec("INSERT INTO redo.t VALUES (1000, 1000, 'after')")
		recs, inc := BackupOn(t, src, cfg, base)
		if inc.Kind != shared.KindIncremental || inc.Method != shared.MethodFull || inc.BaseCheckpointLSN != base.CheckpointLSN ||
			!strings.Contains(inc.FallbackReason, "redo logging was switched off since the base") {
			t.Fatalf("kind %q method %q base %d (want %d) reason %q; want an incremental that copies everything because redo logging was off",
				inc.Kind, inc.Method, inc.BaseCheckpointLSN, base.CheckpointLSN, inc.FallbackReason)
		}
		for _, r := range recs {
			if r.Tablespace != nil && r.Tablespace.Incremental {
				t.Fatalf("tablespace %s is marked incremental in a backup that must copy everything", r.Tablespace.Path)
			}
		}
		if inc.Pages < base.Pages*9/10 {
			t.Fatalf("the full copy sent %d pages, the base full %d", inc.Pages, base.Pages)
		}
		// No page of the base is needed (its binlog delta is, so it restores from the chain's
		// merge as every incremental does), and the result holds every committed row.
		target := filepath.Join(t.TempDir(), "restored")
		res, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target, Verify: true}, &sliceStream{recs: MergeChain(t, baseRecs, recs)})
		if err != nil || !res.Verified || res.RecoveredTo != inc.EndLSN {
			t.Fatalf("restore: %+v, %v", res, err)
		}
		restored := testmysql.StartExisting(t, target, testmysql.Options{})
		var rows, updated int
		var gtids string
		if err := restored.Root.QueryRow("SELECT COUNT(*), SUM(v = id + 1000) FROM redo.t").Scan(&rows, &updated); err != nil {
			t.Fatal(err)
		}
		if err := restored.Root.QueryRow("SELECT @@gtid_executed").Scan(&gtids); err != nil {
			t.Fatal(err)
		}
		if rows != 501 || updated != 499 || norm(gtids) != norm(inc.GTIDExecuted) {
			t.Fatalf("restored redo.t has %d rows, %d updated, gtid_executed %q; want 501, 499, %q", rows, updated, gtids, inc.GTIDExecuted)
		}
		restored.Stop()

		// The full copy is a base page tracking can build on again.
		srv.MustExec("UPDATE redo.t SET v = v + 1 WHERE id < 50")
		Checkpoint(t, srv)
		if next := TrailerOf(t, src, cfg, inc); next.Method != shared.MethodPageTracking {
			t.Fatalf("on the full copy: method %q (%s), want page tracking", next.Method, next.FallbackReason)
		}
	})

	t.Run("negative control: logging stayed on, page tracking", func(t *testing.T) {
		// The error log holds the switches of the subtests above, all before this base.
		base := TrailerOf(t, src, cfg, nil)
		srv.MustExec("UPDATE redo.t SET v = v + 1 WHERE id >= 250")
		Checkpoint(t, srv)
		inc := TrailerOf(t, src, cfg, base)
		if inc.Method != shared.MethodPageTracking || inc.FallbackReason != "" || inc.Pages*4 > base.Pages {
			t.Fatalf("method %q reason %q, %d pages (the full %d); want a page-tracking incremental", inc.Method, inc.FallbackReason, inc.Pages, base.Pages)
		}
	})

	t.Run("error log settings that could hide a switch: a full copy", func(t *testing.T) {
		base := TrailerOf(t, src, cfg, nil)
		srv.MustExec("SET GLOBAL log_error_verbosity = 1")
		defer srv.MustExec("SET GLOBAL log_error_verbosity = 2")
		inc := TrailerOf(t, src, cfg, base)
		if inc.Method != shared.MethodFull || !strings.Contains(inc.FallbackReason, "log_error_verbosity is 1") {
			t.Fatalf("method %q reason %q; want a full copy naming log_error_verbosity", inc.Method, inc.FallbackReason)
		}
	})
}

// checkRedoOffRefusal takes a backup on base (nil: full) and wants it refused for redo logging
// being off, naming the fix.
func checkRedoOffRefusal(t *testing.T, src shared.Source, cfg shared.Config, base *shared.Trailer) {
	t.Helper()
	req := &shared.BackupRequest{Config: cfg}
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base.SourceState}
	}
	stream, err := src.Backup(context.Background(), req)
	var recs []*shared.Record
	if err == nil {
		recs, err = drain(stream)
	}
	if !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "redo logging is disabled") ||
		!strings.Contains(err.Error(), "ALTER INSTANCE ENABLE INNODB REDO_LOG") {
		t.Fatalf("backup with redo logging off: %v; want a refusal naming the cause and ALTER INSTANCE ENABLE INNODB REDO_LOG", err)
	}
	for _, r := range recs {
		if r.Trailer != nil {
			t.Fatal("the refused backup sent a trailer")
		}
	}
}

func redoLogEnabled(t *testing.T, db *sql.DB) string {
	t.Helper()
	var v string
	if err := db.QueryRow("SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Innodb_redo_log_enabled'").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
