package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

const archUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

// testSegment is a segment of file from start holding transactions first..last (each 100
// bytes of distinct content), committed at base + gno seconds.
func testSegment(file string, start uint64, first, last uint64, base time.Time) *shared.ArchiveSegment {
	s := &shared.ArchiveSegment{Format: shared.ArchiveFormat, File: file, Start: start, FormatDescription: []byte("fde of " + file)}
	for g := first; g <= last; g++ {
		txn := bytes.Repeat([]byte(fmt.Sprintf("txn %d;", g)), 15)[:100]
		tstart := start + uint64(len(s.Data))
		s.Data = append(s.Data, txn...)
		s.Last = &shared.ArchiveTransaction{GTID: fmt.Sprintf("%s:%d", archUUID, g), File: file, Start: tstart, End: tstart + 100, Commit: base.Add(time.Duration(g) * time.Second).UTC(), Digest: sha256.Sum256(txn)}
		if g == first {
			s.FirstCommit = s.Last.Commit
		}
		s.LastCommit = s.Last.Commit
	}
	s.End = start + uint64(len(s.Data))
	s.Transactions = last - first + 1
	s.GTIDs = fmt.Sprintf("%s:%d-%d", archUUID, first, last)
	return s
}

// The archive stored segment by segment chains by the shared rule, refuses a segment that
// does not continue it, reads back exactly, shows in the timeline from the snapshot it
// started after, and a flipped record file is caught by check and blocks forget.
func TestArchiveStoreChainTimeline(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	point := shared.ArchivePoint{GTIDs: archUUID + ":1-10"}
	segs := []*shared.ArchiveSegment{
		testSegment("binlog.000001", 1000, 11, 13, base),
		testSegment("binlog.000001", 1300, 14, 14, base),
		testSegment("binlog.000002", 4, 15, 20, base),
	}
	for i, s := range segs {
		_, next, err := r.AppendArchive(ctx, "db", uint64(i+1), point, i == 0, s)
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		point = next
	}
	// A repeat of the last segment, and a segment after a hole, are not stored.
	if _, _, err := r.AppendArchive(ctx, "db", 4, point, false, segs[2]); err == nil || !strings.Contains(err.Error(), "does not continue") {
		t.Fatalf("a repeated segment: %v", err)
	}
	if _, _, err := r.AppendArchive(ctx, "db", 4, point, false, testSegment("binlog.000002", 700, 22, 22, base)); err == nil || !strings.Contains(err.Error(), "gap of") {
		t.Fatalf("a segment after a gap: %v", err)
	}
	// A record number in use is never overwritten.
	if _, _, err := r.AppendArchive(ctx, "db", 3, point, false, testSegment("binlog.000002", 604, 21, 21, base)); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("overwriting record 3: %v", err)
	}
	recs, bad, err := r.ArchiveRecords(ctx, "db")
	if err != nil || len(bad) > 0 || len(recs) != 3 {
		t.Fatalf("ArchiveRecords = %d, %v, %v", len(recs), bad, err)
	}
	chains, problems := ArchiveChains(recs)
	if len(problems) > 0 || len(chains) != 1 || chains[0].End.GTIDs != archUUID+":1-20" || chains[0].End.Pos != 604 {
		t.Fatalf("chains %+v, problems %v", chains, problems)
	}
	for i, rec := range recs {
		got, err := r.ReadArchiveSegment(rec)
		if err != nil || !bytes.Equal(got.Data, segs[i].Data) || !bytes.Equal(got.FormatDescription, segs[i].FormatDescription) {
			t.Fatalf("record %d reads back as %v", rec.Seq, err)
		}
	}

	snaps := []*Snapshot{
		{ID: "s1", Source: "db", Time: base, BinlogFile: "binlog.000001", BinlogPos: 1000, GTIDExecuted: archUUID + ":1-10"},
		{ID: "s2", Source: "db", Time: base.Add(time.Hour), BinlogFile: "binlog.000001", BinlogPos: 1400, GTIDExecuted: archUUID + ":1-14"},
		{ID: "s0", Source: "db", Time: base.Add(-time.Hour), BinlogFile: "binlog.000001", BinlogPos: 500, GTIDExecuted: archUUID + ":1-5"},
	}
	tl := BuildTimeline("db", snaps, chains, problems)
	if w := tl.Windows[0]; w.Note != "" || w.To.GTIDs != archUUID+":1-20" || w.FirstRecord != 1 || w.LastRecord != 3 || !w.To.Commit.Equal(base.Add(20*time.Second)) {
		t.Errorf("window of s1: %+v", w)
	}
	if w := tl.Windows[1]; w.Note != "" || w.FirstRecord != 3 {
		t.Errorf("window of s2: %+v", w)
	}
	if w := tl.Windows[2]; w.Note == "" || w.To != w.From {
		t.Errorf("s0 is older than the archive's start, yet its window is %+v", w)
	}

	// keep_binlog_within: with s2 kept, records 1 and 2 (all in s2) may go; never the last.
	now := base.Add(48 * time.Hour)
	if got := PlanArchiveForget(chains, snaps[1:2], time.Hour, now); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("with s2 kept: %v, want [1 2]", got)
	}
	if got := PlanArchiveForget(chains, snaps[:1], time.Hour, now); len(got) != 0 {
		t.Errorf("with s1 kept every record is in its window, yet %v would go", got)
	}
	if got := PlanArchiveForget(chains, snaps[1:2], 72*time.Hour, now); len(got) != 0 {
		t.Errorf("within 72h everything stays, yet %v would go", got)
	}

	// A flipped byte in a record file: check names it, the archive does not resume past it.
	path := filepath.Join(r.dir, archiveDir, "db", recordName(2))
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"transactions": 1`), []byte(`"transactions": 2`), 1), 0o600)
	rep, err := r.Check(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Errors, "\n"), "archive record db #2 cannot be verified: its file") {
		t.Errorf("check of a flipped record: %v", rep.Errors)
	}
	recs, bad, _ = r.ArchiveRecords(ctx, "db")
	if len(bad) != 1 || bad[0].Seq != 2 {
		t.Fatalf("bad records %v", bad)
	}
	if _, problems := ArchiveChains(recs); len(problems) != 1 || !strings.Contains(problems[0].Error(), "records 2 to 2 are missing") {
		t.Errorf("chain problems without record 2: %v", problems)
	}
	// A forged record with a recomputed checksum that does not continue is caught by the rule.
	os.WriteFile(path, b, 0o600)
	forged, err := DecodeArchiveRecord("db", 2, b)
	if err != nil {
		t.Fatal(err)
	}
	forged.Start, forged.End = 1350, 1450
	data, _ := EncodeArchiveRecord(forged)
	os.WriteFile(path, data, 0o600)
	rep, _ = r.Check(ctx, false, nil)
	if rep.OK() || !strings.Contains(strings.Join(rep.Errors, "\n"), "gap of 50 bytes") {
		t.Errorf("check of a forged record: %v", rep.Errors)
	}
	os.WriteFile(path, b, 0o600)
	if rep, _ := r.Check(ctx, true, nil); !rep.OK() || rep.ArchiveRecords != 3 {
		t.Errorf("check of the restored archive: %+v", rep)
	}
}

// A chain that restarts after purged binlog leaves a gap the timeline names, and the
// snapshot before the gap has a window up to it only.
func TestTimelineNamesGap(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p1 := shared.ArchivePoint{GTIDs: archUUID + ":1-10"}
	if _, _, err := r.AppendArchive(ctx, "db", 1, p1, true, testSegment("binlog.000001", 1000, 11, 12, base)); err != nil {
		t.Fatal(err)
	}
	p2 := shared.ArchivePoint{GTIDs: archUUID + ":1-30"}
	if _, _, err := r.AppendArchive(ctx, "db", 2, p2, true, testSegment("binlog.000009", 4, 31, 33, base)); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := r.ArchiveRecords(ctx, "db")
	chains, problems := ArchiveChains(recs)
	if len(chains) != 2 || len(problems) != 0 {
		t.Fatalf("%d chains, problems %v", len(chains), problems)
	}
	snaps := []*Snapshot{
		{ID: "a", Source: "db", GTIDExecuted: archUUID + ":1-10"},
		{ID: "b", Source: "db", GTIDExecuted: archUUID + ":1-30"},
		{ID: "c", Source: "db", GTIDExecuted: archUUID + ":1-20"},
	}
	tl := BuildTimeline("db", snaps, chains, problems)
	if len(tl.Gaps) != 1 || !strings.Contains(tl.Gaps[0], "18 transaction(s) are in no archive: "+archUUID+":13-30") {
		t.Errorf("gaps %q", tl.Gaps)
	}
	if w := tl.Windows[0]; w.Note != "" || w.To.GTIDs != archUUID+":1-12" || w.LastRecord != 1 {
		t.Errorf("window of a: %+v", w)
	}
	if w := tl.Windows[1]; w.Note != "" || w.To.GTIDs != archUUID+":1-33" || w.FirstRecord != 2 {
		t.Errorf("window of b: %+v", w)
	}
	if w := tl.Windows[2]; w.Note == "" {
		t.Errorf("c lies in the gap, yet its window is %+v", w)
	}
}
