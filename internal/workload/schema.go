package workload

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// ddl returns the CREATE statements of the workload's schema, tablespace and tables.
func (c *Config) ddl() []string {
	return []string{
		"CREATE DATABASE " + q(c.Schema),
		fmt.Sprintf("CREATE TABLESPACE %s ADD DATAFILE '%s.ibd' ENGINE=InnoDB", q(c.Tablespace), c.Tablespace),
		"CREATE TABLE " + c.tbl("meta") + ` (
			name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
			val BIGINT NOT NULL
		) ENGINE=InnoDB`,
		"CREATE TABLE " + c.tbl("accounts") + ` (
			client INT NOT NULL,
			id INT NOT NULL,
			balance BIGINT NOT NULL,
			PRIMARY KEY (client, id),
			KEY by_balance (balance)
		) ENGINE=InnoDB`,
		"CREATE TABLE " + c.tbl("journal") + ` (
			client INT NOT NULL,
			seq BIGINT NOT NULL,
			step_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
			note VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
			PRIMARY KEY (client, seq),
			KEY by_hash (step_hash)
		) ENGINE=InnoDB`,
		"CREATE TABLE " + c.tbl("blobs") + ` (
			client INT NOT NULL,
			slot INT NOT NULL,
			version BIGINT NOT NULL,
			body LONGBLOB NOT NULL,
			digest CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
			PRIMARY KEY (client, slot),
			KEY by_digest (digest)
		) ENGINE=InnoDB ROW_FORMAT=DYNAMIC`,
		"CREATE TABLE " + c.tbl("ztab") + ` (
			client INT NOT NULL,
			id INT NOT NULL,
			rev BIGINT NOT NULL,
			val BIGINT NOT NULL,
			txt VARCHAR(1000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
			PRIMARY KEY (client, id),
			KEY by_val (val)
		) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8`,
		"CREATE TABLE " + c.tbl("ptab") + ` (
			client INT NOT NULL,
			id BIGINT NOT NULL,
			tag BIGINT NOT NULL,
			payload VARBINARY(512) NOT NULL,
			PRIMARY KEY (client, id),
			KEY by_tag (tag)
		) ENGINE=InnoDB PARTITION BY HASH (client) PARTITIONS 4`,
		"CREATE TABLE " + c.tbl("gtab") + ` (
			client INT NOT NULL,
			id INT NOT NULL,
			rev BIGINT NOT NULL,
			val BIGINT NOT NULL,
			pad VARBINARY(1024) NOT NULL,
			PRIMARY KEY (client, id),
			KEY by_val (val)
		) TABLESPACE ` + q(c.Tablespace) + ` ENGINE=InnoDB ROW_FORMAT=DYNAMIC`,
		"CREATE TABLE " + c.tbl("bulk") + ` (
			id BIGINT NOT NULL PRIMARY KEY,
			grp INT NOT NULL,
			tag BIGINT NOT NULL,
			pad VARBINARY(4096) NOT NULL,
			KEY by_tag (tag)
		) ENGINE=InnoDB ROW_FORMAT=DYNAMIC`,
	}
}

// Setup (re)creates the workload: it drops the schema and the general tablespace if they exist
// (the tablespace must not hold tables of other schemas), creates them and the tables, and writes
// the step-0 state of every client and the Config's parameters.
func Setup(ctx context.Context, db *sql.DB, cfg Config) error {
	cfg, err := cfg.normalize()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("workload setup: %w", err)
	}
	defer conn.Close()
	exec := func(query string, args ...any) error {
		if _, err := conn.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("workload setup: %s: %w", firstLine(query), err)
		}
		return nil
	}
	if err := exec("DROP DATABASE IF EXISTS " + q(cfg.Schema)); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.INNODB_TABLESPACES WHERE NAME = ?", cfg.Tablespace).Scan(&n); err != nil {
		return fmt.Errorf("workload setup: looking up tablespace %s: %w", cfg.Tablespace, err)
	}
	if n > 0 {
		if err := exec("DROP TABLESPACE " + q(cfg.Tablespace)); err != nil {
			return err
		}
	}
	for _, stmt := range cfg.ddl() {
		if err := exec(stmt); err != nil {
			return err
		}
	}

	m := newModel(&cfg)
	if err := exec("BEGIN"); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	for _, p := range cfg.metaParams() {
		if err := exec("INSERT INTO "+cfg.tbl("meta")+" (name, val) VALUES (?, ?)", p.name, p.val); err != nil {
			return err
		}
	}
	if err := exec("INSERT INTO " + cfg.tbl("meta") + " (name, val) VALUES ('bulk_rows', 0), ('bulk_bytes', 0)"); err != nil {
		return err
	}
	// Accounts in batches of multi-row inserts.
	var vals []string
	var args []any
	flush := func() error {
		if len(vals) == 0 {
			return nil
		}
		err := exec("INSERT INTO "+cfg.tbl("accounts")+" (client, id, balance) VALUES "+strings.Join(vals, ","), args...)
		vals, args = vals[:0], args[:0]
		return err
	}
	for c := 0; c < cfg.Clients; c++ {
		for id := 0; id < cfg.Accounts; id++ {
			vals = append(vals, "(?,?,?)")
			args = append(args, c, id, m.initBalance(c, id))
			if len(vals) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for c := 0; c < cfg.Clients; c++ {
		for slot := 0; slot < cfg.Slots; slot++ {
			body := m.blobBody(c, slot, 0)
			if err := exec("INSERT INTO "+cfg.tbl("blobs")+" (client, slot, version, body, digest) VALUES (?, ?, 0, ?, ?)",
				c, slot, body, digest(body)); err != nil {
				return err
			}
		}
		zval, ztxt := m.zRow(c, 0, 0)
		if err := exec("INSERT INTO "+cfg.tbl("ztab")+" (client, id, rev, val, txt) VALUES (?, 0, 0, ?, ?)", c, zval, ztxt); err != nil {
			return err
		}
		gval, gpad := m.gRow(c, 0, 0)
		if err := exec("INSERT INTO "+cfg.tbl("gtab")+" (client, id, rev, val, pad) VALUES (?, 0, 0, ?, ?)", c, gval, gpad); err != nil {
			return err
		}
	}
	if err := exec("COMMIT"); err != nil {
		return err
	}
	ok = true
	return nil
}

// checkMeta verifies that the schema was set up with cfg's parameters.
func checkMeta(ctx context.Context, qr queryer, cfg *Config) error {
	rows, err := qr.QueryContext(ctx, "SELECT name, val FROM "+cfg.tbl("meta"))
	if err != nil {
		return fmt.Errorf("reading %s.meta (was Setup run?): %w", cfg.Schema, err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var name string
		var val int64
		if err := rows.Scan(&name, &val); err != nil {
			return err
		}
		got[name] = val
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range cfg.metaParams() {
		v, ok := got[p.name]
		if !ok {
			return fmt.Errorf("table meta: row %q missing", p.name)
		}
		if v != p.val {
			return fmt.Errorf("table meta: %s = %d on the server but the Config says %d (Setup ran with other parameters)", p.name, v, p.val)
		}
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
