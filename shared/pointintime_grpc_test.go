package shared_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// pointFake is a fake Source with the PointInTimeRestorer capability: it keeps what it
// received and answers res or err.
type pointFake struct {
	fake
	got  *shared.PointInTimeRequest
	segs []*shared.ArchiveSegment
	res  *shared.PointInTimeResult
	err  error
}

func (f *pointFake) PointInTime(_ context.Context, req *shared.PointInTimeRequest, segs shared.ArchiveStream) (*shared.PointInTimeResult, error) {
	f.got, f.segs = req, nil
	for {
		s, err := segs.Recv()
		if err != nil {
			if f.err != nil {
				return nil, f.err
			}
			return f.res, nil
		}
		f.segs = append(f.segs, s)
	}
}

// The request and every segment (one over MaxPayloadBytes) reach the plugin whole, the result
// comes back whole, a refusal keeps its kind, and a plugin without the capability is
// ErrUnsupported.
func TestPointInTimeGRPC(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		big := bytes.Repeat([]byte("relay"), shared.MaxPayloadBytes/2)
		commit := time.Date(2026, 12, 5, 14, 3, 27, 125000, time.UTC)
		segs := []*shared.ArchiveSegment{
			{Format: 1, File: "binlog.000002", Start: 4, End: 4 + uint64(len(big)), Data: big, FormatDescription: []byte{1, 2, 3}},
			{Format: 1, File: "binlog.000002", Start: 4 + uint64(len(big)), End: 10 + uint64(len(big)), Data: []byte("rotate"), FormatDescription: []byte{1, 2, 3}, FileEnd: true},
		}
		f := &pointFake{res: &shared.PointInTimeResult{Reached: testUUID + ":1-9", LastGTID: testUUID + ":9", LastCommit: commit, Applied: 4, ReplayServerID: 4294967000, Verified: true, TablesChecked: 12}}
		c := connect(t, l, f)
		pr, ok := c.src.(shared.PointInTimeRestorer)
		if !ok {
			t.Fatalf("the dispensed client %T is not a PointInTimeRestorer", c.src)
		}
		req := &shared.PointInTimeRequest{Target: shared.PointTarget{ToTime: commit}, BaseGTIDs: testUUID + ":1-5", Apply: true, TargetDir: "/restored",
			SnapshotGTIDs: testUUID + ":1-6", ExpectGTIDs: testUUID + ":1-9", Verify: true}
		segs2 := segList(append([]*shared.ArchiveSegment(nil), segs...))
		res, err := pr.PointInTime(ctx, req, &segs2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.got, req) || !reflect.DeepEqual(f.segs, segs) {
			t.Errorf("the plugin received %+v and %d segments, want %+v and %d", f.got, len(f.segs), req, len(segs))
		}
		if !reflect.DeepEqual(res, f.res) {
			t.Errorf("result %+v, want %+v", res, f.res)
		}
		f.err = shared.Precondition("transaction x is not in the archive chain")
		segs2 = segList(nil)
		if _, err := pr.PointInTime(ctx, req, &segs2); !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "not in the archive chain") {
			t.Errorf("a refusal came back as %v", err)
		}
		plain := connect(t, l, &fake{})
		segs2 = segList(nil)
		if _, err := plain.src.(shared.PointInTimeRestorer).PointInTime(ctx, req, &segs2); !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("a plugin without the capability: %v, want ErrUnsupported", err)
		}
	})
}

func TestPointTargetCheck(t *testing.T) {
	for _, c := range []struct {
		t    shared.PointTarget
		want string
	}{
		{shared.PointTarget{}, "exactly one"},
		{shared.PointTarget{ToGTIDs: testUUID + ":1-3", BeforeGTID: testUUID + ":4"}, "exactly one"},
		{shared.PointTarget{BeforeGTID: testUUID + ":4-5"}, "takes one GTID"},
		{shared.PointTarget{ToGTIDs: "nonsense"}, "--to-gtid"},
		{shared.PointTarget{BeforeGTID: testUUID + ":4"}, ""},
	} {
		err := c.t.Check()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.t, err, c.want)
		}
	}
}
