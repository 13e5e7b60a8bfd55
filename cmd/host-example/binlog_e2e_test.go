package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
)

// binlogSnapshot adds the binlog fields of backup --json to the ones the tests read.
type binlogSnapshot struct {
	repoSnapshot
	BinlogFile    string `json:"binlog_file"`
	BinlogPos     uint64 `json:"binlog_pos"`
	BinlogBytes   uint64 `json:"binlog_bytes"`
	BinlogFrom    uint64 `json:"binlog_from"`
	BinlogWritten uint64 `json:"binlog_written"`
}

// currentBinlog is the file the server writes now.
func currentBinlog(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SHOW BINARY LOG STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	var file string
	vals[0] = &file
	for i := 1; i < len(vals); i++ {
		vals[i] = new(sql.RawBytes)
	}
	if !rows.Next() {
		t.Fatal("SHOW BINARY LOG STATUS returned nothing")
	}
	if err := rows.Scan(vals...); err != nil {
		t.Fatal(err)
	}
	return file
}

// xaPrepare leaves XA transaction xid prepared, having inserted row id into xa.t.
func xaPrepare(t *testing.T, srv *testmysql.Server, xid string, id int) {
	t.Helper()
	conn, err := srv.Root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // a prepared XA transaction outlives its session
	for _, q := range []string{
		fmt.Sprintf("XA START '%s'", xid),
		fmt.Sprintf("INSERT INTO xa.t VALUES (%d, '%s')", id, xid),
		fmt.Sprintf("XA END '%s'", xid),
		fmt.Sprintf("XA PREPARE '%s'", xid),
	} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// xaPrepared lists the prepared XA transactions of db.
func xaPrepared(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("XA RECOVER")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var format, gtridLen, bqualLen int
		var data string
		if err := rows.Scan(&format, &gtridLen, &bqualLen, &data); err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func xaRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	var got sql.NullString
	if err := db.QueryRow("SELECT GROUP_CONCAT(v ORDER BY id) FROM xa.t").Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got.String
}

// binlogPrefix is the source's binlog file up to pos as the server had it while the file was
// open: with LOG_EVENT_BINLOG_IN_USE_F set (the server clears it in place when it closes the
// file; a backup's copy keeps it set).
func binlogPrefix(t *testing.T, dir, file string, pos uint64) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(data)) < pos {
		t.Fatalf("%s has %d bytes, fewer than the position %d", file, len(data), pos)
	}
	data = data[:pos]
	data[4+17] |= 1
	return data
}

// TestBinlogDeltas is issue 12's acceptance: under the workload, a chain whose binlog file spans
// several incrementals, then one that rotates mid-chain, then a server restart. Every
// incremental in the file its parent ended in carries only the binlog written since the
// parent; every point restores exactly (model, GTID set, the binlog byte for byte as the server
// had it at the end point, in-use flag set); XA transactions prepared across a full's and a
// delta incremental's end point come back prepared and resolvable.
func TestBinlogDeltas(t *testing.T) {
	t.Parallel() // its own servers and directories; run beside the other storage tests (make test's long pole)
	ctx := context.Background()
	srv := testmysql.Start(t, testmysql.Options{})
	wcfg := workloadConfig()
	wcfg.BlobSize = 4 << 10 // the four clients, with less binlog per step: the test stays short
	if err := workload.Setup(ctx, srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	srv.MustExec("CREATE DATABASE xa")
	srv.MustExec("CREATE TABLE xa.t (id INT PRIMARY KEY, v VARCHAR(16))")
	h := newHost(t, srv)
	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	stopLoad := func() {
		if _, err := run.Stop(); err != nil {
			t.Fatalf("workload: %v", err)
		}
	}

	type point struct {
		name          string
		snap          binlogSnapshot
		before, after []int
		source        []byte   // the binlog file up to P, as open on the source
		xa            []string // XA transactions prepared at the end point
		xaRows        string   // xa.t as committed at the end point
	}
	var chain []point
	backup := func(name string, delta bool, xa ...string) {
		t.Helper()
		if err := run.WaitSteps(ctx, 10); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		args := []string{}
		if len(chain) == 0 {
			args = append(args, "--full")
		}
		before := run.Steps()
		s := binlogSnapshot{}
		out := h.mustRun(append([]string{"backup", "-c", h.config, "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%s: backup --json: %v\n%s", name, err, out)
		}
		p := point{name: name, snap: s, before: before, after: run.Steps(), xa: xa, xaRows: xaRows(t, srv.Root)}
		p.source = binlogPrefix(t, srv.DataDir, s.BinlogFile, s.BinlogPos)
		if n := len(chain); n > 0 {
			parent := chain[n-1].snap
			sameFile := s.BinlogFile == parent.BinlogFile
			if sameFile != delta {
				t.Fatalf("%s: binlog %s, parent's %s: the test expected delta=%v", name, s.BinlogFile, parent.BinlogFile, delta)
			}
			if delta {
				written := s.BinlogPos - parent.BinlogPos
				if s.BinlogFrom != parent.BinlogPos || s.BinlogWritten != written {
					t.Errorf("%s: binlog from %d, written %d; want from the parent's position %d, %d written", name, s.BinlogFrom, s.BinlogWritten, parent.BinlogPos, written)
				}
				if float64(s.BinlogBytes) > 1.05*float64(written) {
					t.Errorf("%s: sent %d bytes of binlog, more than 1.05 × the %d written since the parent", name, s.BinlogBytes, written)
				}
			} else if s.BinlogFrom != 0 || s.BinlogBytes != s.BinlogPos || s.BinlogWritten < s.BinlogPos {
				t.Errorf("%s: a new binlog file sent from %d, %d bytes (position %d), %d written since the parent", name, s.BinlogFrom, s.BinlogBytes, s.BinlogPos, s.BinlogWritten)
			}
		}
		t.Logf("%-24s %s %-13s binlog %s:%d from %d, %d bytes sent, %d written since the parent", name, s.ID, s.Method, s.BinlogFile, s.BinlogPos, s.BinlogFrom, s.BinlogBytes, s.BinlogWritten)
		chain = append(chain, p)
	}

	xaPrepare(t, srv, "across-full", 1)
	backup("full", false, "across-full")
	srv.MustExec("XA COMMIT 'across-full'")
	xaPrepare(t, srv, "across-delta", 2)
	backup("same file 1", true, "across-delta")
	srv.MustExec("XA COMMIT 'across-delta'")
	backup("same file 2", true)

	// A rotation mid-chain: the next incremental sends the new file from its start.
	before := currentBinlog(t, srv.Root)
	srv.MustExec("SET GLOBAL max_binlog_size = 4096 * 16")
	for i := 0; currentBinlog(t, srv.Root) == before; i++ {
		if i == 100 {
			t.Fatal("the binlog did not rotate")
		}
		if err := run.WaitSteps(ctx, 4); err != nil {
			t.Fatal(err)
		}
	}
	srv.MustExec("SET GLOBAL max_binlog_size = 1 << 30")
	// What makes the in-use flag worth keeping: the server clears it in place when it closes a
	// file, so a copy made after a rotation would tell a restored server the file was closed.
	closed, err := os.ReadFile(filepath.Join(srv.DataDir, before))
	if err != nil {
		t.Fatal(err)
	}
	if closed[4+17]&1 != 0 {
		t.Errorf("%s, rotated away from, still has LOG_EVENT_BINLOG_IN_USE_F set", before)
	}
	backup("rotated", false)
	backup("same file 3", true)

	stopLoad()
	srv.Stop()
	srv.Restart()
	if run, err = workload.Start(ctx, srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	backup("restarted", false)
	stopLoad()

	for i, p := range chain {
		t.Run(fmt.Sprintf("%d_%s", i, p.name), func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "datadir")
			h.in(t).mustRun("restore", "-r", h.repo, p.snap.ID, "--target", target)
			restoredBinlog, err := os.ReadFile(filepath.Join(target, p.snap.BinlogFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(restoredBinlog, p.source) {
				t.Errorf("restored %s: %d bytes, not the source's %d bytes up to the end point with the in-use flag set", p.snap.BinlogFile, len(restoredBinlog), len(p.source))
			}
			restored := checkDatadir(t, target, "snapshot "+p.snap.ID+" ("+p.name+")", wcfg, p.before, p.after, p.snap.GTIDExecuted)
			got := xaPrepared(t, restored.Root)
			if fmt.Sprint(got) != fmt.Sprint(p.xa) {
				t.Fatalf("XA RECOVER lists %v, want %v (prepared at the end point)", got, p.xa)
			}
			if rows := xaRows(t, restored.Root); rows != p.xaRows {
				t.Errorf("xa.t holds %q, want %q", rows, p.xaRows)
			}
			for _, xid := range p.xa {
				if _, err := restored.Root.Exec(fmt.Sprintf("XA COMMIT '%s'", xid)); err != nil {
					t.Fatalf("XA COMMIT of the recovered %s: %v", xid, err)
				}
			}
			if len(p.xa) > 0 {
				if got := xaPrepared(t, restored.Root); len(got) != 0 {
					t.Errorf("after XA COMMIT, XA RECOVER still lists %v", got)
				}
				if rows, want := xaRows(t, restored.Root), chain[i+1].xaRows; rows != want {
					t.Errorf("after XA COMMIT xa.t holds %q, want %q (as the source after its commit)", rows, want)
				}
			}
		})
	}
}
