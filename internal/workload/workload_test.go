package workload

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
)

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustCheck(t *testing.T, ctx context.Context, db *sql.DB, cfg Config) Result {
	t.Helper()
	res, err := Check(ctx, db, cfg)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

func equalSteps(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWithServer runs everything that needs MySQL against one server; the crash test kills it
// and so comes last.
func TestWithServer(t *testing.T) {
	s := testmysql.Start(t, testmysql.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := openDB(t, s.RootDSN)

	t.Run("RunAndCheck", func(t *testing.T) { testRunAndCheck(t, ctx, db) })
	t.Run("Corruption", func(t *testing.T) { testCorruption(t, ctx, db) })
	t.Run("CrashRecovery", func(t *testing.T) { testCrashRecovery(t, ctx, s) })
}

func testRunAndCheck(t *testing.T, ctx context.Context, db *sql.DB) {
	cfg := Config{Schema: "wl_run", Seed: 7}
	if err := Setup(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	if res := mustCheck(t, ctx, db, cfg); !equalSteps(res.Steps, []int{0, 0, 0, 0}) {
		t.Fatalf("after Setup: steps %v", res.Steps)
	}
	// The secondary index scans must really read the secondary indexes.
	cfgN, _ := cfg.normalize()
	ck := &checker{cfg: &cfgN}
	for _, tb := range append(ck.tables(), &tableDef{name: "bulk", cols: []column{{expr: "id"}, {expr: "grp"}, {expr: "tag"}},
		nkey: 1, indexes: []indexDef{{"by_tag", []int{0, 2}}}}) {
		for _, ix := range tb.indexes {
			var exprs []string
			for _, p := range ix.cols {
				exprs = append(exprs, tb.cols[p].expr)
			}
			query := fmt.Sprintf("EXPLAIN FORMAT=TRADITIONAL SELECT %s FROM %s FORCE INDEX (%s) ORDER BY client, id",
				strings.Join(exprs, ", "), cfgN.tbl(tb.name), ix.name)
			if tb.nkey == 1 {
				query = strings.Replace(query, "client, id", "id", 1)
			}
			if tb.name == "journal" {
				query = strings.Replace(query, "client, id", "client, seq", 1)
			}
			if tb.name == "blobs" {
				query = strings.Replace(query, "client, id", "client, slot", 1)
			}
			var key, extra sql.NullString
			rows, err := db.QueryContext(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			vals := make([]sql.NullString, len(cols))
			dest := make([]any, len(cols))
			for i := range vals {
				dest[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					t.Fatal(err)
				}
				for i, c := range cols {
					switch c {
					case "key":
						key = vals[i]
					case "Extra":
						extra = vals[i]
					}
				}
			}
			rows.Close()
			if key.String != ix.name || !strings.Contains(extra.String, "Using index") {
				t.Errorf("%s: key %q, extra %q: not a covering scan of %s", query, key.String, extra.String, ix.name)
			}
		}
	}

	r, err := Start(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 20); err != nil {
		t.Fatal(err)
	}
	// Check runs in one snapshot, so it passes against the live workload too.
	live := mustCheck(t, ctx, db, cfg)
	t.Logf("live check: steps %v, %d rows", live.Steps, live.Rows)
	before, t0 := r.Steps(), time.Now()
	if err := r.WaitSteps(ctx, 100); err != nil {
		t.Fatal(err)
	}
	after, d := r.Steps(), time.Since(t0)
	total := 0
	for c := range after {
		if after[c] < before[c]+100 {
			t.Fatalf("WaitSteps(100) returned at %v from %v", after, before)
		}
		total += after[c] - before[c]
	}
	t.Logf("%d steps in %s: %.0f steps/s with %d clients", total, d.Round(time.Millisecond), float64(total)/d.Seconds(), len(after))
	steps, err := r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 1); err == nil {
		t.Fatal("WaitSteps after Stop succeeded")
	}
	res := mustCheck(t, ctx, db, cfg)
	if !equalSteps(res.Steps, steps) {
		t.Fatalf("Check found steps %v, Stop returned %v", res.Steps, steps)
	}
	t.Logf("check after stop: steps %v, %d rows", res.Steps, res.Rows)

	// Grow, and resume the workload from where it stopped.
	if err := Grow(ctx, db, cfg, 3<<20); err != nil {
		t.Fatal(err)
	}
	var bulkRows, bulkBytes int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), SUM(LENGTH(pad)) FROM wl_run.bulk").Scan(&bulkRows, &bulkBytes); err != nil {
		t.Fatal(err)
	}
	if bulkBytes < 3<<20 || bulkBytes > 3<<20+4000 {
		t.Fatalf("Grow(3 MiB) left %d rows with %d bytes", bulkRows, bulkBytes)
	}
	if err := Grow(ctx, db, cfg, 1<<20); err != nil { // already reached: no-op
		t.Fatal(err)
	}
	paused := cfg
	paused.Pause = 2 * time.Millisecond // not part of the recorded parameters
	r, err = Start(ctx, db, paused)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 10); err != nil {
		t.Fatal(err)
	}
	steps2, err := r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for c := range steps2 {
		if steps2[c] < steps[c]+10 {
			t.Fatalf("resumed run: steps %v after %v", steps2, steps)
		}
	}
	res = mustCheck(t, ctx, db, cfg)
	if !equalSteps(res.Steps, steps2) {
		t.Fatalf("Check found steps %v, Stop returned %v", res.Steps, steps2)
	}
	t.Logf("check after grow and resume: steps %v, %d rows", res.Steps, res.Rows)

	// A Check with other parameters is refused.
	other := cfg
	other.Seed++
	if _, err := Check(ctx, db, other); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Fatalf("Check with another seed: %v", err)
	}
}

func testCorruption(t *testing.T, ctx context.Context, db *sql.DB) {
	cfg := Config{Schema: "wl_bad", Seed: 3, Slots: 4, Accounts: 10}
	if err := Setup(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := Start(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 30); err != nil {
		t.Fatal(err)
	}
	steps, err := r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := Grow(ctx, db, cfg, 200<<10); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, ctx, db, cfg)

	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	k2, k0, k3 := steps[2], steps[0], steps[3]
	mid := k2 / 2
	var hash, note string
	if err := db.QueryRowContext(ctx, "SELECT step_hash, note FROM wl_bad.journal WHERE client = 2 AND seq = ?", mid).Scan(&hash, &note); err != nil {
		t.Fatal(err)
	}
	var tag int64
	var payload []byte
	if err := db.QueryRowContext(ctx, "SELECT tag, payload FROM wl_bad.ptab WHERE client = 0 AND id = ?", k0).Scan(&tag, &payload); err != nil {
		t.Fatal(err)
	}
	flipBlob := "UPDATE wl_bad.blobs SET body = INSERT(body, 101, 1, CHAR(ASCII(SUBSTRING(body, 101, 1)) ^ 1 USING binary)) WHERE client = 0 AND slot = 2"
	cases := []struct {
		name           string
		corrupt, fix   func()
		want           []string
		checkOtherwise bool
	}{
		{
			name:    "balance",
			corrupt: func() { exec("UPDATE wl_bad.accounts SET balance = balance + 7 WHERE client = 1 AND id = 3") },
			fix:     func() { exec("UPDATE wl_bad.accounts SET balance = balance - 7 WHERE client = 1 AND id = 3") },
			want:    []string{"table accounts: client 1 id 3: balance: expected "},
		},
		{
			name:    "journal gap",
			corrupt: func() { exec("DELETE FROM wl_bad.journal WHERE client = 2 AND seq = ?", mid) },
			fix: func() {
				exec("INSERT INTO wl_bad.journal (client, seq, step_hash, note) VALUES (2, ?, ?, ?)", mid, hash, note)
			},
			want: []string{fmt.Sprintf("table journal: client 2 seq %d: row missing (expected step_hash=%q", mid, hash)},
		},
		{
			name:    "journal beyond K",
			corrupt: func() { exec("INSERT INTO wl_bad.journal VALUES (3, ?, REPEAT('0', 64), 'bogus')", k3+2) },
			fix:     func() { exec("DELETE FROM wl_bad.journal WHERE client = 3 AND seq = ?", k3+2) },
			want:    []string{fmt.Sprintf("table journal: client 3 seq %d: row missing", k3+1)},
		},
		{
			name:    "journal huge seq",
			corrupt: func() { exec("INSERT INTO wl_bad.journal VALUES (0, 4000000000, REPEAT('0', 64), 'bogus')") },
			fix:     func() { exec("DELETE FROM wl_bad.journal WHERE client = 0 AND seq = 4000000000") },
			want:    []string{fmt.Sprintf("table journal: client 0 seq %d: row missing", k0+1)},
		},
		{
			name:    "journal hash",
			corrupt: func() { exec("UPDATE wl_bad.journal SET step_hash = REVERSE(step_hash) WHERE client = 1 AND seq = 5") },
			fix:     func() { exec("UPDATE wl_bad.journal SET step_hash = REVERSE(step_hash) WHERE client = 1 AND seq = 5") },
			want:    []string{"table journal: client 1 seq 5: step_hash: expected "},
		},
		{
			name:    "blob byte",
			corrupt: func() { exec(flipBlob) },
			fix:     func() { exec(flipBlob) },
			want:    []string{"table blobs: client 0 slot 2: sha256(body): expected ", "body differs first at byte 100 "},
		},
		{
			name:    "blob digest column",
			corrupt: func() { exec("UPDATE wl_bad.blobs SET digest = REVERSE(digest) WHERE client = 3 AND slot = 1") },
			fix:     func() { exec("UPDATE wl_bad.blobs SET digest = REVERSE(digest) WHERE client = 3 AND slot = 1") },
			want:    []string{"table blobs: client 3 slot 1: digest: expected "},
		},
		{
			name:    "compressed text",
			corrupt: func() { exec("UPDATE wl_bad.ztab SET txt = CONCAT(txt, 'x') WHERE client = 3 AND id = 0") },
			fix:     func() { exec("UPDATE wl_bad.ztab SET txt = LEFT(txt, LENGTH(txt) - 1) WHERE client = 3 AND id = 0") },
			want:    []string{"table ztab: client 3 id 0: txt: length differs"},
		},
		{
			name:    "partitioned row deleted",
			corrupt: func() { exec("DELETE FROM wl_bad.ptab WHERE client = 0 AND id = ?", k0) },
			fix:     func() { exec("INSERT INTO wl_bad.ptab VALUES (0, ?, ?, ?)", k0, tag, payload) },
			want:    []string{fmt.Sprintf("table ptab: client 0 id %d: row missing (expected tag=%d, payload=<%d bytes", k0, tag, len(payload))},
		},
		{
			name:    "general tablespace extra row",
			corrupt: func() { exec("INSERT INTO wl_bad.gtab VALUES (1, 100000, 0, 5, 'xyz')") },
			fix:     func() { exec("DELETE FROM wl_bad.gtab WHERE client = 1 AND id = 100000") },
			want:    []string{"table gtab: client 1 id 100000: unexpected row (rev=0, val=5, pad=<3 bytes"},
		},
		{
			name: "bulk pad",
			corrupt: func() {
				exec("UPDATE wl_bad.bulk SET pad = CONCAT(LEFT(pad, 10), 'Z', SUBSTRING(pad, 12)) WHERE id = 5")
			},
			fix:  func() { exec("DELETE FROM wl_bad.bulk WHERE id = 5") },
			want: []string{"table bulk: id 5: pad: "},
		},
	}
	for _, tc := range cases {
		tc.corrupt()
		_, err := Check(ctx, db, cfg)
		if err == nil {
			t.Errorf("%s: Check passed", tc.name)
		} else {
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q lacks %q", tc.name, err, w)
				}
			}
			t.Logf("%s: %v", tc.name, err)
		}
		tc.fix()
		if tc.name != "bulk pad" {
			if _, err := Check(ctx, db, cfg); err != nil {
				t.Fatalf("%s: Check after repair: %v", tc.name, err)
			}
		}
	}
	// The last repair deleted bulk row 5: now it is missing.
	if _, err := Check(ctx, db, cfg); err == nil || !strings.Contains(err.Error(), "table bulk: id 5: row missing") {
		t.Fatalf("bulk row deleted: %v", err)
	}
}

func testCrashRecovery(t *testing.T, ctx context.Context, s *testmysql.Server) {
	cfg := Config{Schema: "wl_crash", Seed: 11}
	db := openDB(t, s.RootDSN)
	if err := Setup(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := Start(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 40); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	steps, err := r.Stop()
	if err == nil {
		t.Fatal("the clients did not notice the server's death")
	}
	t.Logf("clients after the kill: steps %v, error: %v", steps, err)
	db.Close()

	s.Restart()
	db = openDB(t, s.RootDSN)
	res := mustCheck(t, ctx, db, cfg)
	for c, k := range res.Steps {
		// Every acknowledged commit is durable; one more may have committed unacknowledged.
		if k < steps[c] || k > steps[c]+1 {
			t.Fatalf("client %d: recovered K = %d, %d steps were acknowledged", c, k, steps[c])
		}
	}
	t.Logf("after crash recovery: steps %v (acknowledged %v), %d rows", res.Steps, steps, res.Rows)

	r, err = Start(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSteps(ctx, 10); err != nil {
		t.Fatal(err)
	}
	steps, err = r.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if res := mustCheck(t, ctx, db, cfg); !equalSteps(res.Steps, steps) {
		t.Fatalf("Check found steps %v, Stop returned %v", res.Steps, steps)
	}
}
