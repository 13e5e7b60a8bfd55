package mysqlsrc

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
	"github.com/pagetrack/pagetrack/shared"
)

// serverInfo is what the probe learned about the server.
type serverInfo struct {
	version             string
	uuid                string
	datadir             string // as the server reports it
	pageSize            uint32
	binlogBasename      string // full path; empty when log_bin is off
	gtidMode            string
	lowerCaseTableNames int64
	redoCapacity        int64
	component           bool
	dirs                serverDirs
}

// minVersion is the oldest server whose redo format (8.0.30: #innodb_redo) we read.
var minVersion = [3]int{8, 0, 30}

// open connects and checks everything a backup needs before it takes any lock.
func open(ctx context.Context, o *options) (*sql.DB, *serverInfo, error) {
	connector, err := mysql.NewConnector(o.dsn)
	if err != nil {
		return nil, nil, shared.InvalidConfig(fmt.Sprintf("dsn: %v", err))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	info, err := probe(ctx, db, o)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, info, nil
}

func probe(ctx context.Context, db *sql.DB, o *options) (*serverInfo, error) {
	if err := db.PingContext(ctx); err != nil {
		return nil, connectError(err, o)
	}
	info := &serverInfo{}
	var logBin int
	var basename sql.NullString
	err := db.QueryRowContext(ctx, `SELECT @@version, @@server_uuid, @@datadir, @@innodb_page_size, @@log_bin,
		@@log_bin_basename, @@gtid_mode, @@lower_case_table_names, @@innodb_redo_log_capacity`).Scan(
		&info.version, &info.uuid, &info.datadir, &info.pageSize, &logBin, &basename, &info.gtidMode,
		&info.lowerCaseTableNames, &info.redoCapacity)
	if err != nil {
		return nil, fmt.Errorf("reading server variables: %w", err)
	}
	if logBin == 1 && basename.Valid {
		info.binlogBasename = basename.String
	}
	var dataHome, undo, dirs, dataFilePath sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT @@innodb_data_home_dir, @@innodb_undo_directory, @@innodb_directories, @@innodb_data_file_path`).Scan(
		&dataHome, &undo, &dirs, &dataFilePath); err != nil {
		return nil, fmt.Errorf("reading the server's InnoDB directories: %w", err)
	}
	info.dirs = serverDirs{dataHome: dataHome.String, undo: undo.String, directories: dirs.String, dataFilePath: dataFilePath.String}
	if err := checkDataFilePath(info.dirs.dataFilePath); err != nil {
		return nil, err
	}
	if err := checkVersion(info.version); err != nil {
		return nil, err
	}
	if err := checkPrivileges(ctx, db, o); err != nil {
		return nil, err
	}
	if err := checkDatadir(o.datadir, info); err != nil {
		return nil, err
	}
	if err := checkEncryption(ctx, db, o); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'mysqlbackup.backupid'")
	if err != nil {
		return nil, fmt.Errorf("checking for component_mysqlbackup: %w", err)
	}
	info.component = rows.Next()
	rows.Close()
	return info, nil
}

func connectError(err error, o *options) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1045 {
		return shared.Precondition(fmt.Sprintf("MySQL refused the login of user %q (error 1045): check the user and password in the dsn", o.dsn.User))
	}
	return shared.Precondition(fmt.Sprintf("cannot connect to MySQL at %s %s: %v; check that the server runs and the dsn's address", o.dsn.Net, o.dsn.Addr, err))
}

func checkVersion(version string) error {
	var v [3]int
	fields := strings.SplitN(strings.SplitN(version, "-", 2)[0], ".", 3)
	for i := range fields {
		v[i], _ = strconv.Atoi(fields[i])
	}
	for i := range v {
		if v[i] != minVersion[i] {
			if v[i] < minVersion[i] {
				return shared.Precondition(fmt.Sprintf("MySQL %s is too old: pagetrack needs 8.0.30 or later (the #innodb_redo log format)", version))
			}
			return nil
		}
	}
	return nil
}

// RequiredGrants are the statements that give account (e.g. 'backup'@'localhost') exactly
// the privileges a backup uses. The README lists the same statements.
func RequiredGrants(account string) []string {
	return []string{
		"GRANT " + strings.Join(requiredGlobal, ", ") + " ON *.* TO " + account,
		"GRANT SELECT ON performance_schema.log_status TO " + account,
		"GRANT SELECT ON performance_schema.global_status TO " + account,
		"GRANT SELECT ON performance_schema.error_log TO " + account,
		"GRANT " + strings.Join(archiveGlobal, ", ") + " ON *.* TO " + account,
	}
}

// archiveGlobal are the global privileges binlog archiving uses: REPLICATION SLAVE to register
// as a replica and dump the binlog, REPLICATION CLIENT for SHOW BINARY LOGS, SHOW BINARY LOG
// STATUS and SHOW REPLICAS (the server_id collision check).
var archiveGlobal = []string{"REPLICATION SLAVE", "REPLICATION CLIENT"}

// requiredGlobal are the global privileges a backup uses: BACKUP_ADMIN for the backup lock and
// log_status, PROCESS for INFORMATION_SCHEMA.INNODB_*, SYSTEM_VARIABLES_ADMIN to set
// mysqlbackup.backupid for page tracking.
var requiredGlobal = []string{"BACKUP_ADMIN", "PROCESS", "SYSTEM_VARIABLES_ADMIN"}

func checkPrivileges(ctx context.Context, db *sql.DB, o *options) error {
	var user string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		return err
	}
	name, host, _ := strings.Cut(user, "@")
	grantee := fmt.Sprintf("'%s'@'%s'", name, host)
	rows, err := db.QueryContext(ctx, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?", grantee)
	if err != nil {
		return fmt.Errorf("reading the backup user's privileges: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		have[p] = true
	}
	rows.Close()
	var missing []string
	for _, p := range requiredGlobal {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return shared.Precondition(fmt.Sprintf("user %s lacks the %s privilege(s); as an administrator run: GRANT %s ON *.* TO %s",
			grantee, strings.Join(missing, ", "), strings.Join(missing, ", "), grantee))
	}
	for _, t := range []struct{ query, table, why string }{
		{"SELECT LOCAL FROM performance_schema.log_status", "log_status", "needed for the backup's consistent LSN, binlog position and GTID set"},
		{"SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'", "global_status", "needed to notice server restarts and redo logging switched off"},
		{"SELECT COUNT(*) FROM performance_schema.error_log WHERE ERROR_CODE = 'MY-000000'", "error_log", "needed to prove redo logging stayed on between backups"},
	} {
		var v string
		err := db.QueryRowContext(ctx, t.query).Scan(&v)
		if isAccessDenied(err) {
			return shared.Precondition(fmt.Sprintf("user %s cannot read performance_schema.%s (%s); as an administrator run: GRANT SELECT ON performance_schema.%s TO %s", grantee, t.table, t.why, t.table, grantee))
		}
		if err != nil {
			return fmt.Errorf("reading performance_schema.%s: %w", t.table, err)
		}
	}
	return nil
}

// isAccessDenied reports a MySQL "command denied" error (1142 on a table, 1227 on a privilege).
func isAccessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1142 || me.Number == 1227)
}

// checkDatadir makes sure the configured datadir is this server's: its auto.cnf carries the
// server's uuid (paths can differ across mount namespaces, the uuid cannot).
func checkDatadir(datadir string, info *serverInfo) error {
	st, err := os.Stat(datadir)
	if err != nil {
		return shared.Precondition(fmt.Sprintf("datadir %s: %v; set datadir to the server's data directory (it reports %s)", datadir, err, info.datadir))
	}
	if !st.IsDir() {
		return shared.Precondition(fmt.Sprintf("datadir %s is not a directory; the server reports its datadir as %s", datadir, info.datadir))
	}
	wrong := func(why string) error {
		return shared.Precondition(fmt.Sprintf("datadir %s is not the datadir of the server at the dsn (%s); that server (uuid %s) reports its datadir as %s — set datadir to that path as seen from this host",
			datadir, why, info.uuid, info.datadir))
	}
	uuid, err := readAutoCnfUUID(filepath.Join(datadir, "auto.cnf"))
	switch {
	case err == nil && uuid != info.uuid:
		return wrong(fmt.Sprintf("its auto.cnf has server-uuid %s", uuid))
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(filepath.Join(datadir, "ibdata1")); err != nil {
			return wrong("it has neither auto.cnf nor ibdata1")
		}
		a, _ := filepath.EvalSymlinks(datadir)
		b, _ := filepath.EvalSymlinks(info.datadir)
		if a != b {
			return wrong("it has no auto.cnf to compare server uuids and the paths differ")
		}
	default:
		return shared.Precondition(fmt.Sprintf("datadir %s is not readable (%v); run the backup as a user that can read the server's files", datadir, err))
	}
	if _, err := os.Stat(filepath.Join(datadir, "#innodb_redo")); err != nil {
		return shared.Precondition(fmt.Sprintf("datadir %s has no readable #innodb_redo directory (%v); the backup must read the redo log", datadir, err))
	}
	return nil
}

func readAutoCnfUUID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.TrimSpace(k) == "server-uuid" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no server-uuid", path)
}

// checkEncryption refuses, before any lock is taken, a server with encrypted data (tablespaces,
// redo, undo or binary logs) when no keyring_file is configured: without the keys, encrypted
// pages and redo cannot be checked, and finding them halfway through a copy would fail the
// backup late. With keyring_file it checks the file reads as a keyring; the backup reads it
// again under the lock (a rotation may add keys until then).
func checkEncryption(ctx context.Context, db *sql.DB, o *options) error {
	var redo, undo, binlog int
	if err := db.QueryRowContext(ctx, "SELECT @@innodb_redo_log_encrypt, @@innodb_undo_log_encrypt, @@binlog_encryption").Scan(&redo, &undo, &binlog); err != nil {
		return fmt.Errorf("reading innodb_redo_log_encrypt, innodb_undo_log_encrypt and binlog_encryption: %w", err)
	}
	if o.keyringFile != "" {
		if _, err := keyring.Load(o.keyringFile); err != nil {
			return shared.Precondition(fmt.Sprintf("attribute %q: %v; nothing was locked or copied", keyringAttr, err))
		}
		return nil
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT NAME FROM information_schema.INNODB_TABLESPACES
		WHERE ENCRYPTION = 'Y' OR FLAG & %d <> 0 ORDER BY NAME`, innodb.FSPFlagEncryption))
	if err != nil {
		return fmt.Errorf("listing encrypted tablespaces: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return encryptionRefusal(names, redo == 1, undo == 1, binlog == 1)
}

// encryptionRefusal says what is encrypted and which attribute to set, or nil.
func encryptionRefusal(tablespaces []string, redo, undo, binlog bool) error {
	var what []string
	if n := len(tablespaces); n > 0 {
		shown := tablespaces[:min(n, 10)]
		list := strings.Join(shown, ", ")
		if n > len(shown) {
			list += fmt.Sprintf(" and %d more", n-len(shown))
		}
		what = append(what, fmt.Sprintf("encrypted tablespace(s) %s", list))
	}
	if redo {
		what = append(what, "an encrypted redo log (innodb_redo_log_encrypt=ON)")
	}
	if undo {
		what = append(what, "encrypted undo logs (innodb_undo_log_encrypt=ON)")
	}
	if binlog {
		what = append(what, "encrypted binary logs (binlog_encryption=ON)")
	}
	if len(what) == 0 {
		return nil
	}
	return shared.Precondition(fmt.Sprintf("the server has %s, and the source sets no %q; nothing was locked or copied. Set the source attribute %s to the server's component_keyring_file data file (the \"path\" of its component_keyring_file.cnf) so the backup can check encrypted pages and redo; the keyring is read, never stored in the backup",
		strings.Join(what, " and "), keyringAttr, keyringAttr))
}
