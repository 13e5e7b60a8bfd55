package mysqlsrc

import (
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
)

func TestPlanTrackedReads(t *testing.T) {
	file := func(space uint32, pages uint64) *tablespaceFile {
		return &tablespaceFile{rel: "f", page0: innodb.Page0{SpaceID: space}, pageSize: 16384, pages: pages}
	}
	type read struct{ first, count, sent uint64 }
	cases := []struct {
		name  string
		pages map[uint32][]uint32 // changed pages per space
		kept  uint64
		want  map[uint32][]read
	}{
		{"adjacent pages are one read", map[uint32][]uint32{1: {4, 5, 6}}, 100,
			map[uint32][]read{1: {{4, 3, 3}}}},
		{"small gaps merge only within the 5 % budget, smallest first",
			// 60 wanted pages → a budget of 3 extra pages; gaps of 3, 1 and 2 pages in that
			// order: the 1- and 2-page gaps merge, the 3-page one no longer fits.
			map[uint32][]uint32{1: append(span(0, 20), append(span(23, 20), append(span(44, 10), span(56, 10)...)...)...)}, 100,
			map[uint32][]read{1: {{0, 20, 20}, {23, 43, 40}}}},
		{"a gap wider than 3 pages never merges", map[uint32][]uint32{1: append(span(0, 100), span(104, 100)...)}, 1000,
			map[uint32][]read{1: {{0, 60, 60}, {60, 40, 40}, {104, 60, 60}, {164, 40, 40}}}},
		{"pages the base does not hold are left to the tail copy", map[uint32][]uint32{1: {1, 2, 50, 51}}, 50,
			map[uint32][]read{1: {{1, 2, 2}}}},
		{"runs of different files never merge", map[uint32][]uint32{1: {9}, 2: {10}}, 100,
			map[uint32][]read{1: {{9, 1, 1}}, 2: {{10, 1, 1}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := pagemap.NewPageSet()
			var files []trackedFile
			for space, pages := range c.pages {
				for _, p := range pages {
					set.Add(space, p)
				}
				files = append(files, trackedFile{f: file(space, 1000), kept: c.kept})
			}
			// Map iteration order is random; plan in space order as the backup does.
			if len(files) == 2 && files[0].f.page0.SpaceID > files[1].f.page0.SpaceID {
				files[0], files[1] = files[1], files[0]
			}
			ranges, _ := planTrackedReads(files, set)
			got := map[uint32][]read{}
			for _, r := range ranges {
				sent := r.count
				if r.keep != nil {
					sent = 0
					for p := r.first; p < r.first+r.count; p++ {
						if r.keep(p, nil) {
							sent++
						}
					}
				}
				got[r.file.page0.SpaceID] = append(got[r.file.page0.SpaceID], read{r.first, r.count, sent})
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

func span(first, n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = first + uint32(i)
	}
	return out
}
