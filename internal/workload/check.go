package workload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
)

// Result is what Check found.
type Result struct {
	// Steps is K per client: the number of steps client c committed, found from its journal.
	Steps []int
	// Rows is the number of rows and secondary index entries compared with the model.
	Rows int64
}

// Check verifies a server's copy of the workload exactly. In one consistent snapshot (so it may
// run while a Run is going) it finds K per client from the journal, replays the model of every
// client to its K and compares every row of every table, read through the clustered index and
// through each secondary index, with the model, plus the tables' physical properties (compressed
// row format, general tablespace, partitions), the per-client balance sum and the bulk rows Grow
// wrote. The error names the first mismatch: table, index, key, column, expected and found values.
func Check(ctx context.Context, db *sql.DB, cfg Config) (Result, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return Result{}, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("workload check: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return Result{}, fmt.Errorf("workload check: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return Result{}, fmt.Errorf("workload check: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")

	ck := &checker{cfg: &cfg, m: newModel(&cfg), qr: conn}
	res, err := ck.run(ctx)
	if err != nil {
		return res, fmt.Errorf("workload check: %w", err)
	}
	return res, nil
}

type checker struct {
	cfg    *Config
	m      *model
	qr     queryer
	states []*clientState
	rows   int64
}

type jstat struct{ count, min, max int64 }

// journalStats returns per client the count, min and max of its journal's seq.
func journalStats(ctx context.Context, qr queryer, cfg *Config) ([]jstat, error) {
	rows, err := qr.QueryContext(ctx, "SELECT client, COUNT(*), MIN(seq), MAX(seq) FROM "+cfg.tbl("journal")+" GROUP BY client ORDER BY client")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stats := make([]jstat, cfg.Clients)
	for rows.Next() {
		var c int64
		var s jstat
		if err := rows.Scan(&c, &s.count, &s.min, &s.max); err != nil {
			return nil, err
		}
		if c < 0 || c >= int64(cfg.Clients) {
			return nil, fmt.Errorf("table journal: %d rows of client %d, but there are only clients 0..%d", s.count, c, cfg.Clients-1)
		}
		stats[c] = s
	}
	return stats, rows.Err()
}

func (ck *checker) run(ctx context.Context) (Result, error) {
	cfg := ck.cfg
	if err := checkMeta(ctx, ck.qr, cfg); err != nil {
		return Result{}, err
	}
	if err := ck.structure(ctx); err != nil {
		return Result{}, err
	}
	stats, err := journalStats(ctx, ck.qr, cfg)
	if err != nil {
		return Result{}, err
	}
	res := Result{Steps: make([]int, cfg.Clients)}
	replayTo := make([]int, cfg.Clients)
	for c, s := range stats {
		res.Steps[c] = int(s.max)
		replayTo[c] = int(s.max)
		if s.count != s.max {
			// The journal has a gap; the first missing seq is at most count, so replaying that
			// far lets the journal comparison below name it, and a bogus huge seq costs nothing.
			replayTo[c] = int(s.count)
		}
	}
	// Replay every client to its K.
	ck.states = make([]*clientState, cfg.Clients)
	var wg sync.WaitGroup
	for c := range ck.states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ck.states[c] = ck.m.stateAt(c, replayTo[c], true)
		}()
	}
	wg.Wait()

	for _, t := range ck.tables() {
		if err := ck.table(ctx, t); err != nil {
			res.Rows = ck.rows
			return res, err
		}
		if t.name == "accounts" {
			if err := ck.sums(ctx); err != nil {
				return res, err
			}
		}
	}
	bulk, err := ck.bulkTable(ctx)
	if err == nil {
		err = ck.table(ctx, bulk)
	}
	if err == nil && bulk.sumPad != bulk.wantBytes {
		err = fmt.Errorf("table meta: bulk_bytes = %d but rows 1..%d hold %d bytes", bulk.wantBytes, bulk.n, bulk.sumPad)
	}
	res.Rows = ck.rows
	return res, err
}

// structure checks the physical properties the workload is meant to exercise.
func (ck *checker) structure(ctx context.Context) error {
	cfg := ck.cfg
	var rowFormat string
	var zip int64
	err := ck.qr.QueryRowContext(ctx, "SELECT ROW_FORMAT, ZIP_PAGE_SIZE FROM information_schema.INNODB_TABLES WHERE NAME = ?",
		cfg.Schema+"/ztab").Scan(&rowFormat, &zip)
	if err != nil {
		return fmt.Errorf("table ztab: reading its row format: %w", err)
	}
	if rowFormat != "Compressed" || zip != 8192 {
		return fmt.Errorf("table ztab: row format %s with %d-byte compressed pages, want Compressed with 8192", rowFormat, zip)
	}
	var spaceType, spaceName string
	err = ck.qr.QueryRowContext(ctx, `SELECT t.SPACE_TYPE, s.NAME FROM information_schema.INNODB_TABLES t
		JOIN information_schema.INNODB_TABLESPACES s ON s.SPACE = t.SPACE WHERE t.NAME = ?`,
		cfg.Schema+"/gtab").Scan(&spaceType, &spaceName)
	if err != nil {
		return fmt.Errorf("table gtab: reading its tablespace: %w", err)
	}
	if spaceType != "General" || spaceName != cfg.Tablespace {
		return fmt.Errorf("table gtab: in %s tablespace %q, want General tablespace %q", spaceType, spaceName, cfg.Tablespace)
	}
	var parts int
	err = ck.qr.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.INNODB_TABLES WHERE NAME LIKE ?",
		strings.ReplaceAll(cfg.Schema, "_", `\_`)+"/ptab#p#%").Scan(&parts)
	if err != nil {
		return fmt.Errorf("table ptab: counting its partitions: %w", err)
	}
	if parts != 4 {
		return fmt.Errorf("table ptab: %d InnoDB partitions, want 4", parts)
	}
	return nil
}

// sums checks the transfer invariant: each client's balances add up to the initial total.
func (ck *checker) sums(ctx context.Context) error {
	rows, err := ck.qr.QueryContext(ctx, "SELECT client, SUM(balance), COUNT(*) FROM "+ck.cfg.tbl("accounts")+" GROUP BY client ORDER BY client")
	if err != nil {
		return fmt.Errorf("table accounts: %w", err)
	}
	defer rows.Close()
	seen := make([]bool, ck.cfg.Clients)
	for rows.Next() {
		var c, sum, n int64
		if err := rows.Scan(&c, &sum, &n); err != nil {
			return err
		}
		if c < 0 || c >= int64(ck.cfg.Clients) {
			return fmt.Errorf("table accounts: rows of unknown client %d", c)
		}
		seen[c] = true
		if want := ck.m.initSum(int(c)); sum != want || n != int64(ck.cfg.Accounts) {
			return fmt.Errorf("table accounts: client %d: sum of balances %d over %d accounts, want %d over %d (transfer invariant broken)",
				c, sum, n, want, ck.cfg.Accounts)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for c, ok := range seen {
		if !ok {
			return fmt.Errorf("table accounts: client %d has no accounts", c)
		}
	}
	return nil
}

// column is one compared column: a SELECT expression and how to show it.
type column struct {
	expr string
	name string
	bin  bool
}

type indexDef struct {
	name string
	cols []int // indexes into tableDef.cols; must start with the key columns
}

// tableDef describes a table's expected content.
type tableDef struct {
	name    string
	cols    []column
	nkey    int        // the first nkey columns are the (integer) primary key
	indexes []indexDef // secondary indexes, read as covering scans
	// rows yields the expected rows, all columns, in primary key order.
	rows func(yield func([]string) bool)
	// explain adds detail to a mismatch in column col of the row with the given key.
	explain func(ctx context.Context, key []int64, col int) string

	n, sumPad, wantBytes int64 // bulk only
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func hexHash(h [32]byte) string { return hex.EncodeToString(h[:]) }

func (ck *checker) tables() []*tableDef {
	m, states := ck.m, ck.states
	k := func(c int) int { return states[c].k }
	accounts := &tableDef{
		name: "accounts",
		cols: []column{{expr: "client"}, {expr: "id"}, {expr: "balance"}},
		nkey: 2, indexes: []indexDef{{"by_balance", []int{0, 1, 2}}},
		rows: func(yield func([]string) bool) {
			for c, s := range states {
				for id, b := range s.balances {
					if !yield([]string{itoa(int64(c)), itoa(int64(id)), itoa(b)}) {
						return
					}
				}
			}
		},
	}
	journal := &tableDef{
		name: "journal",
		cols: []column{{expr: "client"}, {expr: "seq"}, {expr: "step_hash"}, {expr: "note"}},
		nkey: 2, indexes: []indexDef{{"by_hash", []int{0, 1, 2}}},
		rows: func(yield func([]string) bool) {
			for c, s := range states {
				for i, h := range s.hashes {
					st := m.step(c, i+1)
					if !yield([]string{itoa(int64(c)), itoa(int64(i + 1)), hexHash(h), st.note()}) {
						return
					}
				}
			}
		},
	}
	blobs := &tableDef{
		name: "blobs",
		cols: []column{{expr: "client"}, {expr: "slot"}, {expr: "version"},
			{expr: "LENGTH(body)", name: "length(body)"}, {expr: "SHA2(body, 256)", name: "sha256(body)"}, {expr: "digest"}},
		nkey: 2, indexes: []indexDef{{"by_digest", []int{0, 1, 5}}},
		rows: func(yield func([]string) bool) {
			for c, s := range states {
				for slot, v := range s.blobVer {
					body := m.blobBody(c, slot, v)
					d := digest(body)
					if !yield([]string{itoa(int64(c)), itoa(int64(slot)), itoa(v), itoa(int64(len(body))), d, d}) {
						return
					}
				}
			}
		},
	}
	blobs.explain = func(ctx context.Context, key []int64, col int) string {
		if col != 3 && col != 4 {
			return ""
		}
		var got []byte
		if err := ck.qr.QueryRowContext(ctx, "SELECT body FROM "+ck.cfg.tbl("blobs")+" WHERE client = ? AND slot = ?",
			key[0], key[1]).Scan(&got); err != nil {
			return fmt.Sprintf("; reading the body: %v", err)
		}
		s := states[key[0]]
		return "; body " + diffBytes(m.blobBody(int(key[0]), int(key[1]), s.blobVer[key[1]]), got)
	}
	ztab := &tableDef{
		name: "ztab",
		cols: []column{{expr: "client"}, {expr: "id"}, {expr: "rev"}, {expr: "val"}, {expr: "txt"}},
		nkey: 2, indexes: []indexDef{{"by_val", []int{0, 1, 3}}},
		rows: func(yield func([]string) bool) {
			for c, s := range states {
				val, txt := m.zRow(c, 0, int64(k(c)))
				if !yield([]string{itoa(int64(c)), "0", itoa(int64(k(c))), itoa(val), txt}) {
					return
				}
				for i, rev := range s.zRev {
					val, txt := m.zRow(c, i+1, rev)
					if !yield([]string{itoa(int64(c)), itoa(int64(i + 1)), itoa(rev), itoa(val), txt}) {
						return
					}
				}
			}
		},
	}
	ptab := &tableDef{
		name: "ptab",
		cols: []column{{expr: "client"}, {expr: "id"}, {expr: "tag"}, {expr: "payload", bin: true}},
		nkey: 2, indexes: []indexDef{{"by_tag", []int{0, 1, 2}}},
		rows: func(yield func([]string) bool) {
			for c := range states {
				for id := max(1, k(c)-pWindow+1); id <= k(c); id++ {
					tag, payload := m.pRow(c, id)
					if !yield([]string{itoa(int64(c)), itoa(int64(id)), itoa(tag), string(payload)}) {
						return
					}
				}
			}
		},
	}
	gtab := &tableDef{
		name: "gtab",
		cols: []column{{expr: "client"}, {expr: "id"}, {expr: "rev"}, {expr: "val"}, {expr: "pad", bin: true}},
		nkey: 2, indexes: []indexDef{{"by_val", []int{0, 1, 3}}},
		rows: func(yield func([]string) bool) {
			for c := range states {
				val, pad := m.gRow(c, 0, int64(k(c)))
				if !yield([]string{itoa(int64(c)), "0", itoa(int64(k(c))), itoa(val), string(pad)}) {
					return
				}
				for id := 1; id <= k(c)/gEvery; id++ {
					val, pad := m.gRow(c, id, 0)
					if !yield([]string{itoa(int64(c)), itoa(int64(id)), "0", itoa(val), string(pad)}) {
						return
					}
				}
			}
		},
	}
	return []*tableDef{journal, accounts, blobs, ztab, ptab, gtab}
}

// bulkTable reads how many rows Grow committed and describes them.
func (ck *checker) bulkTable(ctx context.Context) (*tableDef, error) {
	t := &tableDef{
		name: "bulk",
		cols: []column{{expr: "id"}, {expr: "grp"}, {expr: "tag"}, {expr: "pad", bin: true}},
		nkey: 1, indexes: []indexDef{{"by_tag", []int{0, 2}}},
	}
	var err error
	if t.n, t.wantBytes, err = bulkCounters(ctx, ck.qr, ck.cfg, ""); err != nil {
		return nil, err
	}
	t.rows = func(yield func([]string) bool) {
		t.sumPad = 0
		for id := int64(1); id <= t.n; id++ {
			grp, tag, pad := ck.m.bulkRow(id)
			t.sumPad += int64(len(pad))
			if !yield([]string{itoa(id), itoa(grp), itoa(tag), string(pad)}) {
				return
			}
		}
	}
	return t, nil
}

// table compares a table through its clustered index, then through each secondary index.
func (ck *checker) table(ctx context.Context, t *tableDef) error {
	all := make([]int, len(t.cols))
	for i := range all {
		all[i] = i
	}
	if err := ck.scan(ctx, t, "PRIMARY", all); err != nil {
		return err
	}
	for _, ix := range t.indexes {
		if err := ck.scan(ctx, t, ix.name, ix.cols); err != nil {
			return err
		}
	}
	return nil
}

// mismatch is the first difference a scan found.
type mismatch struct {
	kind     string // "value", "missing", "unexpected"
	key      []int64
	col      int      // for "value": index into tableDef.cols
	exp, got string   // for "value"
	row      []string // for "missing"/"unexpected": the row, projected
}

func (ck *checker) scan(ctx context.Context, t *tableDef, index string, proj []int) error {
	where := "table " + t.name
	if index != "PRIMARY" {
		where += " index " + index
	}
	mm, err := ck.scanRows(ctx, t, index, proj)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if mm == nil {
		return nil
	}
	keyDesc := make([]string, len(mm.key))
	for i, v := range mm.key {
		keyDesc[i] = colName(t.cols[i]) + " " + itoa(v)
	}
	msg := where + ": " + strings.Join(keyDesc, " ") + ": "
	switch mm.kind {
	case "value":
		c := t.cols[mm.col]
		msg += colName(c) + ": " + diffValues(mm.exp, mm.got, c.bin)
		if t.explain != nil {
			msg += t.explain(ctx, mm.key, mm.col)
		}
	case "missing", "unexpected":
		if mm.kind == "missing" {
			msg += "row missing (expected "
		} else {
			msg += "unexpected row ("
		}
		var parts []string
		for i, p := range proj[t.nkey:] {
			parts = append(parts, colName(t.cols[p])+"="+showValue(mm.row[t.nkey+i], t.cols[p].bin))
		}
		msg += strings.Join(parts, ", ") + ")"
	}
	return fmt.Errorf("%s", msg)
}

func colName(c column) string {
	if c.name != "" {
		return c.name
	}
	return c.expr
}

// scanRows streams the rows of index (projected to proj, ordered by the primary key) and merges
// them with the expected rows.
func (ck *checker) scanRows(ctx context.Context, t *tableDef, index string, proj []int) (*mismatch, error) {
	exprs := make([]string, len(proj))
	for i, p := range proj {
		exprs[i] = t.cols[p].expr
	}
	keys := make([]string, t.nkey)
	for i := range keys {
		keys[i] = t.cols[i].expr
	}
	query := fmt.Sprintf("SELECT %s FROM %s FORCE INDEX (%s) ORDER BY %s",
		strings.Join(exprs, ", "), ck.cfg.tbl(t.name), q(index), strings.Join(keys, ", "))
	rows, err := ck.qr.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	next, stop := iter.Pull(iter.Seq[[]string](t.rows))
	defer stop()
	exp, more := next()
	raw := make([]sql.RawBytes, len(proj))
	dest := make([]any, len(proj))
	for i := range raw {
		dest[i] = &raw[i]
	}
	got := make([]string, len(proj))
	ekey := make([]int64, t.nkey)
	gkey := make([]int64, t.nkey)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i, b := range raw {
			got[i] = string(b)
		}
		for i := range gkey {
			if gkey[i], err = strconv.ParseInt(got[i], 10, 64); err != nil {
				return nil, fmt.Errorf("key column %s: %w", t.cols[i].expr, err)
			}
		}
		for {
			if !more {
				return &mismatch{kind: "unexpected", key: gkey, row: got}, nil
			}
			for i := range ekey {
				ekey[i], _ = strconv.ParseInt(exp[i], 10, 64)
			}
			cmp := compareKeys(ekey, gkey)
			if cmp > 0 {
				return &mismatch{kind: "unexpected", key: gkey, row: got}, nil
			}
			if cmp < 0 {
				return &mismatch{kind: "missing", key: ekey, row: project(exp, proj)}, nil
			}
			for i, p := range proj[t.nkey:] {
				if exp[p] != got[t.nkey+i] {
					return &mismatch{kind: "value", key: gkey, col: p, exp: exp[p], got: got[t.nkey+i]}, nil
				}
			}
			ck.rows++
			exp, more = next()
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if more {
		for i := range ekey {
			ekey[i], _ = strconv.ParseInt(exp[i], 10, 64)
		}
		return &mismatch{kind: "missing", key: ekey, row: project(exp, proj)}, nil
	}
	return nil, nil
}

func project(row []string, proj []int) []string {
	out := make([]string, len(proj))
	for i, p := range proj {
		out[i] = row[p]
	}
	return out
}

func compareKeys(a, b []int64) int {
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

// showValue renders a value for a message: binary or long values are summarized.
func showValue(v string, bin bool) string {
	if bin {
		h := sha256.Sum256([]byte(v))
		return fmt.Sprintf("<%d bytes, sha256 %x…>", len(v), h[:6])
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	if len(v) > 80 {
		return strconv.Quote(v[:80]) + fmt.Sprintf("…(%d bytes)", len(v))
	}
	return strconv.Quote(v)
}

// diffValues describes how got differs from exp.
func diffValues(exp, got string, bin bool) string {
	if !bin && len(exp) <= 80 && len(got) <= 80 {
		return fmt.Sprintf("expected %s, got %s", exp, got)
	}
	return diffBytes([]byte(exp), []byte(got))
}

// diffBytes describes the first difference between two byte strings.
func diffBytes(exp, got []byte) string {
	i := 0
	for i < len(exp) && i < len(got) && exp[i] == got[i] {
		i++
	}
	switch {
	case bytes.Equal(exp, got):
		return fmt.Sprintf("matches the model (%d bytes)", len(exp))
	case i < len(exp) && i < len(got):
		return fmt.Sprintf("differs first at byte %d (expected 0x%02x, got 0x%02x; lengths expected %d, got %d)", i, exp[i], got[i], len(exp), len(got))
	default:
		return fmt.Sprintf("length differs: expected %d bytes, got %d (equal up to byte %d)", len(exp), len(got), i)
	}
}
