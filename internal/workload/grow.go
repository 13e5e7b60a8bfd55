package workload

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

const (
	growBatchBytes = 1 << 20 // payload per Grow transaction
	growBatchRows  = 1000
)

// Grow appends deterministic rows to the bulk table until their payloads total at least bytes.
// A row holds 500..3499 (about 2000 on average) incompressible bytes on-page plus an entry in a
// secondary index, so the table's files end up roughly 1.2–1.5 times bytes. A larger target
// later appends more; a target already reached does nothing. Each batch of about 1 MiB is one
// transaction that also advances the row and byte counters in the meta table, so Check verifies
// exactly the committed rows, also after a crash in the middle of Grow. Grow may run while a Run
// is going (it touches only the bulk table and two meta rows); concurrent Grows serialize on the
// meta rows.
func Grow(ctx context.Context, db *sql.DB, cfg Config, bytes int64) error {
	cfg, err := cfg.normalize()
	if err != nil {
		return err
	}
	if err := checkMeta(ctx, db, &cfg); err != nil {
		return fmt.Errorf("workload grow: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("workload grow: %w", err)
	}
	defer conn.Close()
	m := newModel(&cfg)
	for attempt := 0; ; {
		done, err := growBatch(ctx, conn, &cfg, m, bytes)
		if err != nil {
			if isRetryable(err) && attempt < maxRetries {
				attempt++
				continue
			}
			return fmt.Errorf("workload grow: %w", err)
		}
		if done {
			return nil
		}
		attempt = 0
	}
}

// growBatch commits one batch of bulk rows; it reports done when the target is reached.
func growBatch(ctx context.Context, conn *sql.Conn, cfg *Config, m *model, target int64) (done bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil && err != nil {
				err = fmt.Errorf("%w; %w: %v", err, errRollbackFailed, rerr)
			}
		}
	}()
	n, have, err := bulkCounters(ctx, conn, cfg, " FOR UPDATE")
	if err != nil {
		return false, err
	}
	if have >= target {
		return true, nil
	}
	var vals []string
	var args []any
	var batch int64
	for batch < growBatchBytes && have+batch < target && len(vals) < growBatchRows {
		n++
		grp, tag, pad := m.bulkRow(n)
		vals = append(vals, "(?,?,?,?)")
		args = append(args, n, grp, tag, pad)
		batch += int64(len(pad))
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO "+cfg.tbl("bulk")+" (id, grp, tag, pad) VALUES "+strings.Join(vals, ","), args...); err != nil {
		return false, fmt.Errorf("inserting bulk rows up to id %d: %w", n, err)
	}
	for _, u := range []struct {
		name string
		val  int64
	}{{"bulk_rows", n}, {"bulk_bytes", have + batch}} {
		if _, err := conn.ExecContext(ctx, "UPDATE "+cfg.tbl("meta")+" SET val = ? WHERE name = ?", u.val, u.name); err != nil {
			return false, fmt.Errorf("updating %s: %w", u.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		committed = true // nothing to roll back: the outcome is unknown
		return false, &commitError{err}
	}
	committed = true
	return have+batch >= target, nil
}

// bulkCounters reads the meta rows bulk_rows and bulk_bytes (suffix may add a locking clause).
func bulkCounters(ctx context.Context, qr queryer, cfg *Config, suffix string) (rows, bytes int64, err error) {
	res, err := qr.QueryContext(ctx, "SELECT name, val FROM "+cfg.tbl("meta")+" WHERE name IN ('bulk_rows', 'bulk_bytes')"+suffix)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the bulk counters: %w", err)
	}
	defer res.Close()
	found := 0
	for res.Next() {
		var name string
		var val int64
		if err := res.Scan(&name, &val); err != nil {
			return 0, 0, err
		}
		found++
		if name == "bulk_rows" {
			rows = val
		} else {
			bytes = val
		}
	}
	if err := res.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("table meta: rows bulk_rows and bulk_bytes missing")
	}
	return rows, bytes, nil
}
