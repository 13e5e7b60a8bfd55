package repo

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// check --read-data asks the source's page check about every stored page and reports the
// pages it refuses as damage of the snapshots that hold them; without a page check, or when
// the source declines, the report says the pages were not checked.
func TestCheckReadDataAsksTheSourceForPages(t *testing.T) {
	r := newRepo(t)
	good := store(t, r, testStream(3, 1), time.Now())
	recs := testStream(3, 21)
	for i, rec := range recs {
		if rec.Pages != nil && rec.Pages.FileIndex == 1 {
			c := streamtest.Clone(rec)
			c.Pages.Data[16384+100] ^= 1 // ibdata1 page 1: stored intact, but not a good page
			recs[i] = c
		}
	}
	bad := store(t, r, streamtest.Reseal(recs), time.Now())

	pages := &testPages{}
	rep, err := r.Check(context.Background(), true, pages)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0].ID != bad.ID || len(rep.Unaffected) != 1 || rep.Unaffected[0] != good.ID {
		t.Fatalf("check --read-data: %+v", rep)
	}
	p := rep.Damaged[0].Problems
	if len(p) != 1 || p[0].What != "ibdata1" || fmt.Sprint(p[0].Pages) != "[1]" || !strings.Contains(p[0].Reason, "fails the source's page check: test checksum mismatch") {
		t.Errorf("problems: %+v", p)
	}
	// Every page blob once: 3+3 ibdata1 pages, the compressed page and the page of zeros.
	if rep.PagesChecked != uint64(pages.asked) || pages.asked != 8 || rep.PagesNotChecked != "" {
		t.Errorf("pages checked %d, asked %d, not checked %q", rep.PagesChecked, pages.asked, rep.PagesNotChecked)
	}

	for name, pc := range map[string]shared.PageChecker{"no page check": nil, "declined": declining{}} {
		rep, err := r.Check(context.Background(), true, pc)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.PagesChecked != 0 || rep.PagesNotChecked == "" {
			t.Errorf("%s: %+v", name, rep)
		}
		t.Logf("%s: %s", name, rep.PagesNotChecked)
	}
}

type declining struct{}

func (declining) CheckPages(context.Context, *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
	return nil, fmt.Errorf("%w: this plugin does not check pages", shared.ErrUnsupported)
}
