package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
)

// The scenarios of Percona XtraBackup's and MariaDB's incremental backup tests, replayed
// through this project's CLI: every step's backup (a full one, or a page-tracking incremental
// on the previous step's) is restored, started by a stock mysqld and compared table by table
// with the source as it was at that step. The scenarios are written here from what the
// upstream files do; the files are named so a reader can compare.
const (
	pxbPageTracking = "percona/percona-xtrabackup storage/innobase/xtrabackup/test/suites/pagetracking/"
	pxbT            = "percona/percona-xtrabackup storage/innobase/xtrabackup/test/t/"
	mariabackup     = "MariaDB/server mysql-test/suite/mariabackup/"
)

// peerLeftOut are the upstream files of the replayed suites (XtraBackup's suites/pagetracking/,
// mariabackup's incremental_*) no scenario here replays, and why. Of XtraBackup's test/t/,
// page_compression.sh is replayed and xb_incremental_compressed.inc through the pagetracking
// files that include it; its encrypted page-compression tests need a keyring.
var peerLeftOut = map[string]string{
	pxbPageTracking + "validate_tracking_start_lsn.sh":                              "needs a debug server (innodb_page_cleaner_disabled_debug, innodb_log_checkpoint_now) and a debug xtrabackup (--debug-sync); the wait for the checkpoint to pass the tracking reset is covered by mysqlsrc's tracking tests",
	pxbPageTracking + "encryption_after_checkpoint.sh":                              "needs a debug server and a keyring; pagetrack refuses encrypted tablespaces before the backup lock (TestStorageLayouts' neighbours in mysqlsrc check the refusal)",
	mariabackup + "incremental_ddl_during_backup.test":                              "DDL at debug_sync points inside mariabackup (debug build); pagetrack's backup lock blocks DDL for the backup's duration",
	mariabackup + "incremental_newdb_while_backup.test":                             "creates a database at a debug_sync point inside mariabackup (debug build); see incremental_backup_newdb_before_inc.test for the same change between backups",
	mariabackup + "incremental_encrypted.test":                                      "MariaDB's file_key_management encryption plugin; pagetrack refuses encrypted tablespaces",
	mariabackup + "incremental_page_compressed.test":                                "MariaDB-specific: page_compressed=1 with the provider_snappy plugin (MySQL's COMPRESSION='zlib'/'lz4' is replayed by TestStorageLayouts)",
	mariabackup + "incremental_rocksdb.test":                                        "MariaDB-specific: the RocksDB engine; pagetrack backs up InnoDB",
	pxbPageTracking + "xb_incremental_compressed_pagetracking_4kb.sh (as upstream)": "upstream runs test_incremental_compressed 1 (a copy of the 1 KiB file); replayed here with KEY_BLOCK_SIZE=4 as the file name says",
}

// peerStep is one step of a scenario: changes, then a backup.
type peerStep struct {
	name string
	do   func(t *testing.T, p *peerRun) // the changes before this step's backup
	full bool                           // a full backup; otherwise an incremental on the previous step
	// fallback: the incremental must be a page-LSN scan whose recorded reason contains it (or
	// one of its "|"-separated alternatives); empty: it must be taken by page tracking.
	fallback string
	files    []string // files the incremental must hold changed pages of
	// during, when set, runs before the backup and returns what ends it after (an open
	// transaction across the backup).
	during func(t *testing.T, p *peerRun) (end func())
}

// peerScenario is one upstream test file's scenario.
type peerScenario struct {
	name    string   // the subtest; default: the first source's file name
	sources []string // upstream files whose scenario this is
	schemas []string // compared at every step (a schema may be absent or empty)
	steps   []peerStep
}

type peerRun struct {
	srv *testmysql.Server
}

// exec runs statements in one session (for session variables and transactions).
func (p *peerRun) exec(t *testing.T, stmts ...string) {
	t.Helper()
	conn, err := p.srv.Root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range append([]string{"SET SESSION cte_max_recursion_depth = 1000000"}, stmts...) {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// restart shuts the server down cleanly and starts it again, as the upstream tests'
// shutdown_server/start_server and restart_mysqld do.
func (p *peerRun) restart(t *testing.T) {
	t.Helper()
	p.srv.Stop()
	p.srv.Restart()
}

// openTransaction starts a transaction in its own session running stmts and returns what
// rolls it back.
func (p *peerRun) openTransaction(t *testing.T, stmts ...string) func() {
	t.Helper()
	tx, err := p.srv.Root.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() {
		if err := tx.Rollback(); err != nil {
			t.Errorf("rolling back the open transaction: %v", err)
		}
	}
}

// seq is a row source of n = from..to for INSERT … SELECT.
func seq(from, to int) string {
	return fmt.Sprintf("WITH RECURSIVE seq(n) AS (SELECT %d UNION ALL SELECT n + 1 FROM seq WHERE n < %d) SELECT", from, to)
}

func TestPeerScenarios(t *testing.T) {
	t.Parallel() // its own servers and directories; run beside the other storage tests (make test's long pole)
	// The scenarios that restart the server or stop tracking come last on the shared server.
	scenarios := []peerScenario{pxbMergeGap(), pxbPageCompression(), mariaIncrementalBackup(), mariaNewDBBeforeInc(),
		mariaDDLBeforeBackup(), mariaDropDB(), mariaCompressedRepartitioned(),
		pxbIncrementalCommon(), pxbCompressedPageTracking(1, 2, 4, 8, 16),
		pxbTrackingStopped(false), pxbTrackingStopped(true)}
	var shared *testmysql.Server // each scenario has its own schemas, state file and backups
	parent := t
	for _, s := range scenarios {
		name := s.name
		if name == "" {
			name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(s.sources[0]), ".sh"), ".test")
		}
		t.Run(name, func(t *testing.T) {
			if shared == nil { // started by the first scenario that runs, it outlives the subtest
				shared = testmysql.Start(parent, testmysql.Options{})
			}
			runPeerScenario(t, shared, s)
		})
	}
	t.Logf("left out: %d upstream files", len(peerLeftOut))
	for f, why := range peerLeftOut {
		t.Logf("  %s: %s", f, why)
	}
}

func runPeerScenario(t *testing.T, srv *testmysql.Server, s peerScenario) {
	t.Logf("replaying %s", strings.Join(s.sources, ", "))
	p := &peerRun{srv: srv}
	dir := t.TempDir()
	config := writeStreamConfig(t, dir, srv)
	type taken struct {
		name  string
		chain []string
		want  map[string]string
	}
	var backups []taken
	var chain []string
	for i, st := range s.steps {
		if st.do != nil {
			st.do(t, p)
		}
		sourcetest.Checkpoint(t, srv) // as the upstream tests' innodb_max_dirty_pages_pct=0: the changes are flushed
		var end func()
		if st.during != nil {
			end = st.during(t, p)
		}
		stream := filepath.Join(dir, fmt.Sprintf("%d.pgt", i))
		if st.full {
			backupStream(t, config, stream, "--full")
			chain = []string{stream}
		} else {
			backupStream(t, config, stream)
			chain = append(chain, stream)
			checkIncremental(t, stream, st.files, st.fallback)
		}
		want := peerDigest(t, srv.Root, s.schemas)
		if end != nil {
			end()
		}
		backups = append(backups, taken{st.name, append([]string(nil), chain...), want})
	}
	for _, b := range backups {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // the restores and their servers wait on the disk more than on the cores
			target := filepath.Join(t.TempDir(), "datadir")
			args := []string{"restore", "--target", target}
			for _, s := range b.chain {
				args = append(args, "--from", s)
			}
			runHost(t, nil, args...)
			restored := testmysql.StartExisting(t, target, testmysql.Options{})
			if got := peerDigest(t, restored.Root, s.schemas); !maps.Equal(got, b.want) {
				t.Fatalf("restored %v\nsource at the backup %v", got, b.want)
			}
			t.Logf("%s (chain of %d): %d tables and schemas equal to the source", b.name, len(b.chain), len(b.want))
		})
	}
}

// peerDigest is schemaDigest of every schema that exists, keyed schema.table, and whether each
// schema exists.
func peerDigest(t *testing.T, db *sql.DB, schemas []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range schemas {
		var tables int
		err := db.QueryRow("SELECT COUNT(t.TABLE_NAME) FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME WHERE s.SCHEMA_NAME = ? GROUP BY s.SCHEMA_NAME", s).Scan(&tables)
		switch {
		case err == sql.ErrNoRows:
			out[s] = "absent"
			continue
		case err != nil:
			t.Fatal(err)
		}
		out[s] = fmt.Sprintf("present, %d tables", tables)
		if tables == 0 {
			continue
		}
		for name, d := range schemaDigest(t, db, s) {
			out[s+"."+name] = d
		}
	}
	return out
}
