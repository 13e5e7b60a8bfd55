package chain

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/pagetrack/pagetrack/shared"
)

// Listed is one record of a snapshot's record list: the record with its payload left out
// (Data nil) and the payload's length.
type Listed struct {
	Record *shared.Record
	Len    uint64
}

// RecordList is one snapshot's record list, as a host stores it: it calls yield with every
// record in stream order and returns yield's first error, or its own.
type RecordList func(yield func(Listed) error) error

// A Piece is one payload the merged stream is made of: page Page of the page batch at
// position Record (0-based, in its record list) of the chain's snapshot Snapshot (0 = the
// full, oldest first), or, with Page < 0, the whole payload of that record. Len is its length
// in bytes.
type Piece struct {
	Snapshot int
	Record   int
	Page     int
	Len      int
}

// LinkError means the snapshots given do not form one chain.
type LinkError struct{ Rule string }

func (e *LinkError) Error() string { return "the chain is inconsistent: " + e.Rule }

// MaxChain is the longest chain a Planner takes.
const MaxChain = math.MaxUint16

// piece is a Piece in 8 bytes: one is kept per page that appears in a record list.
type piece struct {
	rec  uint32
	page uint16
	snap uint16
}

// file is a file of the newest snapshot added, and where each of its pages comes from.
type file struct {
	ts    shared.Tablespace // as the newest snapshot's last record for it describes it
	pages map[uint32]piece
	top   uint64 // 1 + the highest page in pages (0 when empty)

	// For a file the snapshot being added holds only the changed pages of: its parent's size,
	// and how many distinct pages at or beyond it the snapshot carries. A source sends every
	// page a file gained since its parent (they are new, so no base holds them), which is what
	// bounds an incremental file's claimed size by the pages that arrived.
	carried   bool
	grownFrom uint64
	grownSeen uint64
}

// snapshot is what the Planner keeps of the newest snapshot added.
type snapshot struct {
	name    string
	header  *shared.Header
	trailer *shared.Trailer
	files   map[string]*file // by path
	order   []*file          // in order of their first Tablespace record
	tail    []tailRecord     // redo and file records
	binlog  []tailRecord     // the binlog file from offset 0: the chain's chunks of it
	broken  *LinkError       // a file whose changed pages build on nothing
}

// tailRecord is a redo, binlog or file record of snapshot snap at position pos.
type tailRecord struct {
	rec  *shared.Record // payload left out
	snap int
	pos  int
	len  uint64
}

// Planner plans the merge of a chain from its record lists, oldest first. See the package
// documentation for the rules.
type Planner struct {
	n    int // snapshots added
	last *snapshot
	err  error // sticky
}

// NewPlanner returns a Planner expecting the chain's full snapshot.
func NewPlanner() *Planner { return &Planner{} }

// Add plans the next snapshot of the chain (oldest first; the first is the full). name
// names it in messages ("snapshot 1a2b3c4d"). It returns a *shared.StreamError when the list
// breaks a stream rule, a *LinkError when the snapshot does not build on the one before, or
// list's own error. After an error the Planner is spent.
func (p *Planner) Add(name string, list RecordList) error {
	if p.err != nil {
		return p.err
	}
	if p.n >= MaxChain {
		p.err = fmt.Errorf("the chain is longer than the %d snapshots a restore takes", MaxChain)
		return p.err
	}
	s, err := p.add(name, list)
	if err != nil {
		p.err = err
		return err
	}
	p.last = s
	p.n++
	return nil
}

func (p *Planner) add(name string, list RecordList) (*snapshot, error) {
	s := &snapshot{name: name, files: map[string]*file{}}
	chk := shared.NewListChecker()
	byIndex := map[uint32]*file{}
	pos := 0
	err := list(func(l Listed) error {
		if err := chk.CheckListed(l.Record, l.Len); err != nil {
			return err
		}
		if pos > math.MaxUint32 {
			return fmt.Errorf("%s has more than %d records", name, uint64(math.MaxUint32))
		}
		if err := p.take(s, byIndex, l, pos); err != nil {
			return err
		}
		pos++
		return nil
	})
	if err == nil {
		err = chk.End()
	}
	if err != nil {
		return nil, err
	}
	s.header, s.trailer = chk.Header(), chk.Trailer()
	if err := p.link(s); err != nil {
		return nil, err
	}
	if err := p.joinBinlog(s); err != nil {
		return nil, err
	}
	if s.broken != nil {
		return nil, s.broken
	}
	for _, f := range s.order {
		if err := f.checkGrowth(s.name); err != nil {
			return nil, err
		}
		f.forgetFrom(f.ts.SizePages)
	}
	return s, nil
}

// take applies one record (accepted by the checker) of snapshot s.
func (p *Planner) take(s *snapshot, byIndex map[uint32]*file, l Listed, pos int) error {
	r := l.Record
	switch r.Kind() {
	case shared.RecordTablespace:
		t := *r.Tablespace
		if f := byIndex[t.FileIndex]; f != nil {
			f.ts.SizePages = t.SizePages // the checker lets a later record only grow it
			return nil
		}
		f := p.carry(s, t)
		byIndex[t.FileIndex] = f
		s.files[t.Path] = f
		s.order = append(s.order, f)
	case shared.RecordPages:
		b := r.Pages
		f := byIndex[b.FileIndex]
		n := l.Len / uint64(f.ts.PageSize)
		for k := range n {
			page := b.PageNo(int(k)) // a format 3 batch may list its pages
			if f.carried && page >= f.grownFrom {
				if old, ok := f.pages[uint32(page)]; !ok || int(old.snap) != p.n {
					f.grownSeen++
				}
			}
			f.pages[uint32(page)] = piece{rec: uint32(pos), page: uint16(k), snap: uint16(p.n)}
			f.top = max(f.top, page+1)
		}
	case shared.RecordBinlog:
		s.binlog = append(s.binlog, tailRecord{rec: withoutPayload(r), snap: p.n, pos: pos, len: l.Len})
	case shared.RecordRedo, shared.RecordFile:
		s.tail = append(s.tail, tailRecord{rec: withoutPayload(r), snap: p.n, pos: pos, len: l.Len})
	}
	return nil
}

// carry returns the state of file t of the snapshot being added: a fresh one for a whole
// file, the previous snapshot's for one holding only changed pages. A file whose parent does
// not hold it is noted in s.broken (reported once the kernel accepted the whole list, so a
// list that breaks a stream rule is refused for that first) and gets a fresh state.
func (p *Planner) carry(s *snapshot, t shared.Tablespace) *file {
	fresh := &file{ts: t, pages: map[uint32]piece{}}
	if !t.Incremental || p.last == nil { // a first that is not a full is refused by link
		return fresh
	}
	old := p.last.files[t.Path]
	if old != nil && old.ts.SpaceID == t.SpaceID && old.ts.PageSize == t.PageSize {
		old.carried, old.grownFrom, old.grownSeen = true, old.ts.SizePages, 0
		old.ts = t
		return old
	}
	what := "lacks it"
	switch {
	case old == nil:
	case old.ts.SpaceID != t.SpaceID:
		what = fmt.Sprintf("has it with space id %d", old.ts.SpaceID)
	default:
		what = fmt.Sprintf("has it with %d-byte pages, not %d", old.ts.PageSize, t.PageSize)
	}
	if s.broken == nil {
		s.broken = &LinkError{Rule: fmt.Sprintf("%s holds only the changed pages of %s (space id %d), but its parent %s %s", s.name, t.Path, t.SpaceID, p.last.name, what)}
	}
	return fresh
}

// link checks that s builds on the previous snapshot.
func (p *Planner) link(s *snapshot) error {
	prev := p.last
	t := s.trailer
	switch {
	case prev == nil && t.Kind != shared.KindFull:
		return &LinkError{Rule: fmt.Sprintf("%s is an incremental, but a chain starts with a full backup", s.name)}
	case prev == nil:
		return nil
	case t.Kind != shared.KindIncremental:
		return &LinkError{Rule: fmt.Sprintf("%s is a full backup, but follows %s: a chain has one full backup, first", s.name, prev.name)}
	case t.BaseCheckpointLSN != prev.header.CheckpointLSN:
		return &LinkError{Rule: fmt.Sprintf("%s was taken on base checkpoint LSN %d, but its parent %s has checkpoint LSN %d", s.name, t.BaseCheckpointLSN, prev.name, prev.header.CheckpointLSN)}
	case s.header.ServerUUID != prev.header.ServerUUID:
		return &LinkError{Rule: fmt.Sprintf("%s is of server %s, its parent %s of server %s", s.name, s.header.ServerUUID, prev.name, prev.header.ServerUUID)}
	case s.header.PageSize != prev.header.PageSize:
		return &LinkError{Rule: fmt.Sprintf("%s has %d-byte pages, its parent %s %d-byte ones", s.name, s.header.PageSize, prev.name, prev.header.PageSize)}
	}
	return nil
}

// joinBinlog makes s's binlog the whole file: a binlog delta (Trailer.BinlogFrom > 0) goes on
// the end of its parent's copy of the same file, which must end exactly where it starts.
func (p *Planner) joinBinlog(s *snapshot) error {
	t := s.trailer
	if t.BinlogFrom == 0 {
		return nil
	}
	prev := p.last // link refused a delta without a parent: only an incremental has one
	pt := prev.trailer
	switch {
	case pt.BinlogFile != t.BinlogFile:
		return &LinkError{Rule: fmt.Sprintf("%s carries binlog %s from offset %d on, but its parent %s ended in binlog %q", s.name, t.BinlogFile, t.BinlogFrom, prev.name, pt.BinlogFile)}
	case pt.BinlogPos != t.BinlogFrom:
		return &LinkError{Rule: fmt.Sprintf("%s carries binlog %s from offset %d on, but its parent %s holds it up to %d", s.name, t.BinlogFile, t.BinlogFrom, prev.name, pt.BinlogPos)}
	}
	s.binlog = append(slices.Clip(prev.binlog), s.binlog...)
	return nil
}

// checkGrowth refuses an incremental file that claims pages beyond its parent's size without
// carrying them: nothing else bounds an incremental file's size, and a merge sends every page
// up to it (zeros for the missing ones).
func (f *file) checkGrowth(snap string) error {
	if !f.carried {
		return nil
	}
	f.carried = false
	if f.ts.SizePages <= f.grownFrom || f.grownSeen == f.ts.SizePages-f.grownFrom {
		return nil
	}
	return &LinkError{Rule: fmt.Sprintf("%s says %s grew from %d to %d pages since its parent, but carries only %d of the %d new pages (a source sends every page a file gained)",
		snap, f.ts.Path, f.grownFrom, f.ts.SizePages, f.grownSeen, f.ts.SizePages-f.grownFrom)}
}

// forgetFrom forgets the pages at or beyond size.
func (f *file) forgetFrom(size uint64) {
	if f.top <= size {
		return
	}
	for page := range f.pages {
		if uint64(page) >= size {
			delete(f.pages, page)
		}
	}
	f.top = size
}

// ErrEmpty means Plan was called before any snapshot was added.
var ErrEmpty = errors.New("no snapshot was given to restore")

// Plan is what restoring the newest snapshot added reads and sends.
type Plan struct {
	// Header and Trailer are the target's, as its record list holds them (verified by the
	// list checker; the Trailer's Digest is the target's stored one).
	Header  *shared.Header
	Trailer *shared.Trailer
	// Files are the target's files, in the order of its stream, Incremental false.
	Files []shared.Tablespace
	// PagesPlanned counts the pages taken from the chain, PagesLeftZero the pages of the
	// target's files no snapshot provides (sent as zeros).
	PagesPlanned, PagesLeftZero uint64
	// PagesFrom counts the pages taken from each snapshot, oldest first.
	PagesFrom []uint64

	target int
	pages  [][]pagePiece // per file of Files, sorted by page
	tail   []tailRecord
	binlog []tailRecord
}

type pagePiece struct {
	page uint32
	piece
}

// Plan returns the plan of the newest snapshot added.
func (p *Planner) Plan() (*Plan, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.last == nil {
		return nil, ErrEmpty
	}
	s := p.last
	plan := &Plan{Header: s.header, Trailer: s.trailer, PagesFrom: make([]uint64, p.n), target: p.n - 1, tail: s.tail, binlog: s.binlog}
	for _, f := range s.order {
		ts := f.ts
		ts.Incremental = false
		plan.Files = append(plan.Files, ts)
		pages := make([]pagePiece, 0, len(f.pages))
		for page, pc := range f.pages {
			pages = append(pages, pagePiece{page: page, piece: pc})
			plan.PagesFrom[pc.snap]++
		}
		slices.SortFunc(pages, func(a, b pagePiece) int { return int(int64(a.page) - int64(b.page)) })
		plan.pages = append(plan.pages, pages)
		plan.PagesPlanned += uint64(len(pages))
		plan.PagesLeftZero += ts.SizePages - uint64(len(pages))
	}
	return plan, nil
}

// withoutPayload is a copy of r with its payload left out.
func withoutPayload(r *shared.Record) *shared.Record {
	c := *r
	switch {
	case r.Pages != nil:
		b := *r.Pages
		b.Data, c.Pages = nil, &b
	case r.Redo != nil:
		s := *r.Redo
		s.Data, c.Redo = nil, &s
	case r.Binlog != nil:
		b := *r.Binlog
		b.Data, c.Binlog = nil, &b
	case r.File != nil:
		f := *r.File
		f.Data, c.File = nil, &f
	}
	return &c
}
