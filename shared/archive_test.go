package shared_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

const testUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

// seg builds a segment of zero bytes whose transactions are gtids, the last one spanning
// its last 10 bytes.
func seg(file string, start, end uint64, gtids ...string) *shared.ArchiveSegment {
	s := &shared.ArchiveSegment{Format: shared.ArchiveFormat, File: file, Start: start, End: end, Data: make([]byte, end-start)}
	if len(gtids) > 0 {
		s.GTIDs = strings.Join(gtids, ",")
		s.Transactions = 1
		if set, err := shared.ParseGTIDSet(s.GTIDs); err == nil {
			s.GTIDs, s.Transactions = set.String(), set.Count()
		}
		s.Last = &shared.ArchiveTransaction{GTID: gtids[len(gtids)-1], File: file, Start: end - 10, End: end, Digest: sha256.Sum256(make([]byte, 10))}
	}
	return s
}

func TestArchivePointNextRefuses(t *testing.T) {
	u := testUUID
	at := shared.ArchivePoint{GTIDs: u + ":1-10", File: "binlog.000002", Pos: 500}
	badDigest := seg("binlog.000002", 500, 700, u+":11")
	badDigest.Last.Digest[0] ^= 1
	miscount := seg("binlog.000002", 500, 700, u+":11")
	miscount.Transactions = 2
	format := seg("binlog.000002", 500, 700, u+":11")
	format.Format = 2
	outside := seg("binlog.000002", 500, 700, u+":11")
	outside.Last.End = 800
	foreign := seg("binlog.000002", 500, 700, u+":11")
	foreign.Last.GTID = u + ":12"
	for _, c := range []struct {
		name string
		p    shared.ArchivePoint
		s    *shared.ArchiveSegment
		want string
	}{
		{"gap", at, seg("binlog.000002", 600, 700, u+":11"), "gap of 100 bytes"},
		{"overlap", at, seg("binlog.000002", 400, 700, u+":11"), "overlap of 100 bytes"},
		{"repeated GTIDs", at, seg("binlog.000002", 500, 700, u+":10-11"), "repeats transactions the archive holds: " + u + ":10"},
		{"file skipped", at, seg("binlog.000004", 4, 100), "binlog files are missing"},
		{"next file not from its start", at, seg("binlog.000003", 200, 300), "lacks binlog.000003 [4, 200)"},
		{"after the file's end", shared.ArchivePoint{File: "binlog.000002", Pos: 500, FileEnded: true}, seg("binlog.000002", 500, 600), "follows the end"},
		{"data length", at, &shared.ArchiveSegment{Format: 1, File: "binlog.000002", Start: 500, End: 600, Data: make([]byte, 3)}, "holds 3 bytes"},
		{"format", at, format, "archive format 2"},
		{"transaction count", at, miscount, "claims 2 transactions but its GTID set holds 1"},
		{"last transaction digest", at, badDigest, "do not match its digest"},
		{"last transaction outside", at, outside, "outside it"},
		{"last transaction not its own", at, foreign, "is not one of its GTIDs"},
		{"bad GTID set", at, seg("binlog.000002", 500, 700, "nonsense:1"), "is not a server uuid"},
	} {
		if _, err := c.p.Next(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	next, err := at.Next(seg("binlog.000003", 4, 300, u+":11", u+":12"))
	if err != nil || next.GTIDs != u+":1-12" || next.File != "binlog.000003" || next.Pos != 300 || next.Last == nil {
		t.Fatalf("next file from its start: %+v, %v", next, err)
	}
}

func TestGTIDSet(t *testing.T) {
	u, v := testUUID, "aaaaaaaa-71ca-11e1-9e33-c80aa9429562"
	a, err := shared.ParseGTIDSet(strings.ToUpper(v) + ":1-3:5,\n" + u + ":1-10:audit:1-2:4")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.String(), u+":1-10:audit:1-2:4,"+v+":1-3:5"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	if a.Count() != 17 {
		t.Fatalf("Count = %d, want 17", a.Count())
	}
	b, _ := shared.ParseGTIDSet(u + ":4-12:audit:3," + v + ":4")
	if got, want := a.Union(b).String(), u+":1-12:audit:1-4,"+v+":1-5"; got != want {
		t.Fatalf("Union = %q, want %q", got, want)
	}
	if got, want := a.Subtract(b).String(), u+":1-3:audit:1-2:4,"+v+":1-3:5"; got != want {
		t.Fatalf("Subtract = %q, want %q", got, want)
	}
	if got, want := a.Intersect(b).String(), u+":4-10"; got != want {
		t.Fatalf("Intersect = %q, want %q", got, want)
	}
	if !a.Union(b).Contains(a) || a.Contains(b) || !a.Equal(a.Union(a)) {
		t.Fatal("Contains/Equal disagree with Union")
	}
	for _, bad := range []string{u, u + ":0", u + ":5-3", "xyz:1", u + ":1-x"} {
		if _, err := shared.ParseGTIDSet(bad); err == nil {
			t.Errorf("ParseGTIDSet(%q) accepted", bad)
		}
	}
}

func TestArchiveNextBinlogFile(t *testing.T) {
	for name, want := range map[string]string{"binlog.000009": "binlog.000010", "b.log.999999": "b.log.1000000", "binlog": ""} {
		if got := shared.NextBinlogFile(name); got != want {
			t.Errorf("NextBinlogFile(%q) = %q, want %q", name, got, want)
		}
	}
}
