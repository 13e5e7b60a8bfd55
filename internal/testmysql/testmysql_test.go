package testmysql

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
)

func TestStartGivesBackupUserAndComponent(t *testing.T) {
	s := Start(t, Options{})
	db, err := sql.Open("mysql", s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRow("SELECT @@version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "9.") && !strings.HasPrefix(version, "8.") {
		t.Fatalf("unexpected version %q", version)
	}
	var name, value string
	if err := db.QueryRow("SHOW VARIABLES LIKE 'mysqlbackup.backupid'").Scan(&name, &value); err != nil {
		t.Fatalf("component_mysqlbackup not installed: %v", err)
	}
	var local string
	if err := db.QueryRow("SELECT LOCAL FROM performance_schema.log_status").Scan(&local); err != nil {
		t.Fatalf("backup user cannot read log_status: %v", err)
	}
	if !strings.Contains(local, "binary_log_position") {
		t.Fatalf("log_status LOCAL lacks the binlog position: %s", local)
	}
}

// TestKeyringServer: with Options.Keyring the server loads component_keyring_file from its
// private manifest and plugin dir (the shared installation is left as it was), encrypts tables,
// page-compressed tables, general tablespaces, undo, redo and binary logs; a server started on
// the datadir with Options.KeyringFile naming the same data file opens the encrypted data.
func TestKeyringServer(t *testing.T) {
	bin, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, Options{NoComponent: true, Keyring: true, Args: EncryptionArgs})
	var status string
	if err := s.Root.QueryRow("SELECT STATUS_VALUE FROM performance_schema.keyring_component_status WHERE STATUS_KEY = 'Component_status'").Scan(&status); err != nil || status != "Active" {
		t.Fatalf("keyring component status %q (%v)", status, err)
	}
	var dataFile string
	if err := s.Root.QueryRow("SELECT STATUS_VALUE FROM performance_schema.keyring_component_status WHERE STATUS_KEY = 'Data_file'").Scan(&dataFile); err != nil || dataFile != s.KeyringFile {
		t.Fatalf("keyring data file %q (%v), want %q", dataFile, err, s.KeyringFile)
	}
	for _, v := range []string{"innodb_redo_log_encrypt", "innodb_undo_log_encrypt", "binlog_encryption"} {
		var on string
		if err := s.Root.QueryRow("SELECT @@" + v).Scan(&on); err != nil || on != "1" {
			t.Fatalf("%s = %q (%v)", v, on, err)
		}
	}
	s.MustExec("CREATE DATABASE k")
	s.MustExec("CREATE TABLE k.enc (id INT PRIMARY KEY, v VARCHAR(100)) ENCRYPTION='Y'")
	s.MustExec("CREATE TABLE k.zlib (id INT PRIMARY KEY, v VARCHAR(100)) ENCRYPTION='Y' COMPRESSION='zlib'")
	s.MustExec("CREATE TABLESPACE gts ADD DATAFILE 'gts.ibd' ENCRYPTION='Y'")
	s.MustExec("CREATE TABLE k.gen (id INT PRIMARY KEY, v VARCHAR(100)) TABLESPACE gts ENCRYPTION='Y'")
	for _, table := range []string{"k.enc", "k.zlib", "k.gen"} {
		s.MustExec("INSERT INTO " + table + " VALUES (1, 'secret')")
	}
	rows, err := s.Root.Query("SELECT NAME, ENCRYPTION FROM information_schema.INNODB_TABLESPACES WHERE NAME IN ('k/enc', 'k/zlib', 'gts') OR NAME LIKE 'innodb_undo%'")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name, enc string
		if err := rows.Scan(&name, &enc); err != nil {
			t.Fatal(err)
		}
		if enc != "Y" {
			t.Errorf("tablespace %s: ENCRYPTION=%s", name, enc)
		}
		n++
	}
	rows.Close()
	if n < 5 {
		t.Fatalf("%d encrypted tablespaces listed, want 3 and the undo ones", n)
	}
	var log, size, encrypted string
	if err := s.Root.QueryRow("SHOW BINARY LOGS").Scan(&log, &size, &encrypted); err != nil || encrypted != "Yes" {
		t.Fatalf("binary log %s encrypted=%q (%v)", log, encrypted, err)
	}
	s.MustExec("ALTER INSTANCE ROTATE INNODB MASTER KEY")
	s.Stop()
	// As a restored datadir would be opened: a new server on it with the same data file.
	again := StartExisting(t, s.DataDir, Options{KeyringFile: s.KeyringFile, Args: EncryptionArgs})
	for _, table := range []string{"k.enc", "k.zlib", "k.gen"} {
		var v string
		if err := again.Root.QueryRow("SELECT v FROM " + table + " WHERE id = 1").Scan(&v); err != nil || v != "secret" {
			t.Fatalf("%s on the second server: %q (%v)", table, v, err)
		}
	}
	// Nothing was written into the shared installation.
	for _, p := range []string{bin.Mysqld + ".my", filepath.Join(bin.PluginDir, "component_keyring_file.cnf")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists in the shared installation (%v)", p, err)
		}
	}
}
