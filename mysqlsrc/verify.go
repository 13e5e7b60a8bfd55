package mysqlsrc

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
	"github.com/pagetrack/pagetrack/shared"
)

// Recovery replays redo at about 15–20 MB/s on a small machine; allow for large backups.
const (
	verifyStartTimeout    = 30 * time.Minute
	verifyShutdownTimeout = 5 * time.Minute
)

// startOnRestored starts mysqld on a restored datadir and waits until crash recovery has
// finished and it answers on its socket; what names the caller in the error.
func startOnRestored(ctx context.Context, bin *mysqld.Binaries, opts mysqld.Options, what string) (*mysqld.Process, *sql.DB, error) {
	proc, err := bin.Start(opts)
	if err != nil {
		return nil, nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, verifyStartTimeout)
	defer cancel()
	db, err := proc.WaitReady(startCtx, proc.SocketDSN("root", ""))
	if err != nil {
		proc.Kill()
		return nil, nil, fmt.Errorf("%s: the restored datadir did not start: %w", what, err)
	}
	return proc, db, nil
}

// verify starts a temporary mysqld on the restored datadir (no networking, no grant checks,
// its own socket), waits until crash recovery has finished, runs CHECK TABLE on every table
// and shuts the server down cleanly. Recovery changes the datadir, as the first start of any
// restored datadir would.
//
// The server runs with the options the restore recorded in the target's option file (where
// files outside the datadir now are, …), and every file it opened must be one the restore
// wrote: a server that did not find a restored file may open the original at the path its
// dictionary holds, the backed-up server's own file.
//
// With a keyring file the server loads component_keyring_file on a copy of it (the server may
// write to its data file; the caller's stays as given).
func (s *Source) verify(ctx context.Context, bin *mysqld.Binaries, layout *restoreLayout, keyringFile string, result *shared.RestoreResult) error {
	recorded, err := ReadOptionFile(result.OptionFile)
	if err != nil {
		return fmt.Errorf("verify: reading the recorded server options: %w", err)
	}
	runDir, err := os.MkdirTemp("", "ptverify")
	if err != nil {
		return err
	}
	defer os.RemoveAll(runDir)
	if keyringFile != "" {
		if bin, err = withKeyringCopy(bin, runDir, keyringFile); err != nil {
			return err
		}
	}
	datadir := layout.root
	opts := mysqld.Options{DataDir: datadir, RunDir: runDir, Args: append(verifyOnlyArgs(), recorded...)}
	s.log.Info("starting a temporary mysqld on the restored datadir", "datadir", datadir)
	proc, db, err := startOnRestored(ctx, bin, opts, "verify")
	if err != nil {
		return err
	}
	result.RecoveredTo = recoveredTo(proc.ErrorLogTail(400))
	n, checkErr := CheckAllTables(ctx, db)
	if checkErr == nil {
		checkErr = CheckFilesRestored(ctx, db, layout.restoredDirs())
	}
	db.Close()
	stopErr := proc.Shutdown(verifyShutdownTimeout)
	if checkErr != nil {
		return fmt.Errorf("verify: %w", checkErr)
	}
	if stopErr != nil {
		return fmt.Errorf("verify: %w", stopErr)
	}
	result.Verified, result.TablesChecked = true, n
	s.log.Info("restored datadir verified", "tables_checked", n, "recovered_to_lsn", exact(result.RecoveredTo))
	return nil
}

// withKeyringCopy copies the keyring data file into dir and returns bin loading it.
func withKeyringCopy(bin *mysqld.Binaries, dir, keyringFile string) (*mysqld.Binaries, error) {
	data, err := os.ReadFile(keyringFile)
	if err != nil {
		return nil, fmt.Errorf("verify: keyring: %w", err)
	}
	ring := filepath.Join(dir, "keyring")
	if err := os.WriteFile(ring, data, 0o600); err != nil {
		return nil, err
	}
	out, err := bin.WithKeyringFile(filepath.Join(dir, "keyring-mysqld"), ring)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return out, nil
}

// verifyBinaries finds the server binaries restore --verify starts; Restore calls it before
// it writes anything.
func verifyBinaries() (*mysqld.Binaries, error) {
	bin, err := mysqld.Locate()
	if err != nil {
		return nil, shared.Precondition("restore --verify needs a MySQL server binary: " + err.Error())
	}
	return bin, nil
}

// verifyOnlyArgs are the options of the verifying server beyond the recorded ones: no grant
// checks, no replication, recovery progress in the error log.
func verifyOnlyArgs() []string {
	return []string{
		"--skip-grant-tables",
		"--log-error-verbosity=3", // recovery progress is logged as notes
		"--skip-replica-start",
		"--innodb-buffer-pool-size=128M",
		"--server-id=1",
	}
}

// CheckFilesRestored fails when the server opened an InnoDB file outside dirs (the restored
// datadir and the directories files were relocated to), naming it.
func CheckFilesRestored(ctx context.Context, db *sql.DB, dirs []string) error {
	rows, err := db.QueryContext(ctx, "SELECT PATH FROM information_schema.INNODB_DATAFILES ORDER BY PATH")
	if err != nil {
		return fmt.Errorf("listing INNODB_DATAFILES: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		if !filepath.IsAbs(p) { // relative to the datadir, data home or undo directory: all restored
			continue
		}
		inside := false
		for _, d := range dirs {
			if rel, err := filepath.Rel(d, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				inside = true
			}
		}
		if !inside {
			return fmt.Errorf("the restored server uses the InnoDB file %s, which the restore did not write (it did not find the restored copy); start it with the options in %s", p, OptionFileName)
		}
	}
	return rows.Err()
}

var scannedUpTo = regexp.MustCompile(`scanned up to log sequence number (\d+)`)

func recoveredTo(log string) uint64 {
	m := scannedUpTo.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(m[len(m)-1][1], 10, 64)
	return n
}

// CheckAllTables runs CHECK TABLE on every base table of every schema (system schemas
// included, performance_schema and information_schema excluded) and returns how many it
// checked. Any result other than OK is an error naming the table and the message.
func CheckAllTables(ctx context.Context, db *sql.DB) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('performance_schema', 'information_schema')
		ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return 0, fmt.Errorf("listing tables: %w", err)
	}
	var tables [][2]string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, [2]string{schema, name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, t := range tables {
		if err := checkTable(ctx, db, t[0], t[1]); err != nil {
			return 0, err
		}
	}
	return len(tables), nil
}

func checkTable(ctx context.Context, db *sql.DB, schema, name string) error {
	q := fmt.Sprintf("CHECK TABLE `%s`.`%s`", strings.ReplaceAll(schema, "`", "``"), strings.ReplaceAll(name, "`", "``"))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	var problems []string
	ok := false
	for rows.Next() {
		var table, op, msgType, msgText string
		if err := rows.Scan(&table, &op, &msgType, &msgText); err != nil {
			return err
		}
		switch {
		case strings.EqualFold(msgType, "status") && strings.EqualFold(msgText, "OK"):
			ok = true
		case strings.EqualFold(msgType, "error"), strings.EqualFold(msgType, "status"):
			problems = append(problems, msgType+": "+msgText)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !ok || len(problems) > 0 {
		return fmt.Errorf("CHECK TABLE %s.%s failed: %s", schema, name, strings.Join(problems, "; "))
	}
	return nil
}
