package pagemap

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// PageSet is a set of InnoDB page ids: one compressed bitmap of page numbers per tablespace id.
//
// The zero value is an empty set ready to use; a nil *PageSet reads as empty. A PageSet is not
// safe for concurrent use when any goroutine modifies it.
type PageSet struct {
	spaces map[uint32]*roaring.Bitmap // never holds an empty bitmap

	// The bitmap of the space Add touched last: consecutive adds to one space (the common case
	// when feeding a change list) skip the map lookup.
	lastSpace uint32
	last      *roaring.Bitmap
}

// NewPageSet returns an empty set.
func NewPageSet() *PageSet { return &PageSet{} }

// bitmap returns the bitmap of space, creating it when create is set; nil when absent.
func (s *PageSet) bitmap(space uint32, create bool) *roaring.Bitmap {
	if s.last != nil && s.lastSpace == space {
		return s.last
	}
	bm := s.spaces[space]
	if bm == nil {
		if !create {
			return nil
		}
		if s.spaces == nil {
			s.spaces = make(map[uint32]*roaring.Bitmap)
		}
		bm = roaring.New()
		s.spaces[space] = bm
	}
	s.lastSpace, s.last = space, bm
	return bm
}

// forget drops space's bitmap, which callers do when it became empty or is removed.
func (s *PageSet) forget(space uint32) {
	delete(s.spaces, space)
	if s.lastSpace == space {
		s.last = nil
	}
}

// Add adds page of space.
func (s *PageSet) Add(space, page uint32) {
	s.bitmap(space, true).Add(page)
}

// addMany adds pages of space; pages need not be sorted nor unique.
func (s *PageSet) addMany(space uint32, pages []uint32) {
	if len(pages) > 0 {
		s.bitmap(space, true).AddMany(pages)
	}
}

// AddRange adds the pages [first, end) of space; it does nothing when end <= first.
func (s *PageSet) AddRange(space, first, end uint32) {
	if end <= first {
		return
	}
	s.bitmap(space, true).AddRange(uint64(first), uint64(end))
}

// Contains reports whether page of space is in s.
func (s *PageSet) Contains(space, page uint32) bool {
	if s == nil {
		return false
	}
	bm := s.spaces[space]
	return bm != nil && bm.Contains(page)
}

// Len returns the number of distinct pages in s.
func (s *PageSet) Len() uint64 {
	if s == nil {
		return 0
	}
	var n uint64
	for _, bm := range s.spaces {
		n += bm.GetCardinality()
	}
	return n
}

// SpaceLen returns the number of distinct pages of space in s.
func (s *PageSet) SpaceLen(space uint32) uint64 {
	if s == nil {
		return 0
	}
	if bm := s.spaces[space]; bm != nil {
		return bm.GetCardinality()
	}
	return 0
}

// Spaces returns the ids of the spaces that have at least one page in s, ascending.
func (s *PageSet) Spaces() []uint32 {
	if s == nil || len(s.spaces) == 0 {
		return nil
	}
	ids := make([]uint32, 0, len(s.spaces))
	for id := range s.spaces {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Each calls fn for every page of s in ascending (space, page) order until fn returns false.
func (s *PageSet) Each(fn func(space, page uint32) bool) {
	for _, space := range s.Spaces() {
		more := true
		s.spaces[space].Iterate(func(page uint32) bool {
			more = fn(space, page)
			return more
		})
		if !more {
			return
		}
	}
}

// Run is a maximal run of adjacent pages of one space: First, First+1, …, First+Count-1.
type Run struct{ First, Count uint32 }

// End returns the page after the run.
func (r Run) End() uint64 { return uint64(r.First) + uint64(r.Count) }

// eachRange calls fn with the maximal ranges [first, end) of space's pages, ascending.
func (s *PageSet) eachRange(space uint32, fn func(first uint32, end uint64) bool) {
	if s == nil {
		return
	}
	bm := s.spaces[space]
	if bm == nil {
		return
	}
	for first, end := range bm.Ranges() {
		if !fn(first, end) {
			return
		}
	}
}

// Runs returns the maximal runs of adjacent pages of space, ascending. (The only run that does
// not fit a Run, all 2^32 page numbers, comes back as two runs.)
func (s *PageSet) Runs(space uint32) []Run {
	var runs []Run
	s.eachRange(space, func(first uint32, end uint64) bool {
		n := end - uint64(first)
		if n > math.MaxUint32 {
			runs = append(runs, Run{first, math.MaxUint32})
			first, n = first+math.MaxUint32, n-math.MaxUint32
		}
		runs = append(runs, Run{first, uint32(n)})
		return true
	})
	return runs
}

// Read is one read request planned by ReadRuns: Count pages from First, of which Wanted are in
// the set; the others are gaps read through.
type Read struct{ First, Count, Wanted uint32 }

// End returns the page after the read.
func (r Read) End() uint64 { return uint64(r.First) + uint64(r.Count) }

// ReadRuns plans the reads of space's pages: the runs of s, in ascending order, where two runs
// separated by at most maxGap pages not in s are merged into one read (reading the gap costs
// less than another request), and no read is longer than maxPages pages (0: no limit).
//
// Runs are merged only when the whole merged read fits in maxPages; a run longer than maxPages
// is split into reads of maxPages pages, and its remainder may merge with the runs after it.
// Every page of s is in exactly one read, and every read starts and ends with a wanted page.
func (s *PageSet) ReadRuns(space uint32, maxGap, maxPages uint32) []Read {
	limit := uint64(maxPages)
	if limit == 0 {
		limit = math.MaxUint32
	}
	var (
		reads      []Read
		first, end uint64 // current read [first, end); empty while first == end
		wanted     uint64
	)
	flush := func() {
		if end > first {
			reads = append(reads, Read{uint32(first), uint32(end - first), uint32(wanted)})
		}
		first, end, wanted = 0, 0, 0
	}
	s.eachRange(space, func(rf uint32, re uint64) bool {
		rs := uint64(rf)
		if end > first && (rs-end > uint64(maxGap) || re-first > limit) {
			flush()
		}
		if end == first {
			// Start a new read; split off whole reads while the run is too long.
			for re-rs > limit {
				reads = append(reads, Read{uint32(rs), uint32(limit), uint32(limit)})
				rs += limit
			}
			first = rs
		}
		wanted += re - rs
		end = re
		return true
	})
	flush()
	return reads
}

// Union adds every page of o to s.
func (s *PageSet) Union(o *PageSet) {
	if o == nil || s == o {
		return
	}
	for space, obm := range o.spaces {
		if bm := s.spaces[space]; bm != nil {
			bm.Or(obm)
			continue
		}
		if s.spaces == nil {
			s.spaces = make(map[uint32]*roaring.Bitmap, len(o.spaces))
		}
		s.spaces[space] = obm.Clone()
	}
}

// Subtract removes every page of o from s.
func (s *PageSet) Subtract(o *PageSet) {
	if o == nil {
		return
	}
	if s == o {
		s.Clear()
		return
	}
	for space, obm := range o.spaces {
		if bm := s.spaces[space]; bm != nil {
			bm.AndNot(obm)
			if bm.IsEmpty() {
				s.forget(space)
			}
		}
	}
}

// Clear removes every page.
func (s *PageSet) Clear() {
	s.spaces = nil
	s.last = nil
}

// RemoveSpace removes every page of space.
func (s *PageSet) RemoveSpace(space uint32) {
	s.forget(space)
}

// KeepBelow removes the pages of space numbered limit or higher, as when its file shrank to
// limit pages.
func (s *PageSet) KeepBelow(space, limit uint32) {
	bm := s.spaces[space]
	if bm == nil {
		return
	}
	bm.RemoveRange(uint64(limit), math.MaxUint32+1)
	if bm.IsEmpty() {
		s.forget(space)
	}
}

// Clone returns a deep copy of s.
func (s *PageSet) Clone() *PageSet {
	c := NewPageSet()
	if s == nil || len(s.spaces) == 0 {
		return c
	}
	c.spaces = make(map[uint32]*roaring.Bitmap, len(s.spaces))
	for space, bm := range s.spaces {
		c.spaces[space] = bm.Clone()
	}
	return c
}

// Equal reports whether s and o hold the same pages.
func (s *PageSet) Equal(o *PageSet) bool {
	ns, no := 0, 0
	if s != nil {
		ns = len(s.spaces)
	}
	if o != nil {
		no = len(o.spaces)
	}
	if ns != no {
		return false
	}
	for space, bm := range s.spacesOrNil() {
		obm := o.spaces[space]
		if obm == nil || !bm.Equals(obm) {
			return false
		}
	}
	return true
}

func (s *PageSet) spacesOrNil() map[uint32]*roaring.Bitmap {
	if s == nil {
		return nil
	}
	return s.spaces
}

// SizeInBytes estimates the memory the set's bitmaps occupy.
func (s *PageSet) SizeInBytes() uint64 {
	var n uint64
	for _, bm := range s.spacesOrNil() {
		n += bm.GetSizeInBytes()
	}
	return n
}

// String describes s as "space:first-last,page space:…", runs ascending; for tests and logs.
func (s *PageSet) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, space := range s.Spaces() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:", space)
		for j, r := range s.Runs(space) {
			if j > 0 {
				b.WriteByte(',')
			}
			if r.Count == 1 {
				fmt.Fprintf(&b, "%d", r.First)
			} else {
				fmt.Fprintf(&b, "%d-%d", r.First, r.End()-1)
			}
		}
	}
	b.WriteByte('}')
	return b.String()
}
