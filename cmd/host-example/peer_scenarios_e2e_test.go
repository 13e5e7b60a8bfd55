package main

import (
	"database/sql"
	"fmt"
	"testing"
)

// restartedReason is the recorded reason an incremental after a clean server restart is a
// page-LSN scan: page tracking's list cannot be trusted across a restart. Measured: a restart
// sometimes leaves tracking off, and then that is the reason given.
const restartedReason = "the server restarted since the base|page tracking was off on the server"

// sampleTable is XtraBackup's incremental_sample.test (load_dbase_schema incremental_sample).
func sampleTable(schema, opts string) []string {
	return []string{"CREATE DATABASE " + schema,
		"CREATE TABLE " + schema + ".test (a INT DEFAULT NULL, number INT DEFAULT NULL) ENGINE=InnoDB" + opts}
}

// insertRows is multi_row_insert table ({from..to}, value): rows (n, value).
func insertRows(table string, from, to int, value string) string {
	return fmt.Sprintf("INSERT INTO %s %s n, %s FROM seq", table, seq(from, to), value)
}

// pxbIncrementalCommon: inc/ib_incremental_common.sh with page tracking — 100 rows, full; a new
// table and 900 rows in each, a clean restart, 300 large-text rows (upstream 6500 of 65 KB,
// scaled down); an incremental taken while a transaction deleting from t2 stays open.
func pxbIncrementalCommon() peerScenario {
	const s = "pxb_inc"
	return peerScenario{
		sources: []string{pxbPageTracking + "xb_incremental_pagetracking.sh",
			pxbPageTracking + "xb_incremental_pagetracking_lsn.sh (the same scenario; its --incremental-lsn base is a snapshot here)"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, append(sampleTable(s, ""), insertRows(s+".test", 1, 100, "100"))...)
			}},
			{name: "incremental", fallback: restartedReason, files: []string{s + "/t2.ibd", s + "/test.ibd"},
				do: func(t *testing.T, p *peerRun) {
					p.exec(t, "CREATE TABLE "+s+".t2 (a INT DEFAULT NULL, number TEXT DEFAULT NULL) ENGINE=InnoDB",
						insertRows(s+".test", 101, 1000, "1000"), insertRows(s+".t2", 101, 1000, "1000"))
					p.restart(t)
					p.exec(t, insertRows(s+".t2", 1001, 1300, "REPEAT('ab', 4000)"))
				},
				during: func(t *testing.T, p *peerRun) func() {
					return p.openTransaction(t, "DELETE FROM "+s+".t2 LIMIT 1000")
				}},
		},
	}
}

// pxbTrackingStopped: xb_incremental_disable_pagetracking.sh (tracking switched off before the
// incremental) and, with reenable, xb_incremental_disable_enable_pagetracking.sh (switched off,
// a table created, switched on again).
func pxbTrackingStopped(reenable bool) peerScenario {
	s, file, reason := "pxb_off", "xb_incremental_disable_pagetracking.sh", "page tracking was off"
	if reenable {
		s, file, reason = "pxb_offon", "xb_incremental_disable_enable_pagetracking.sh", "stopped and started again"
	}
	return peerScenario{
		sources: []string{pxbPageTracking + file},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, append(sampleTable(s, ""), insertRows(s+".test", 1, 10000, "10000"))...)
			}},
			{name: "incremental", fallback: reason, files: []string{s + "/t2.ibd", s + "/test.ibd"},
				do: func(t *testing.T, p *peerRun) {
					p.exec(t, "CREATE TABLE "+s+".t2 (a INT DEFAULT NULL, number INT DEFAULT NULL) ENGINE=InnoDB ROW_FORMAT=COMPRESSED",
						insertRows(s+".test", 10001, 12500, "12500"), insertRows(s+".t2", 10001, 12500, "12500"))
					p.restart(t)
					p.exec(t, insertRows(s+".test", 12501, 15000, "15000"), "SELECT mysqlbackup_page_track_set(0)")
					if reenable {
						p.exec(t, "CREATE TABLE "+s+".t10 (i INT)", "SELECT mysqlbackup_page_track_set(1)")
					}
					p.exec(t, insertRows(s+".t2", 12501, 15000, "15000"))
					requireCount(t, p.srv.Root, s+".test", 15000)
					requireCount(t, p.srv.Root, s+".t2", 5000)
				}},
		},
	}
}

// pxbCompressedPageTracking: xb_incremental_compressed_pagetracking_<kb>kb.sh (t/xb_incremental_compressed.inc),
// the five block sizes side by side in one run (one schema each, one restart for all): a
// ROW_FORMAT=COMPRESSED table of 10000 rows, full; a second compressed table, 2500 rows into
// each, a clean restart, 2500 more into each; incremental.
func pxbCompressedPageTracking(kbs ...int) peerScenario {
	sc := peerScenario{name: "xb_incremental_compressed_pagetracking_Nkb"}
	var full, inc, again []string
	var files []string
	for _, kb := range kbs {
		s := fmt.Sprintf("pxb_zip%dk", kb)
		zip := fmt.Sprintf(" ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=%d", kb)
		sc.sources = append(sc.sources, pxbPageTracking+fmt.Sprintf("xb_incremental_compressed_pagetracking_%dkb.sh", kb))
		sc.schemas = append(sc.schemas, s)
		full = append(append(full, sampleTable(s, zip)...), insertRows(s+".test", 1, 10000, "10000"))
		inc = append(inc, "CREATE TABLE "+s+".t2 (a INT DEFAULT NULL, number INT DEFAULT NULL) ENGINE=InnoDB"+zip,
			insertRows(s+".test", 10001, 12500, "12500"), insertRows(s+".t2", 10001, 12500, "12500"))
		again = append(again, insertRows(s+".test", 12501, 15000, "15000"), insertRows(s+".t2", 12501, 15000, "15000"))
		files = append(files, s+"/t2.ibd", s+"/test.ibd")
	}
	sc.steps = []peerStep{
		{name: "full", full: true, do: func(t *testing.T, p *peerRun) { p.exec(t, full...) }},
		{name: "incremental", fallback: restartedReason, files: files, do: func(t *testing.T, p *peerRun) {
			p.exec(t, inc...)
			p.restart(t)
			p.exec(t, again...)
			for _, s := range sc.schemas {
				requireCount(t, p.srv.Root, s+".test", 15000)
				requireCount(t, p.srv.Root, s+".t2", 5000)
			}
		}},
	}
	return sc
}

// pxbMergeGap: xb_pagetracking_merge_gap.sh's data (scaled from ~21000 pages to ~350): about
// half the pages of a table dirtied by a uniform stride of rows, then two changed regions far
// apart, each incremental on its own full backup. The merge-gap option and its log lines are
// XtraBackup's; what carries over is that reads joined across gaps restore exactly.
func pxbMergeGap() peerScenario {
	const s = "pxb_gap"
	return peerScenario{
		sources: []string{pxbPageTracking + "xb_pagetracking_merge_gap.sh"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE "+s,
					"CREATE TABLE "+s+".t1 (id INT AUTO_INCREMENT PRIMARY KEY, pad CHAR(250) NOT NULL) ENGINE=InnoDB",
					fmt.Sprintf("INSERT INTO %s.t1 (pad) %s REPEAT('a', 250) FROM seq", s, seq(1, 20000)))
			}},
			{name: "half the pages", files: []string{s + "/t1.ibd"}, do: func(t *testing.T, p *peerRun) {
				// ~57 rows a page: one row in 114 dirties about every other page
				p.exec(t, "UPDATE "+s+".t1 SET pad = REPEAT('d', 250) WHERE id % 114 = 0")
			}},
			{name: "full again", full: true},
			{name: "two far regions", files: []string{s + "/t1.ibd"}, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "UPDATE "+s+".t1 SET pad = REPEAT('z', 250) WHERE id <= 600 OR id > 19400")
			}},
		},
	}
}

// pxbPageCompression: t/page_compression.sh — a COMPRESSION="zlib" table of 5000-byte blobs
// doubled to 16 rows, full; doubled to 256, incremental (tracking here: no restart upstream).
func pxbPageCompression() peerScenario {
	const s = "pxb_pc"
	double := "INSERT INTO " + s + ".t1 SELECT * FROM " + s + ".t1"
	return peerScenario{
		sources: []string{pxbT + "page_compression.sh"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE "+s, "CREATE TABLE "+s+".t1 (c1 BLOB) COMPRESSION='zlib'",
					"INSERT INTO "+s+".t1 VALUES (REPEAT('x', 5000))", double, double, double, double)
			}},
			{name: "incremental", files: []string{s + "/t1.ibd"}, do: func(t *testing.T, p *peerRun) {
				p.exec(t, double, double, double, double)
				requireCount(t, p.srv.Root, s+".t1", 256)
			}},
		},
	}
}

// mariaIncrementalBackup: incremental_backup.test — a transaction open across the full backup
// (committed before the incremental) and another open across the incremental.
func mariaIncrementalBackup() peerScenario {
	const s = "mb_inc"
	var first *sql.Tx
	return peerScenario{
		name:    "incremental_backup",
		sources: []string{mariabackup + "incremental_backup.test (innodb_page_size.inc's page sizes: TestInnoDBLayouts)"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE "+s, "CREATE TABLE "+s+".t (i INT PRIMARY KEY) ENGINE=InnoDB")
				var err error
				if first, err = p.srv.Root.Begin(); err != nil {
					t.Fatal(err)
				}
				if _, err := first.Exec("INSERT INTO " + s + ".t VALUES (2)"); err != nil {
					t.Fatal(err)
				}
				p.exec(t, "INSERT INTO "+s+".t VALUES (1)")
			}},
			// No page of t.ibd is expected in the incremental: every change to it since the
			// full is made after the checkpoint (it arrives in the redo), and the pages the
			// tracking lists for it changed only before the full's checkpoint, which the
			// incremental counts and leaves out (pages_before_base). The restores below check
			// that the rows are there.
			{name: "incremental",
				during: func(t *testing.T, p *peerRun) func() {
					end := p.openTransaction(t, "INSERT INTO "+s+".t VALUES (0)", "DELETE FROM "+s+".t WHERE i = 0")
					if err := first.Commit(); err != nil {
						t.Fatal(err)
					}
					return end
				}},
		},
	}
}

// mariaNewDBBeforeInc: incremental_backup_newdb_before_inc.test — a database and table created
// between the full backup and the incremental.
func mariaNewDBBeforeInc() peerScenario {
	return peerScenario{
		sources: []string{mariabackup + "incremental_backup_newdb_before_inc.test"},
		schemas: []string{"mb_newdb", "mb_newdb1"},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE mb_newdb", "CREATE TABLE mb_newdb.t1 (i INT) ENGINE=InnoDB", "INSERT INTO mb_newdb.t1 VALUES (0)")
			}},
			{name: "incremental", files: []string{"mb_newdb1/t1.ibd"}, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE mb_newdb1", "CREATE TABLE mb_newdb1.t1 (a INT) ENGINE=InnoDB", "INSERT INTO mb_newdb1.t1 VALUES (1000)")
			}},
		},
	}
}

// mariaDDLBeforeBackup: incremental_ddl_before_backup.test (upstream sources have_debug.inc but
// uses no debug feature) — a table created, filled by doubling and renamed between backups.
func mariaDDLBeforeBackup() peerScenario {
	const s = "mb_ddl"
	return peerScenario{
		sources: []string{mariabackup + "incremental_ddl_before_backup.test"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE "+s, "CREATE TABLE "+s+".t1 (i INT) ENGINE=InnoDB",
					"CREATE TABLE "+s+".t2 (i INT PRIMARY KEY) ENGINE=InnoDB", "CREATE TABLE "+s+".t3 (i INT) ENGINE=InnoDB")
			}},
			{name: "incremental", files: []string{s + "/t7.ibd"}, do: func(t *testing.T, p *peerRun) {
				stmts := []string{"CREATE TABLE " + s + ".t4 (f1 INT NOT NULL, f2 INT NOT NULL) ENGINE=InnoDB",
					"INSERT INTO " + s + ".t4 VALUES (1, 2), (2, 2), (3, 3), (5, 5), (6, 6), (4, 4), (9, 9)"}
				for range 10 {
					stmts = append(stmts, "INSERT INTO "+s+".t4 SELECT * FROM "+s+".t4")
				}
				p.exec(t, append(stmts, "RENAME TABLE "+s+".t4 TO "+s+".t7")...)
				requireCount(t, p.srv.Root, s+".t7", 7168)
			}},
		},
	}
}

// mariaDropDB: incremental_drop_db.test — a database dropped between backups is gone after the
// restore, an untouched empty one stays. Upstream's db1.t1 is MyISAM (pagetrack backs up
// InnoDB) and its db.opt step is MariaDB's (MySQL keeps no db.opt); both are left out.
func mariaDropDB() peerScenario {
	return peerScenario{
		sources: []string{mariabackup + "incremental_drop_db.test"},
		schemas: []string{"mb_db1", "mb_db2"},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE mb_db1", "CREATE DATABASE mb_db2", "CREATE TABLE mb_db1.t2 (a INT) ENGINE=InnoDB", "INSERT INTO mb_db1.t2 VALUES (1)")
			}},
			{name: "incremental", do: func(t *testing.T, p *peerRun) { p.exec(t, "DROP DATABASE mb_db1") }},
		},
	}
}

// mariaCompressedRepartitioned: incremental_compressed.test (MDEV-18589) — a ROW_FORMAT=COMPRESSED
// table partitioned by KEY between backups (upstream's table is empty; rows added here so the
// comparison sees data).
func mariaCompressedRepartitioned() peerScenario {
	const s = "mb_zip"
	return peerScenario{
		sources: []string{mariabackup + "incremental_compressed.test"},
		schemas: []string{s},
		steps: []peerStep{
			{name: "full", full: true, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "CREATE DATABASE "+s, "CREATE TABLE "+s+".t (pk INT PRIMARY KEY) ENGINE=InnoDB ROW_FORMAT=COMPRESSED",
					fmt.Sprintf("INSERT INTO %s.t %s n FROM seq", s, seq(1, 500)))
			}},
			{name: "incremental", files: []string{s + "/t#p#p0.ibd"}, do: func(t *testing.T, p *peerRun) {
				p.exec(t, "ALTER TABLE "+s+".t PARTITION BY KEY(pk)")
			}},
		},
	}
}

// requireCount asserts a table's row count (the upstream scenarios check theirs).
func requireCount(t *testing.T, db *sql.DB, table string, want int) {
	t.Helper()
	var got int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&got); err != nil || got != want {
		t.Fatalf("%s has %d rows (%v), want %d", table, got, err, want)
	}
}
