package shared_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagetrack/pagetrack/shared"
	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// pageFake is a fake Source with the PageChecker capability.
type pageFake struct {
	fake
	check func(ctx context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error)
}

func (f *pageFake) CheckPages(ctx context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
	return f.check(ctx, req)
}

// CheckPages crosses the plugin boundary with its request and result intact; a plugin without
// the capability answers Unimplemented, which the host sees as ErrUnsupported.
func TestCheckPages(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		pages := append(bytes.Repeat([]byte{1}, 1024), bytes.Repeat([]byte{2}, 1024)...)
		var got *shared.CheckPagesRequest
		want := &shared.CheckPagesResult{Failures: []shared.PageFailure{{Index: 1, Reason: "checksum mismatch"}}}
		c := connect(t, l, &pageFake{check: func(_ context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
			got = req
			return want, nil
		}})
		pc, ok := c.src.(shared.PageChecker)
		if !ok {
			t.Fatalf("the dispensed client %T is not a PageChecker", c.src)
		}
		req := &shared.CheckPagesRequest{PageSize: 1024, Compressed: true, Pages: pages}
		res, err := pc.CheckPages(ctx, req)
		if err != nil || !reflect.DeepEqual(res, want) {
			t.Fatalf("CheckPages = %+v, %v; want %+v", res, err, want)
		}
		if !reflect.DeepEqual(got, req) {
			t.Errorf("the plugin received %+v, want %+v", got, req)
		}

		// A malformed request is refused before it leaves the host, and by the server.
		for _, bad := range []*shared.CheckPagesRequest{
			{PageSize: 3000, Pages: make([]byte, 3000)},
			{PageSize: 1024, Pages: make([]byte, 1000)},
			{PageSize: 1024, Pages: make([]byte, shared.MaxPayloadBytes+1024)},
		} {
			got = nil
			if _, err := pc.CheckPages(ctx, bad); !errors.Is(err, shared.ErrInvalidConfig) || got != nil {
				t.Errorf("CheckPages(%d-byte pages, %d bytes) = %v (plugin called: %v), want ErrInvalidConfig", bad.PageSize, len(bad.Pages), err, got != nil)
			}
		}
		_, err = c.raw.CheckPages(ctx, &sourcev1.CheckPagesRequest{PageSize: 1024, Pages: make([]byte, 1000)})
		if status.Code(err) != codes.InvalidArgument || got != nil {
			t.Errorf("server: %v (plugin called: %v), want InvalidArgument", err, got != nil)
		}

		// A failure index outside the batch is the plugin's error, not a page of the host's.
		want = &shared.CheckPagesResult{Failures: []shared.PageFailure{{Index: 2, Reason: "?"}}}
		if _, err := pc.CheckPages(ctx, req); err == nil {
			t.Errorf("a failure of page 2 of a batch of 2 was accepted")
		}
	})
}

func TestCheckPagesUnsupported(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		ctx := context.Background()
		req := &shared.CheckPagesRequest{PageSize: 1024, Pages: make([]byte, 1024)}
		without := connect(t, l, &fake{})
		if _, err := without.raw.CheckPages(ctx, &sourcev1.CheckPagesRequest{PageSize: 1024, Pages: make([]byte, 1024)}); status.Code(err) != codes.Unimplemented {
			t.Errorf("server without the capability: %v, want Unimplemented", err)
		}
		_, err := without.src.(shared.PageChecker).CheckPages(ctx, req)
		if !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("client: %v, want ErrUnsupported", err)
		}
		// An implementation may decline at run time too.
		declines := connect(t, l, &pageFake{check: func(context.Context, *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
			return nil, fmt.Errorf("%w: no page format loaded", shared.ErrUnsupported)
		}})
		if _, err := declines.src.(shared.PageChecker).CheckPages(ctx, req); !errors.Is(err, shared.ErrUnsupported) {
			t.Errorf("declining implementation: %v, want ErrUnsupported", err)
		}
	})
}
