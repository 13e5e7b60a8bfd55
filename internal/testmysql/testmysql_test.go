package testmysql

import (
	"database/sql"
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
