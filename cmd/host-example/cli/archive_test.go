package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// Archive makes fakeSource an Archiver: it sends archiveSegs (nil: it cannot archive) and
// records the request.
func (f *fakeSource) Archive(_ context.Context, req *shared.ArchiveRequest) (shared.ArchiveStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.archiveSegs == nil {
		return nil, fmt.Errorf("%w: the fake does not archive", shared.ErrUnsupported)
	}
	f.archiveFrom = append(f.archiveFrom, req.From)
	segs := f.archiveSegs
	return &segStream{segs: segs}, nil
}

func (f *fakeSource) ArchiveLag(context.Context, *shared.ArchiveRequest) (*shared.ArchiveLag, error) {
	return &shared.ArchiveLag{ServerFile: "binlog.000004", ServerPos: 500}, nil
}

type segStream struct{ segs []*shared.ArchiveSegment }

func (s *segStream) Recv() (*shared.ArchiveSegment, error) {
	if len(s.segs) == 0 {
		return nil, io.EOF
	}
	seg := s.segs[0]
	s.segs = s.segs[1:]
	return seg, nil
}

const fakeUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

// fakeSegment holds transactions first..last of fakeUUID in file from start, 50 bytes each.
func fakeSegment(file string, start, first, last uint64) *shared.ArchiveSegment {
	s := &shared.ArchiveSegment{Format: shared.ArchiveFormat, File: file, Start: start, FormatDescription: []byte("fde"),
		GTIDs: fmt.Sprintf("%s:%d-%d", fakeUUID, first, last), Transactions: last - first + 1}
	for g := first; g <= last; g++ {
		txn := []byte(fmt.Sprintf("%-50d", g))
		at := start + uint64(len(s.Data))
		s.Data = append(s.Data, txn...)
		s.Last = &shared.ArchiveTransaction{GTID: fmt.Sprintf("%s:%d", fakeUUID, g), File: file, Start: at, End: at + 50, Commit: time.Unix(int64(g), 0).UTC(), Digest: sha256.Sum256(txn)}
	}
	s.End = start + uint64(len(s.Data))
	return s
}

// The archive command refuses before a snapshot and with a source that cannot archive, stores
// segments after the snapshot's GTID set, resumes from what it stored, and stores nothing of a
// segment that does not continue the archive.
func TestArchiveCommand(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		if code, _, stderr := h.run("archive", "-c", h.config(), "--until-now"); code != 1 || !strings.Contains(stderr, "take a full backup first") {
			t.Fatalf("archive before a snapshot: exit %d\n%s", code, stderr)
		}
		snap := h.backup()
		if code, _, stderr := h.run("archive", "-c", h.config(), "--until-now"); code != 1 || !strings.Contains(stderr, "not supported") {
			t.Fatalf("archive with a source that cannot archive: exit %d\n%s", code, stderr)
		}
		h.fake.archiveSegs = []*shared.ArchiveSegment{fakeSegment("binlog.000003", 1234, 78, 80), fakeSegment("binlog.000003", 1384, 81, 81)}
		code, stdout, stderr := h.run("archive", "-c", h.config(), "--until-now", "--json")
		var sum struct {
			Stored int    `json:"records_stored"`
			GTIDs  string `json:"gtids"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &sum) != nil || sum.Stored != 2 || !strings.Contains(sum.GTIDs, fakeUUID+":1-81") {
			t.Fatalf("archive: exit %d %+v\n%s%s", code, sum, stdout, stderr)
		}
		if from := h.fake.archiveFrom[0]; !strings.HasPrefix(from.GTIDs, fakeUUID+":1-77") || from.File != "" {
			t.Errorf("the first run started from %+v, not after the snapshot", from)
		}
		h.fake.archiveSegs = []*shared.ArchiveSegment{fakeSegment("binlog.000003", 1434, 81, 82)}
		if code, _, stderr := h.run("archive", "-c", h.config(), "--until-now"); code != 1 || !strings.Contains(stderr, "repeats transactions the archive holds") {
			t.Errorf("a repeated transaction: exit %d\n%s", code, stderr)
		}
		if from := h.fake.archiveFrom[len(h.fake.archiveFrom)-1]; from.File != "binlog.000003" || from.Pos != 1434 || from.Last == nil || from.Last.GTID != fakeUUID+":81" {
			t.Errorf("the resumed run started from %+v", from)
		}
		var tl []struct {
			Windows []struct {
				Snapshot, Note string
				LastRecord     uint64 `json:"last_record"`
			} `json:"windows"`
		}
		code, stdout, _ = h.run("timeline", "-c", h.config(), "--json")
		if code != 0 || json.Unmarshal([]byte(stdout), &tl) != nil || len(tl) != 1 || len(tl[0].Windows) != 1 || tl[0].Windows[0].Snapshot != snap || tl[0].Windows[0].Note != "" || tl[0].Windows[0].LastRecord != 2 {
			t.Errorf("timeline: %s", stdout)
		}
		if code, stdout, stderr := h.run("check", "-c", h.config()); code != 0 || !strings.Contains(stdout, "2 archive records") {
			t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
		}
	})
}
