package mysqlsrc_test

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestWhatIncrementalsTrust shares one server between the redo logging checks and the checks
// of the server's changed-page list.
func TestWhatIncrementalsTrust(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{})
	src := mysqlsrc.New(hclog.NewNullLogger())
	t.Run("RedoLogging", func(t *testing.T) { sourcetest.RunRedoLogging(t, src, srv) })
	t.Run("DamagedChangedPageList", func(t *testing.T) { testDamagedIdx(t, src, srv) })
}

// testDamagedIdx damages the .idx file the server wrote for an incremental: an entry for a
// page beyond its file, or for a space no backup knows, makes the incremental fall back to the
// page-LSN scan with the reason; the untouched file is used as it is.
func testDamagedIdx(t *testing.T, src shared.Source, srv *testmysql.Server) {
	cfg := sourcetest.Config(srv)
	srv.MustExec("CREATE DATABASE idx")
	srv.MustExec("CREATE TABLE idx.t (id INT PRIMARY KEY, v VARCHAR(64), pad VARBINARY(2000))")
	srv.Fill("idx.t", 0, 2000, 1000)
	var space uint32
	if err := srv.Root.QueryRow("SELECT SPACE FROM information_schema.INNODB_TABLESPACES WHERE NAME = 'idx/t'").Scan(&space); err != nil {
		t.Fatal(err)
	}
	base := sourcetest.TrailerOf(t, src, cfg, nil)

	cases := []struct {
		name        string
		space, page uint32
		method      string
		reasonHas   string
	}{
		{name: "untouched", method: shared.MethodPageTracking},
		{name: "page beyond its file", space: space, page: 1 << 30, method: shared.MethodLSNScan,
			reasonHas: "lists page 1073741824 of space"},
		{name: "unknown space", space: 0x7ffffff0, page: 3, method: shared.MethodLSNScan,
			reasonHas: "lists space id 2147483632, which is in neither"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv.MustExec("UPDATE idx.t SET v = CONCAT(v, '+') WHERE id % 5 = 0")
			sourcetest.Checkpoint(t, srv)
			var seen int64
			var hookErr error
			defer mysqlsrc.OnIdxWritten(func(path string) {
				seen, hookErr = appendIdxEntry(path, c.space, c.page, c.method != shared.MethodPageTracking)
			})()
			inc := sourcetest.TrailerOf(t, src, cfg, base)
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if seen == 0 || seen%8 != 0 {
				t.Fatalf("the server's .idx file held %d bytes; want whole entries", seen)
			}
			if inc.Method != c.method || !strings.Contains(inc.FallbackReason, c.reasonHas) {
				t.Fatalf("method %q reason %q; want %q with a reason containing %q", inc.Method, inc.FallbackReason, c.method, c.reasonHas)
			}
			if c.reasonHas != "" && !strings.Contains(inc.FallbackReason, "changed-page list is damaged") {
				t.Fatalf("reason %q does not say the list is damaged", inc.FallbackReason)
			}
		})
	}
}

// appendIdxEntry returns the size of the .idx file at path and, when damage is set, appends the
// entry (space, page) to it, big-endian as the server writes its entries. It runs on the
// backup's goroutine, so it returns its error rather than failing the test.
func appendIdxEntry(path string, space, page uint32, damage bool) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !damage {
		return st.Size(), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	entry := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, space), page)
	if _, err := f.Write(entry); err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}
