package shared_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// trackFake is a fake Source with the Tracker capability.
type trackFake struct {
	fake
	got      *shared.TrackRequest
	statuses []*shared.TrackStatus
	err      error // returned by Track and ChangedPages
	rows     []shared.ChangedPage
	gotPages *shared.ChangedPagesRequest
}

type statusList []*shared.TrackStatus

func (l *statusList) Recv() (*shared.TrackStatus, error) {
	if len(*l) == 0 {
		return nil, io.EOF
	}
	s := (*l)[0]
	*l = (*l)[1:]
	return s, nil
}

type rowList []shared.ChangedPage

func (l *rowList) Recv() ([]shared.ChangedPage, error) {
	if len(*l) == 0 {
		return nil, io.EOF
	}
	n := min(len(*l), 3*shared.MaxChangedPagesBatch/2) // more than one message's worth
	out := (*l)[:n]
	*l = (*l)[n:]
	return out, nil
}

func (f *trackFake) Track(_ context.Context, req *shared.TrackRequest) (shared.TrackStream, error) {
	f.got = req
	if f.err != nil {
		return nil, f.err
	}
	l := statusList(f.statuses)
	return &l, nil
}

func (f *trackFake) ChangedPages(_ context.Context, req *shared.ChangedPagesRequest) (shared.ChangedPagesStream, error) {
	f.gotPages = req
	if f.err != nil {
		return nil, f.err
	}
	l := rowList(f.rows)
	return &l, nil
}

// Statuses and rows cross the plugin boundary whole (rows in batches of at most
// MaxChangedPagesBatch); a refusal arrives from Track itself with its kind; a plugin without
// the capability is ErrUnsupported.
func TestTrackGRPC(t *testing.T) {
	both(t, func(t *testing.T, multiplex bool) {
		ctx := context.Background()
		at := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
		statuses := []*shared.TrackStatus{
			{TrackedLSN: 100, FirstLSN: 90, CheckpointLSN: 120, WrittenLSN: 130, MaxTrackedLSNAge: 40, Files: []string{"ib_modified_log_1_90.xdb"}, Polls: 1, At: at},
			{TrackedLSN: 200, FirstLSN: 90, RedoLoggingOff: true, Gaps: []shared.TrackGap{{Kind: "recycled", Start: 150, End: 180, Reason: "r", At: at}}, LastError: "e", Polls: 9, At: at},
		}
		var rows []shared.ChangedPage
		for i := range 2*shared.MaxChangedPagesBatch + 5 {
			rows = append(rows, shared.ChangedPage{SpaceID: uint32(i % 7), PageID: uint32(i), StartLSN: 100, EndLSN: 200})
		}
		f := &trackFake{statuses: statuses, rows: rows}
		c := connect(t, multiplex, f)
		tr, ok := c.src.(shared.Tracker)
		if !ok {
			t.Fatalf("the dispensed client %T is not a Tracker", c.src)
		}
		req := &shared.TrackRequest{Config: shared.Config{"dsn": "x"}, Interval: 1500 * time.Millisecond}
		stream, err := tr.Track(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.got, req) {
			t.Errorf("the plugin received %+v, want %+v", f.got, req)
		}
		var got []*shared.TrackStatus
		for {
			s, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, statuses) {
			t.Fatalf("received statuses %+v, want %+v", got, statuses)
		}

		pages, err := tr.ChangedPages(ctx, &shared.ChangedPagesRequest{Config: shared.Config{"dsn": "x"}, Since: 100, Until: 200})
		if err != nil {
			t.Fatal(err)
		}
		var gotRows []shared.ChangedPage
		for {
			b, err := pages.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > shared.MaxChangedPagesBatch {
				t.Fatalf("a batch of %d rows", len(b))
			}
			gotRows = append(gotRows, b...)
		}
		if !reflect.DeepEqual(gotRows, rows) || f.gotPages.Since != 100 || f.gotPages.Until != 200 {
			t.Fatalf("received %d rows of %d (request %+v)", len(gotRows), len(rows), f.gotPages)
		}

		f.err = shared.Precondition("another tracker is running")
		if _, err := tr.Track(ctx, req); !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "another tracker") {
			t.Errorf("a refusal came back as %v", err)
		}
		f.err, f.rows = nil, []shared.ChangedPage{{SpaceID: 1, PageID: 2, StartLSN: 300, EndLSN: 300}}
		pages, err = tr.ChangedPages(ctx, &shared.ChangedPagesRequest{Since: 1})
		if err == nil {
			_, err = pages.Recv()
		}
		if err == nil || !strings.Contains(err.Error(), "empty or reversed") {
			t.Errorf("a row with an empty LSN range arrived: %v", err)
		}

		plain := connect(t, multiplex, &fake{})
		if _, err := plain.src.(shared.Tracker).Track(ctx, req); !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("Track on a plugin without the capability: %v, want ErrUnsupported", err)
		}
		if s, err := plain.src.(shared.Tracker).ChangedPages(ctx, &shared.ChangedPagesRequest{}); err == nil {
			if _, err = s.Recv(); !errors.Is(err, shared.ErrUnsupported) {
				t.Errorf("ChangedPages on a plugin without the capability: %v, want ErrUnsupported", err)
			}
		} else if !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("ChangedPages on a plugin without the capability: %v", err)
		}
	})
}
