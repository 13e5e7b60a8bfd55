package mysqlsrc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestArchiveSkippedEmptyBinlog reproduces the archive that ends with a file's rotate, the
// file the rotation opened holding no transaction when the server is SIGKILLed: the resumed
// GTID dump starts in the file after it. The archiver must prove the skipped file empty, record
// it and continue with no gap and no duplicate.
func TestArchiveSkippedEmptyBinlog(t *testing.T) {
	s := testmysql.Start(t, testmysql.Options{NoComponent: true})
	a := newArchiver(t, s.DSN, "skip", 0)
	arc := &archive{t: t, point: mysqlsrc.ResumePoint{GTIDs: executed(t, s)}}
	s.MustExec("CREATE DATABASE arc")
	s.MustExec("CREATE TABLE arc.t (id INT PRIMARY KEY, v VARCHAR(64), pad LONGBLOB)")
	s.Fill("arc.t", 1, 10, 100)
	s.MustExec("FLUSH BINARY LOGS") // the rotate ends the file; the new one holds no transaction

	// Follow until the segment holding the rotate: the archive then ends exactly at the file's
	// end, as it did when the server was killed right after a rotation.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var segs []mysqlsrc.Segment
	err := a.Run(ctx, arc.point, func(seg mysqlsrc.Segment) error {
		segs = append(segs, seg)
		if seg.FileEnd {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range segs {
		arc.take(seg)
	}
	if !arc.point.FileEnded || !gtidContains(t, arc.point.GTIDs, executed(t, s)) {
		t.Fatalf("the archive should end with its file's rotate, holding %s: ends at %+v", executed(t, s), arc.point)
	}
	empty := shared.NextBinlogFile(arc.point.File)
	emptySize := binlogSize(t, s, empty)
	s.Kill()
	s.Restart()
	s.Fill("arc.t", 11, 5, 100)

	before := len(arc.segs)
	r := arc.start(a)
	arc.waitFor(r, executed(t, s))
	if err := arc.stop(r); err != nil {
		t.Fatal(err)
	}
	skipped := arc.segs[before]
	if skipped.File != empty || skipped.Start != 4 || skipped.End != emptySize || skipped.Transactions != 0 {
		t.Fatalf("the resumed archive's first segment should record the skipped empty %s [4, %d): got %s [%d, %d) with %d transactions",
			empty, emptySize, skipped.File, skipped.Start, skipped.End, skipped.Transactions)
	}
	if next := arc.segs[before+1]; next.File != shared.NextBinlogFile(empty) {
		t.Fatalf("after the skipped %s the archive continues in %s, want the file after it", empty, next.File)
	}
	if got, want := arc.point.GTIDs, executed(t, s); !gtidContains(t, got, want) || !gtidContains(t, want, got) {
		t.Fatalf("archive holds %s, server executed %s", got, want)
	}

	// An archive claiming to end with the file before the first archived one, holding every
	// transaction: the dump starts in the newest file, and the files it steps over hold
	// transactions, which the archiver must refuse to record as skipped.
	first := arc.segs[0].File
	prev := fmt.Sprintf("binlog.%06d", shared.BinlogIndex(first)-1)
	forged := mysqlsrc.ResumePoint{GTIDs: executed(t, s), File: prev, Pos: binlogSize(t, s, prev), FileEnded: true}
	err = a.Run(context.Background(), forged, func(mysqlsrc.Segment) error { return errors.New("must not emit") })
	if err == nil || !strings.Contains(err.Error(), "skipping "+first) || !strings.Contains(err.Error(), "it is not a file without transactions") {
		t.Fatalf("a skipped file holding transactions: got %v", err)
	}
}

func binlogSize(t *testing.T, s *testmysql.Server, file string) uint64 {
	rows, err := s.Root.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, encrypted string
		var size uint64
		if err := rows.Scan(&name, &size, &encrypted); err != nil {
			t.Fatal(err)
		}
		if name == file {
			return size
		}
	}
	t.Fatalf("SHOW BINARY LOGS does not list %s", file)
	return 0
}
