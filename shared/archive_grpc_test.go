package shared_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// archiveFake is a fake Source with the Archiver capability.
type archiveFake struct {
	fake
	got  *shared.ArchiveRequest
	segs []*shared.ArchiveSegment
	err  error // returned by Archive
	lag  *shared.ArchiveLag
}

type segList []*shared.ArchiveSegment

func (l *segList) Recv() (*shared.ArchiveSegment, error) {
	if len(*l) == 0 {
		return nil, io.EOF
	}
	s := (*l)[0]
	*l = (*l)[1:]
	return s, nil
}

func (f *archiveFake) Archive(_ context.Context, req *shared.ArchiveRequest) (shared.ArchiveStream, error) {
	f.got = req
	if f.err != nil {
		return nil, f.err
	}
	l := segList(f.segs)
	return &l, nil
}

func (f *archiveFake) ArchiveLag(_ context.Context, req *shared.ArchiveRequest) (*shared.ArchiveLag, error) {
	f.got = req
	return f.lag, nil
}

// Segments cross the plugin boundary whole, one of more than MaxPayloadBytes in several
// chunks; a refusal arrives from Archive itself with its kind; a plugin without the
// capability is ErrUnsupported; a segment whose length disagrees with its data never arrives.
func TestArchiveGRPC(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		big := bytes.Repeat([]byte("binlog"), shared.MaxPayloadBytes/3)
		commit := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		last := &shared.ArchiveTransaction{GTID: testUUID + ":7", File: "binlog.000002", Start: 4 + uint64(len(big)) - 100, End: 4 + uint64(len(big)), Commit: commit, Digest: sha256.Sum256(big[len(big)-100:])}
		segs := []*shared.ArchiveSegment{
			{Format: 1, File: "binlog.000002", Start: 4, End: 4 + uint64(len(big)), Data: big, FormatDescription: []byte{1, 2, 3}, GTIDs: testUUID + ":5-7", Transactions: 3, FirstCommit: commit.Add(-time.Second), LastCommit: commit, FileEnd: false, Last: last},
			{Format: 1, File: "binlog.000002", Start: 4 + uint64(len(big)), End: 10 + uint64(len(big)), Data: []byte("rotate"), FormatDescription: []byte{1, 2, 3}, FileEnd: true},
		}
		f := &archiveFake{segs: segs, lag: &shared.ArchiveLag{ServerFile: "binlog.000003", ServerPos: 900, Bytes: 12, Seconds: 1.5, ExpireSeconds: 86400, OldestFile: "binlog.000001", ResumeFileOnServer: true, ExpiryHeadroom: time.Hour}}
		c := connect(t, l, f)
		ar, ok := c.src.(shared.Archiver)
		if !ok {
			t.Fatalf("the dispensed client %T is not an Archiver", c.src)
		}
		req := &shared.ArchiveRequest{Config: shared.Config{"dsn": "x"}, From: shared.ArchivePoint{GTIDs: testUUID + ":1-4", File: "binlog.000001", Pos: 700, FileEnded: true, Last: &shared.ArchiveTransaction{GTID: testUUID + ":4", File: "binlog.000001", Start: 600, End: 650, Commit: commit}}, UntilNow: true}
		stream, err := ar.Archive(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.got, req) {
			t.Errorf("the plugin received %+v, want %+v", f.got, req)
		}
		var got []*shared.ArchiveSegment
		point := req.From
		for {
			s, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if point, err = point.Next(s); err != nil {
				t.Fatalf("segment %d does not chain: %v", len(got), err)
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, segs) {
			t.Fatalf("received %d segments, not the %d sent (or different)", len(got), len(segs))
		}
		if point.GTIDs != testUUID+":1-7" || point.Pos != 10+uint64(len(big)) || !point.FileEnded {
			t.Errorf("point after the stream: %+v", point)
		}
		lag, err := ar.ArchiveLag(ctx, req)
		if err != nil || !reflect.DeepEqual(lag, f.lag) {
			t.Errorf("ArchiveLag = %+v, %v; want %+v", lag, err, f.lag)
		}

		f.err = shared.Precondition("the server lost transaction x")
		if _, err := ar.Archive(ctx, req); !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "lost transaction x") {
			t.Errorf("a refusal came back as %v", err)
		}
		f.err = nil
		f.segs = []*shared.ArchiveSegment{{Format: 1, File: "binlog.000002", Start: 4, End: 100, Data: []byte("short")}}
		stream, err = ar.Archive(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := stream.Recv(); err == nil || !strings.Contains(err.Error(), "of 5 bytes") {
			t.Errorf("a segment shorter than its positions arrived: %v, %v", s, err)
		}

		plain := connect(t, l, &fake{})
		if _, err := plain.src.(shared.Archiver).Archive(ctx, req); !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("a plugin without the capability: %v, want ErrUnsupported", err)
		}
	})
}
