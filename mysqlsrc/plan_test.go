package mysqlsrc

import (
	"encoding/binary"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
)

func TestPlanTrackedReads(t *testing.T) {
	file := func(space uint32, pages uint64) *tablespaceFile {
		return &tablespaceFile{rel: "f", page0: innodb.Page0{SpaceID: space}, pageSize: 16384, pages: pages}
	}
	type read struct{ first, count uint64 }
	cases := []struct {
		name  string
		pages map[uint32][]uint32 // changed pages per space
		kept  uint64
		want  map[uint32][]read
	}{
		{"adjacent pages are one read", map[uint32][]uint32{1: {4, 5, 6}}, 100,
			map[uint32][]read{1: {{4, 3}}}},
		{"a one-page gap is not read through", map[uint32][]uint32{1: {4, 6}}, 100,
			map[uint32][]read{1: {{4, 1}, {6, 1}}}},
		{"runs stay apart across small gaps, whatever the budget once allowed",
			map[uint32][]uint32{1: append(span(0, 20), append(span(23, 20), append(span(44, 10), span(56, 10)...)...)...)}, 100,
			map[uint32][]read{1: {{0, 20}, {23, 20}, {44, 10}, {56, 10}}}},
		{"a long run is cut to record size", map[uint32][]uint32{1: append(span(0, 100), span(104, 100)...)}, 1000,
			map[uint32][]read{1: {{0, 60}, {60, 40}, {104, 60}, {164, 40}}}}, // 60 pages of 16 KiB fill a record
		{"page 0 is read like any page", map[uint32][]uint32{1: {0, 1, 7}}, 100,
			map[uint32][]read{1: {{0, 2}, {7, 1}}}},
		{"pages the base does not hold are left to the tail copy", map[uint32][]uint32{1: {1, 2, 49, 50, 51}}, 50,
			map[uint32][]read{1: {{1, 2}, {49, 1}}}},
		{"runs of different files stay apart", map[uint32][]uint32{1: {9}, 2: {10}}, 100,
			map[uint32][]read{1: {{9, 1}}, 2: {{10, 1}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := pagemap.NewPageSet()
			var files []trackedFile
			var wantPages uint64
			for _, space := range []uint32{1, 2} {
				pages, ok := c.pages[space]
				if !ok {
					continue
				}
				for _, p := range pages {
					set.Add(space, p)
				}
				files = append(files, trackedFile{f: file(space, 1000), kept: c.kept})
			}
			for _, reads := range c.want {
				for _, r := range reads {
					wantPages += r.count
				}
			}
			ranges, wanted := planTrackedReads(files, set, nil)
			got := map[uint32][]read{}
			var nread uint64
			for _, r := range ranges {
				got[r.file.page0.SpaceID] = append(got[r.file.page0.SpaceID], read{r.first, r.count})
				nread += r.count
			}
			if wanted != wantPages || nread != wanted {
				t.Fatalf("planned %d pages of %d wanted, want %d: no page outside the set is read", nread, wanted, wantPages)
			}
			for space, want := range c.want {
				if len(got[space]) != len(want) {
					t.Fatalf("space %d: reads %v, want %v", space, got[space], want)
				}
				for i := range want {
					if got[space][i] != want[i] {
						t.Fatalf("space %d: reads %v, want %v", space, got[space], want)
					}
				}
			}
		})
	}
}

// TestPreBaseKeep: a tracked page whose LSN is at or below the base's checkpoint is counted and,
// only where skipping is allowed, left out; a zero page and a newer page are always sent; a
// page re-read after a bad first copy is decided (and counted) by its good copy alone.
func TestPreBaseKeep(t *testing.T) {
	page := func(lsn uint64) []byte {
		p := make([]byte, 16384)
		binary.BigEndian.PutUint64(p[16:], lsn) // FIL_PAGE_LSN
		return p
	}
	const baseC = 1000
	cases := []struct {
		name                string
		skip                bool
		lsns                []uint64 // one page each; 0 is a zero page
		reread              map[int]uint64
		wantSent            []bool
		wantPages, wantSkip uint64
	}{
		{"skipping: older and equal pages stay out", true, []uint64{999, 1000, 1001, 0}, nil,
			[]bool{false, false, true, true}, 2, 2},
		{"counting only: every page is sent", false, []uint64{999, 1000, 1001, 0}, nil,
			[]bool{true, true, true, true}, 2, 0},
		{"a re-read page counts by its good copy", false, []uint64{500, 500}, map[int]uint64{1: 5000},
			[]bool{true, true}, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &preBase{baseC: baseC, skip: c.skip}
			keep := b.keeper(10, uint64(len(c.lsns)))
			for i, lsn := range c.lsns {
				p := make([]byte, 16384)
				if lsn != 0 {
					p = page(lsn)
				}
				sent := keep(10+uint64(i), p)
				if again, ok := c.reread[i]; ok && sent {
					sent = keep(10+uint64(i), page(again))
				}
				if sent != c.wantSent[i] {
					t.Fatalf("page %d (LSN %d): sent %v, want %v", i, lsn, sent, c.wantSent[i])
				}
			}
			if pages, skipped := b.counts(); pages != c.wantPages || skipped != c.wantSkip {
				t.Fatalf("counted %d pages before the base, %d skipped; want %d, %d", pages, skipped, c.wantPages, c.wantSkip)
			}
		})
	}
}

func span(first, n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = first + uint32(i)
	}
	return out
}
