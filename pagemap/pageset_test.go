package pagemap

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPageSetBasics(t *testing.T) {
	var zero PageSet // the zero value is usable
	zero.Add(1, 2)
	if !zero.Contains(1, 2) || zero.Len() != 1 {
		t.Fatalf("zero value: %v", &zero)
	}
	var nilSet *PageSet // a nil set reads as empty
	if nilSet.Len() != 0 || nilSet.Contains(1, 1) || nilSet.Spaces() != nil || nilSet.Runs(1) != nil || !nilSet.Equal(NewPageSet()) {
		t.Fatal("nil set is not empty")
	}

	s := NewPageSet()
	s.Add(7, 10)
	s.Add(7, 10) // duplicate
	s.Add(7, 11)
	s.Add(3, math.MaxUint32)
	s.Add(0, 0)
	s.AddRange(9, 100, 110)
	s.AddRange(9, 5, 5) // empty
	s.AddRange(9, 6, 5) // reversed: nothing
	tests := []struct {
		space, page uint32
		want        bool
	}{
		{7, 10, true}, {7, 11, true}, {7, 12, false}, {3, math.MaxUint32, true}, {0, 0, true},
		{9, 99, false}, {9, 100, true}, {9, 109, true}, {9, 110, false}, {9, 5, false}, {1, 10, false},
	}
	for _, tt := range tests {
		if got := s.Contains(tt.space, tt.page); got != tt.want {
			t.Errorf("Contains(%d, %d) = %v, want %v", tt.space, tt.page, got, tt.want)
		}
	}
	if got := s.Len(); got != 14 {
		t.Errorf("Len = %d, want 14", got)
	}
	for space, want := range map[uint32]uint64{7: 2, 3: 1, 0: 1, 9: 10, 42: 0} {
		if got := s.SpaceLen(space); got != want {
			t.Errorf("SpaceLen(%d) = %d, want %d", space, got, want)
		}
	}
	if got, want := s.Spaces(), []uint32{0, 3, 7, 9}; !slices.Equal(got, want) {
		t.Errorf("Spaces = %v, want %v", got, want)
	}
	if got, want := s.String(), "{0:0 3:4294967295 7:10-11 9:100-109}"; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
}

func TestEach(t *testing.T) {
	s := setOf(5, 3, 1, 9, 5, 1, 1, 2, 0xFFFFFFFF, 0)
	type pair struct{ space, page uint32 }
	var got []pair
	s.Each(func(space, page uint32) bool {
		got = append(got, pair{space, page})
		return true
	})
	want := []pair{{1, 2}, {1, 9}, {5, 1}, {5, 3}, {0xFFFFFFFF, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("Each = %v, want %v", got, want)
	}
	for stop := 1; stop <= len(want); stop++ {
		got = got[:0]
		s.Each(func(space, page uint32) bool {
			got = append(got, pair{space, page})
			return len(got) < stop
		})
		if !slices.Equal(got, want[:stop]) {
			t.Errorf("Each stopping after %d = %v", stop, got)
		}
	}
}

func TestRuns(t *testing.T) {
	tests := []struct {
		name  string
		build func(s *PageSet)
		want  []Run
	}{
		{"empty", func(*PageSet) {}, nil},
		{"single", func(s *PageSet) { s.Add(1, 5) }, []Run{{5, 1}}},
		{"adjacent adds merge", func(s *PageSet) { s.Add(1, 5); s.Add(1, 6); s.Add(1, 4) }, []Run{{4, 3}}},
		{"gap of one", func(s *PageSet) { s.Add(1, 5); s.Add(1, 7) }, []Run{{5, 1}, {7, 1}}},
		{"across 64Ki containers", func(s *PageSet) { s.AddRange(1, 65530, 65545) }, []Run{{65530, 15}}},
		{"top of the range", func(s *PageSet) { s.AddRange(1, math.MaxUint32-2, math.MaxUint32); s.Add(1, math.MaxUint32) }, []Run{{math.MaxUint32 - 2, 3}}},
		{"all pages", func(s *PageSet) { s.AddRange(1, 0, math.MaxUint32); s.Add(1, math.MaxUint32) }, []Run{{0, math.MaxUint32}, {math.MaxUint32, 1}}},
		{"other spaces ignored", func(s *PageSet) { s.Add(2, 1); s.Add(1, 9); s.Add(0, 10) }, []Run{{9, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPageSet()
			tt.build(s)
			if got := s.Runs(1); !slices.Equal(got, tt.want) {
				t.Errorf("Runs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadRuns(t *testing.T) {
	// Runs of space 1: [10,12) [15,16) [20,30) [100,101).
	base := func() *PageSet {
		s := NewPageSet()
		s.AddRange(1, 10, 12)
		s.Add(1, 15)
		s.AddRange(1, 20, 30)
		s.Add(1, 100)
		return s
	}
	tests := []struct {
		name             string
		set              *PageSet
		maxGap, maxPages uint32
		want             []Read
	}{
		{"no merging", base(), 0, 0, []Read{{10, 2, 2}, {15, 1, 1}, {20, 10, 10}, {100, 1, 1}}},
		// The gap between [10,12) and 15 is 3 pages, between 15 and 20 is 4.
		{"gap == maxGap+1 does not merge", base(), 2, 0, []Read{{10, 2, 2}, {15, 1, 1}, {20, 10, 10}, {100, 1, 1}}},
		{"gap == maxGap merges", base(), 3, 0, []Read{{10, 6, 3}, {20, 10, 10}, {100, 1, 1}}},
		{"both gaps", base(), 4, 0, []Read{{10, 20, 13}, {100, 1, 1}}},
		{"everything", base(), 70, 0, []Read{{10, 91, 14}}},
		{"maxPages stops merging", base(), 70, 20, []Read{{10, 20, 13}, {100, 1, 1}}},
		{"maxPages one short", base(), 70, 19, []Read{{10, 6, 3}, {20, 10, 10}, {100, 1, 1}}},
		{"maxPages splits a long run", base(), 0, 4, []Read{{10, 2, 2}, {15, 1, 1}, {20, 4, 4}, {24, 4, 4}, {28, 2, 2}, {100, 1, 1}}},
		{"split remainder merges on", base(), 100, 4, []Read{{10, 2, 2}, {15, 1, 1}, {20, 4, 4}, {24, 4, 4}, {28, 2, 2}, {100, 1, 1}}},
		{"split exact multiple", func() *PageSet { s := NewPageSet(); s.AddRange(1, 0, 8); s.Add(1, 9); return s }(), 1, 4,
			[]Read{{0, 4, 4}, {4, 4, 4}, {9, 1, 1}}},
		{"remainder merges with next", func() *PageSet { s := NewPageSet(); s.AddRange(1, 0, 5); s.Add(1, 6); return s }(), 1, 4,
			[]Read{{0, 4, 4}, {4, 3, 2}}},
		{"maxPages 1", base(), 100, 1, []Read{{10, 1, 1}, {11, 1, 1}, {15, 1, 1}, {20, 1, 1}, {21, 1, 1}, {22, 1, 1}, {23, 1, 1}, {24, 1, 1}, {25, 1, 1}, {26, 1, 1}, {27, 1, 1}, {28, 1, 1}, {29, 1, 1}, {100, 1, 1}}},
		{"empty", NewPageSet(), 10, 10, nil},
		{"top of the range", func() *PageSet { s := NewPageSet(); s.Add(1, math.MaxUint32); s.Add(1, math.MaxUint32-2); return s }(), 1, 0,
			[]Read{{math.MaxUint32 - 2, 3, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.set.ReadRuns(1, tt.maxGap, tt.maxPages)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ReadRuns(%d, %d) = %v, want %v", tt.maxGap, tt.maxPages, got, tt.want)
			}
			checkReads(t, tt.set, 1, tt.maxGap, tt.maxPages, got)
		})
	}
}

// checkReads verifies ReadRuns' promises: reads ascend and do not overlap, every wanted page is
// in exactly one read, Wanted counts them, reads start and end on wanted pages, no read is
// longer than maxPages, and no read contains a gap longer than maxGap.
func checkReads(t *testing.T, s *PageSet, space, maxGap, maxPages uint32, reads []Read) {
	t.Helper()
	var total uint64
	prevEnd := uint64(0)
	for i, r := range reads {
		if r.Count == 0 || (i > 0 && uint64(r.First) < prevEnd) {
			t.Fatalf("read %d %v: empty or overlapping", i, r)
		}
		if maxPages > 0 && r.Count > maxPages {
			t.Fatalf("read %d %v longer than %d", i, r, maxPages)
		}
		if !s.Contains(space, r.First) || !s.Contains(space, uint32(r.End()-1)) {
			t.Fatalf("read %d %v does not start and end with wanted pages", i, r)
		}
		var wanted uint32
		gap := uint32(0)
		for p := uint64(r.First); p < r.End(); p++ {
			if s.Contains(space, uint32(p)) {
				wanted++
				gap = 0
			} else if gap++; gap > maxGap {
				t.Fatalf("read %d %v reads a gap longer than %d", i, r, maxGap)
			}
		}
		if wanted != r.Wanted {
			t.Fatalf("read %d %v: %d wanted pages inside", i, r, wanted)
		}
		total += uint64(wanted)
		prevEnd = r.End()
	}
	if total != s.SpaceLen(space) {
		t.Fatalf("reads cover %d wanted pages of %d", total, s.SpaceLen(space))
	}
}

func TestReadRunsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		s := NewPageSet()
		base := uint32(rng.IntN(1 << 20))
		for range rng.IntN(40) {
			first := base + uint32(rng.IntN(500))
			s.AddRange(1, first, first+uint32(rng.IntN(20))+1)
		}
		maxGap, maxPages := uint32(rng.IntN(10)), uint32(rng.IntN(40))
		checkReads(t, s, 1, maxGap, maxPages, s.ReadRuns(1, maxGap, maxPages))
	}
}

func TestSetOps(t *testing.T) {
	a := func() *PageSet { return setOf(1, 1, 1, 2, 1, 3, 2, 10, 3, 7) }
	b := func() *PageSet { return setOf(1, 2, 1, 9, 2, 10, 4, 4) }
	tests := []struct {
		name string
		op   func() *PageSet
		want string
	}{
		{"union", func() *PageSet { s := a(); s.Union(b()); return s }, "{1:1-3,9 2:10 3:7 4:4}"},
		{"union nil", func() *PageSet { s := a(); s.Union(nil); return s }, "{1:1-3 2:10 3:7}"},
		{"union self", func() *PageSet { s := a(); s.Union(s); return s }, "{1:1-3 2:10 3:7}"},
		{"union into empty", func() *PageSet { s := NewPageSet(); s.Union(b()); return s }, "{1:2,9 2:10 4:4}"},
		{"subtract", func() *PageSet { s := a(); s.Subtract(b()); return s }, "{1:1,3 3:7}"},
		{"subtract self", func() *PageSet { s := a(); s.Subtract(s); return s }, "{}"},
		{"subtract nil", func() *PageSet { s := a(); s.Subtract(nil); return s }, "{1:1-3 2:10 3:7}"},
		{"remove space", func() *PageSet { s := a(); s.RemoveSpace(1); s.RemoveSpace(99); return s }, "{2:10 3:7}"},
		{"keep below", func() *PageSet {
			s := a()
			s.KeepBelow(1, 2)
			s.KeepBelow(2, 10)
			s.KeepBelow(3, 8)
			s.KeepBelow(99, 0)
			return s
		}, "{1:1 3:7}"},
		{"keep below 0", func() *PageSet { s := setOf(5, 0, 5, math.MaxUint32); s.KeepBelow(5, 0); return s }, "{}"},
		{"keep below max", func() *PageSet { s := setOf(5, 0, 5, math.MaxUint32); s.KeepBelow(5, math.MaxUint32); return s }, "{5:0}"},
		{"clear", func() *PageSet { s := a(); s.Clear(); s.Add(8, 8); return s }, "{8:8}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.op()
			if got := s.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			for _, space := range s.Spaces() {
				if s.SpaceLen(space) == 0 {
					t.Errorf("space %d listed but empty", space)
				}
			}
		})
	}
}

func TestAddCacheSurvivesRemoval(t *testing.T) {
	s := NewPageSet()
	s.Add(1, 1)
	s.RemoveSpace(1) // drops the cached bitmap
	s.Add(1, 2)
	if got := s.String(); got != "{1:2}" {
		t.Fatalf("after RemoveSpace and Add: %s", got)
	}
	s.KeepBelow(1, 0)
	s.Add(1, 3)
	o := setOf(1, 3)
	s.Subtract(o)
	s.Add(1, 4)
	if got := s.String(); got != "{1:4}" {
		t.Fatalf("after KeepBelow, Subtract and Add: %s", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	s := setOf(1, 1, 2, 2)
	c := s.Clone()
	c.Add(1, 5)
	c.RemoveSpace(2)
	if s.String() != "{1:1 2:2}" || c.String() != "{1:1,5}" {
		t.Fatalf("s = %s, clone = %s", s, c)
	}
	if !NewPageSet().Clone().Equal(NewPageSet()) {
		t.Fatal("clone of empty set")
	}
	u := NewPageSet()
	u.Union(s) // Union copies the other set's bitmaps too
	s.Add(1, 9)
	if u.Contains(1, 9) {
		t.Fatal("Union shares bitmaps with its argument")
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b *PageSet
		want bool
	}{
		{setOf(1, 1), setOf(1, 1), true},
		{setOf(1, 1), setOf(1, 2), false},
		{setOf(1, 1), setOf(2, 1), false},
		{setOf(1, 1, 2, 2), setOf(1, 1), false},
		{nil, NewPageSet(), true},
		{NewPageSet(), nil, true},
		{setOf(1, 1), nil, false},
	}
	for i, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("%d: %s.Equal(%s) = %v", i, tt.a, tt.b, got)
		}
	}
}
