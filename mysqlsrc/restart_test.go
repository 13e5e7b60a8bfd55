package mysqlsrc_test

import (
	"path/filepath"
	"testing"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
)

// TestBinlogMarksServerStarts re-checks on the real server what restart detection relies on:
// a binlog opened by a rotation has created = 0; one opened by a server start, clean or after
// kill -9, has a non-zero created.
func TestBinlogMarksServerStarts(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	current := func() string {
		var file string
		var pos int64
		var a, b, c string
		if err := srv.Root.QueryRow("SHOW BINARY LOG STATUS").Scan(&file, &pos, &a, &b, &c); err != nil {
			t.Fatal(err)
		}
		return file
	}
	created := func(file string) uint32 {
		v, err := mysqlsrc.BinlogCreated(filepath.Join(srv.DataDir, file))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if first := current(); created(first) == 0 {
		t.Errorf("%s, opened at server start, has created = 0", first)
	}
	srv.MustExec("FLUSH BINARY LOGS")
	if rotated := current(); created(rotated) != 0 {
		t.Errorf("%s, opened by FLUSH BINARY LOGS, has created != 0", rotated)
	}
	srv.Stop()
	srv.Restart()
	if clean := current(); created(clean) == 0 {
		t.Errorf("%s, opened by a clean restart, has created = 0", clean)
	}
	srv.Kill()
	srv.Restart()
	if crashed := current(); created(crashed) == 0 {
		t.Errorf("%s, opened by a restart after kill -9, has created = 0", crashed)
	}
}
