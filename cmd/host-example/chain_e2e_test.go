package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
)

// tableDigest is what a DDL test table must hold: its row count and a checksum of its rows.
type tableDigest struct{ Rows, Sum int64 }

// ddlTables reads every table of the ddl schema (which only the test's DDL steps touch).
func ddlTables(t *testing.T, db *sql.DB) map[string]tableDigest {
	t.Helper()
	rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ddl' ORDER BY TABLE_NAME")
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
	out := map[string]tableDigest{}
	for _, n := range names {
		var d tableDigest
		q := fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(id, ':', v, ':', LENGTH(pad)))), 0) FROM ddl.`%s`", n)
		if err := db.QueryRow(q).Scan(&d.Rows, &d.Sum); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[n] = d
	}
	return out
}

func createFilled(srv *testmysql.Server, name string, rows int) {
	srv.MustExec(fmt.Sprintf("CREATE TABLE ddl.%s (id INT PRIMARY KEY, v VARCHAR(64), pad VARBINARY(2000))", name))
	srv.Fill("ddl."+name, 1, rows, 1500)
}

func waitUndoEmpty(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state string
		if err := db.QueryRow("SELECT STATE FROM information_schema.INNODB_TABLESPACES WHERE NAME = ?", name).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "empty" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("undo tablespace %s stayed %q", name, state)
		}
		time.Sleep(20 * time.Millisecond) // polling a server state, not synchronising goroutines
	}
}

// TestIncrementalChain is the incremental acceptance: a full backup and nine incrementals
// under the concurrent workload, with DDL, an undo truncation, redo logging switched off and
// on, a clean restart, a kill -9 restart and page tracking turned off and on between them.
// Every snapshot is restored from its chain by a stock mysqld and checked exactly; the method
// each incremental used is asserted (page tracking where it is provably complete, the
// page-LSN scan where the tracked list cannot be used, a copy of every page where nothing on
// disk can show what changed: redo logging was off, or the server restarted).
func TestIncrementalChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, wcfg := startWorkloadServer(t)
	srv.MustExec("CREATE DATABASE ddl")
	srv.MustExec("CREATE UNDO TABLESPACE extra_undo ADD DATAFILE 'extra_undo.ibu'") // so one can go inactive
	createFilled(srv, "keep", 2000)
	h := newHost(t, srv)

	var run *workload.Run
	startLoad := func() {
		var err error
		if run, err = workload.Start(ctx, srv.Root, wcfg); err != nil {
			t.Fatal(err)
		}
	}
	stopLoad := func(crashed bool) {
		if _, err := run.Stop(); err != nil && !crashed {
			t.Fatalf("workload: %v", err)
		}
	}
	startLoad()

	type step struct {
		name       string
		change     func()
		full       bool
		method     string
		reasonHas  string
		wholeSpace bool
	}
	steps := []step{
		{name: "full", full: true, method: "full"},
		{name: "create and drop", method: "page-tracking", change: func() {
			createFilled(srv, "created", 3000)
			createFilled(srv, "dropped", 500)
			srv.MustExec("DROP TABLE ddl.dropped")
		}},
		{name: "truncate and rename", method: "page-tracking", change: func() {
			srv.MustExec("TRUNCATE TABLE ddl.created")
			srv.MustExec("INSERT INTO ddl.created VALUES (1, 'after-truncate', RANDOM_BYTES(100))")
			srv.MustExec("RENAME TABLE ddl.keep TO ddl.renamed")
		}},
		{name: "optimize and exclusive index build", method: "page-tracking", change: func() {
			createFilled(srv, "indexed", 20000)
			srv.MustExec("OPTIMIZE TABLE ddl.renamed")
			srv.MustExec("ALTER TABLE ddl.indexed ADD INDEX by_v (v), ALGORITHM=INPLACE, LOCK=EXCLUSIVE")
		}},
		{name: "undo truncation", method: "page-tracking", change: func() {
			srv.MustExec("ALTER UNDO TABLESPACE innodb_undo_001 SET INACTIVE")
			waitUndoEmpty(t, srv.Root, "innodb_undo_001")
			srv.MustExec("ALTER UNDO TABLESPACE innodb_undo_001 SET ACTIVE")
		}},
		{name: "redo logging off and on", method: "full", reasonHas: "redo logging was switched off", change: func() {
			srv.MustExec("ALTER INSTANCE DISABLE INNODB REDO_LOG")
			srv.MustExec("UPDATE ddl.created SET v = 'while-redo-logging-was-off'")
			srv.MustExec("ALTER INSTANCE ENABLE INNODB REDO_LOG")
		}},
		{name: "clean restart", method: "full", reasonHas: "restarted", change: func() {
			stopLoad(false)
			srv.Stop()
			srv.Restart()
			startLoad()
		}},
		{name: "kill -9 restart", method: "full", reasonHas: "restarted", change: func() {
			srv.Kill() // under load: the clients see the crash
			stopLoad(true)
			srv.Restart()
			startLoad()
		}},
		{name: "tracking off and on", method: "lsn-scan", reasonHas: "stopped and started", change: func() {
			srv.MustExec("DO mysqlbackup_page_track_set(false)")
			srv.MustExec("UPDATE ddl.created SET v = 'while-tracking-was-off'")
			srv.MustExec("DO mysqlbackup_page_track_set(true)")
		}},
		{name: "tracking again", method: "page-tracking", change: func() {
			srv.MustExec("UPDATE ddl.indexed SET v = CONCAT(v, '+') WHERE id % 7 = 0")
		}},
	}

	type taken struct {
		step          step
		snap          snapshot
		before, after []int
		ddl           map[string]tableDigest
	}
	var chain []taken
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		if err := run.WaitSteps(ctx, 15); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		expectDDL := ddlTables(t, srv.Root)
		args := []string{"backup", "-c", h.config, "--json"}
		if st.full {
			args = append(args, "--full")
		}
		before := run.Steps()
		out := h.mustRun(args...)
		after := run.Steps()
		var snap snapshot
		if err := json.Unmarshal([]byte(out), &snap); err != nil {
			t.Fatalf("%s: backup --json: %v\n%s", st.name, err, out)
		}
		if snap.Method != st.method || !strings.Contains(snap.FallbackReason, st.reasonHas) {
			t.Errorf("%s: method %q (reason %q), want %q with a reason containing %q", st.name, snap.Method, snap.FallbackReason, st.method, st.reasonHas)
		}
		if n := len(chain); n > 0 && snap.Parent != chain[n-1].snap.ID {
			t.Errorf("%s: parent %q, want %q", st.name, snap.Parent, chain[n-1].snap.ID)
		}
		t.Logf("%-36s %s %-13s pages %6d  %s", st.name, snap.ID, snap.Method, snap.Pages, snap.FallbackReason)
		chain = append(chain, taken{st, snap, before, after, maps.Clone(expectDDL)})
	}
	stopLoad(false)

	for i, c := range chain {
		t.Run(fmt.Sprintf("%d_%s", i, strings.ReplaceAll(c.step.name, " ", "_")), func(t *testing.T) {
			restored := h.restoreAndCheck(t, c.snap, wcfg, c.before, c.after)
			if got := ddlTables(t, restored.Root); !maps.Equal(got, c.ddl) {
				t.Errorf("ddl schema restored as %v, want %v", got, c.ddl)
			}
		})
	}
}
