package repo

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/pagetrack/pagetrack/shared"
)

// Restoring a snapshot T of a chain (T, its parent, …, back to a full) is one stream:
//
//	T's Header
//	T's Tablespace records: one per file of T, as its last record describes it, Incremental=false
//	for every page of every file of T, the newest version along the chain, in file and page order
//	T's redo, binlog and file records, in their stored order
//	T's Trailer (the caller recomputes Records and Digest over what it sends)
//
// Planning reads only record lists. For each file f of T (path p, space id s, n pages) it
// walks from T towards the full; in each snapshot S the file with path p and space id s
// provides the pages S's record list holds that are still needed and below n (within S, the
// last copy of a page wins); pages at or beyond S's size are then no longer needed from older
// snapshots (they did not exist at S, so older copies are stale: a file that shrank and grew
// again gets zeros there). The walk for f stops at the first S where f is not incremental; an
// incremental S whose parent lacks f (same path and space id) means the chain is inconsistent.
// Pages no snapshot provides are left to the file sizing (zeros). A snapshot of the chain
// none of whose files is still being walked is not read at all.
//
// Then only the chosen page blobs are read, by restoreReaders goroutines, each page once.

// ResolveChain returns target and its ancestors among snaps, target first, back to a full
// snapshot. location names the repository in messages.
func ResolveChain(snaps []*Snapshot, target *Snapshot, location string) ([]*Snapshot, error) {
	chain := []*Snapshot{target}
	if !target.Incremental() {
		return chain, nil
	}
	byID := make(map[string]*Snapshot, len(snaps))
	for _, s := range snaps {
		byID[s.ID] = s
	}
	seen := map[string]bool{target.ID: true}
	for s := target; s.Incremental(); {
		if s.Parent == "" {
			return nil, fmt.Errorf("the chain of snapshot %s is broken: snapshot %s is an incremental that names no parent", target.ID, s.ID)
		}
		p := byID[s.Parent]
		if p == nil {
			return nil, fmt.Errorf("the chain of snapshot %s is broken: snapshot %s builds on snapshot %s, which is not in %s", target.ID, s.ID, s.Parent, location)
		}
		if p.Source != s.Source {
			return nil, fmt.Errorf("the chain of snapshot %s is broken: snapshot %s of source %q builds on snapshot %s, which is of source %q", target.ID, s.ID, s.Source, p.ID, p.Source)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("the chain of snapshot %s is broken: it loops back to snapshot %s", target.ID, p.ID)
		}
		if s.BaseCheckpointLSN != p.CheckpointLSN {
			return nil, fmt.Errorf("the chain of snapshot %s is inconsistent: snapshot %s was taken on base checkpoint LSN %d, but its parent %s has checkpoint LSN %d", target.ID, s.ID, s.BaseCheckpointLSN, p.ID, p.CheckpointLSN)
		}
		seen[p.ID] = true
		chain = append(chain, p)
		s = p
	}
	return chain, nil
}

// Plan is what restoring the first snapshot of Chain reads.
type Plan struct {
	// Chain is the target and its ancestors, target first.
	Chain []*Snapshot
	// Files are the target's files, in the order of its stream.
	Files []*PlanFile
	// PagesPlanned counts the pages taken from the chain, PagesLeftZero the pages within the
	// target's file sizes that no snapshot provides.
	PagesPlanned, PagesLeftZero uint64
	// PagesFrom counts the pages taken from each snapshot of Chain.
	PagesFrom []uint64
	// SnapshotsRead is the number of snapshots of Chain whose record lists were read:
	// planning stops at the first that none of the target's files needs.
	SnapshotsRead int
	// Read is what planning read (record lists).
	Read ReadStats

	idx     *Index
	header  *shared.Header
	trailer *shared.Trailer
	tail    []*item // the target's redo, binlog and file records
	missing []ID    // blobs the index lacks; a page refers to missing[m] as -2-m
}

// PlanFile is one file of the target and where each of its pages comes from.
type PlanFile struct {
	Tablespace shared.Tablespace
	// blob[p] is the index entry of page p's blob, noBlob when no snapshot provides it,
	// -2-m for missing[m].
	blob []int32
	// from[p] is 1 + the chain position of the snapshot that provides page p, 0 for none.
	from []uint16
}

const noBlob = -1

// Plan plans the restore of chain[0] (chain as ResolveChain returns it). It reads record lists
// only. Blobs the index lacks do not fail planning; CheckPlan reports them.
func (l *Local) Plan(ctx context.Context, chain []*Snapshot) (*Plan, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, err
	}
	defer r.close()
	plan, err := makePlan(ctx, idx, chain, r.readTree)
	if plan != nil {
		plan.Read = r.stats
	}
	return plan, err
}

// makePlan plans with record lists from treeOf.
func makePlan(ctx context.Context, idx *Index, chain []*Snapshot, treeOf func(*Snapshot) ([][]byte, error)) (*Plan, error) {
	if len(chain) > math.MaxUint16-1 {
		return nil, fmt.Errorf("the chain of snapshot %s is %d snapshots long; at most %d can be restored", chain[0].ID, len(chain), math.MaxUint16-1)
	}
	target := chain[0]
	plan := &Plan{Chain: chain, PagesFrom: make([]uint64, len(chain)), idx: idx}
	var limit []uint64 // per plan file: pages at or beyond are no longer wanted
	var active []bool
	missing := map[ID]int32{}
	for i, s := range chain {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		plan.SnapshotsRead = i + 1
		tree, err := treeOf(s)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("the chain of snapshot %s is broken: %w", target.ID, err)
			}
			return nil, err
		}
		files, err := listFiles(s.ID, tree)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			if err := plan.start(tree, files); err != nil {
				return nil, err
			}
			limit = make([]uint64, len(plan.Files))
			active = make([]bool, len(plan.Files))
			for k, f := range plan.Files {
				limit[k] = f.Tablespace.SizePages
				active[k] = true
			}
		}
		// Map S's files to the target's.
		toTarget := map[uint32]int{}
		mapped := map[int]*shared.Tablespace{}
		for k, f := range plan.Files {
			if !active[k] {
				continue
			}
			g := files.byPath[f.Tablespace.Path]
			if g == nil || g.SpaceID != f.Tablespace.SpaceID {
				what := "lacks it"
				if g != nil {
					what = fmt.Sprintf("has it with space id %d", g.SpaceID)
				}
				return nil, fmt.Errorf("the chain of snapshot %s is inconsistent: snapshot %s holds only the changed pages of %s (space id %d), but its parent %s %s",
					target.ID, chain[i-1].ID, f.Tablespace.Path, f.Tablespace.SpaceID, s.ID, what)
			}
			toTarget[g.FileIndex] = k
			mapped[k] = g
		}
		stamp := uint16(i + 1)
		err = eachItem(s.ID, tree, func(it *item) error {
			b := it.rec.Pages
			if b == nil {
				return nil
			}
			k, ok := toTarget[b.FileIndex]
			if !ok {
				return nil
			}
			f := plan.Files[k]
			if uint64(it.piece) != uint64(f.Tablespace.PageSize) && len(it.blobs) > 0 {
				return &DamageError{Snapshot: s.ID, What: "its record list", Err: fmt.Errorf("%w: a page batch of %s has %d-byte pages, the file %d-byte ones", ErrCorrupt, f.Tablespace.Path, it.piece, f.Tablespace.PageSize)}
			}
			for n, id := range it.blobs {
				p := b.FirstPage + uint64(n)
				if p >= limit[k] || (f.from[p] != 0 && f.from[p] != stamp) {
					continue
				}
				e := idx.lookup(id)
				if e < 0 {
					m, ok := missing[id]
					if !ok {
						m = int32(len(plan.missing))
						missing[id] = m
						plan.missing = append(plan.missing, id)
					}
					e = -2 - m
				}
				if f.from[p] == 0 {
					plan.PagesPlanned++
					plan.PagesFrom[i]++
				}
				f.blob[p], f.from[p] = e, stamp
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		left := false
		for k, g := range mapped {
			if g.SizePages < limit[k] {
				limit[k] = g.SizePages
			}
			if !g.Incremental {
				active[k] = false
				continue
			}
			if i == len(chain)-1 {
				return nil, fmt.Errorf("the chain of snapshot %s is inconsistent: its full snapshot %s holds only the changed pages of %s", target.ID, s.ID, g.Path)
			}
			left = true
		}
		if !left {
			break
		}
	}
	for _, f := range plan.Files {
		plan.PagesLeftZero += f.Tablespace.SizePages
	}
	plan.PagesLeftZero -= plan.PagesPlanned
	return plan, nil
}

// fileList is the files of one record list, each as its last Tablespace record describes it.
type fileList struct {
	order   []*shared.Tablespace
	byIndex map[uint32]*shared.Tablespace
	byPath  map[string]*shared.Tablespace
}

func listFiles(snap string, tree [][]byte) (*fileList, error) {
	fl := &fileList{byIndex: map[uint32]*shared.Tablespace{}, byPath: map[string]*shared.Tablespace{}}
	err := eachItem(snap, tree, func(it *item) error {
		t := it.rec.Tablespace
		if t == nil {
			return nil
		}
		if old := fl.byIndex[t.FileIndex]; old != nil {
			if old.Path != t.Path || old.PageSize != t.PageSize {
				return &DamageError{Snapshot: snap, What: "its record list", Err: fmt.Errorf("%w: tablespace record %d changes path or page size", ErrCorrupt, t.FileIndex)}
			}
			*old = *t
			return nil
		}
		if fl.byPath[t.Path] != nil {
			return &DamageError{Snapshot: snap, What: "its record list", Err: fmt.Errorf("%w: two file indexes name %s", ErrCorrupt, t.Path)}
		}
		c := *t
		fl.byIndex[t.FileIndex] = &c
		fl.byPath[t.Path] = &c
		fl.order = append(fl.order, &c)
		return nil
	})
	return fl, err
}

// start takes the target's own structure: header, files, tail, trailer.
func (plan *Plan) start(tree [][]byte, files *fileList) error {
	id := plan.Chain[0].ID
	bad := func(format string, args ...any) error {
		return &DamageError{Snapshot: id, What: "its record list", Err: fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))}
	}
	n := 0
	err := eachItem(id, tree, func(it *item) error {
		n++
		r := it.rec
		switch {
		case plan.trailer != nil:
			return bad("record %d follows the trailer", n)
		case n == 1 && r.Header == nil:
			return bad("it does not start with a header")
		case r.Header != nil && n > 1:
			return bad("record %d is a second header", n)
		case r.Header != nil:
			plan.header = r.Header
		case r.Trailer != nil:
			plan.trailer = r.Trailer
		case r.Redo != nil || r.Binlog != nil || r.File != nil:
			plan.tail = append(plan.tail, it)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if plan.trailer == nil {
		return bad("it ends after %d records, without a trailer", n)
	}
	for _, t := range files.order {
		if t.SizePages > math.MaxUint32 {
			return bad("%s has %d pages, beyond the 2^32 a tablespace can have", t.Path, t.SizePages)
		}
		f := &PlanFile{Tablespace: *t, blob: make([]int32, t.SizePages), from: make([]uint16, t.SizePages)}
		f.Tablespace.Incremental = false
		for p := range f.blob {
			f.blob[p] = noBlob
		}
		plan.Files = append(plan.Files, f)
	}
	return nil
}

// blobID returns the ID of a planned blob.
func (plan *Plan) blobID(e int32) ID {
	if e <= -2 {
		return plan.missing[-2-e]
	}
	return plan.idx.entries[e].id
}

// visit calls fn with every blob the restore of the plan reads: each planned page (with the
// snapshot that provides it), then each blob of the target's tail records.
func (plan *Plan) visit(fn func(e int32, snap *Snapshot, what string) error) error {
	for _, f := range plan.Files {
		for p, e := range f.blob {
			if f.from[p] == 0 {
				continue
			}
			if err := fn(e, plan.Chain[f.from[p]-1], fmt.Sprintf("%s page %d", f.Tablespace.Path, p)); err != nil {
				return err
			}
		}
	}
	for _, it := range plan.tail {
		for k, id := range it.blobs {
			e := plan.idx.lookup(id)
			if e < 0 {
				e = -2 - int32(len(plan.missing))
				plan.missing = append(plan.missing, id)
			}
			if err := fn(e, plan.Chain[0], describeItem(it, k, "")); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckPlan checks, without reading any blob, that every blob the plan needs is in the index
// and its pack file is there with the size the index gives. The error names the snapshot and
// the data of the first blob that fails.
func (l *Local) CheckPlan(plan *Plan) error {
	packs := map[int32]error{}
	return plan.visit(func(e int32, snap *Snapshot, what string) error {
		if e < 0 {
			return &DamageError{Snapshot: snap.ID, What: what, Err: fmt.Errorf("%w: blob %s is missing from the index", ErrCorrupt, plan.blobID(e).Short())}
		}
		pk := plan.idx.entries[e].pack
		err, seen := packs[pk]
		if !seen {
			err = l.checkPackFile(plan.idx.packs[pk])
			packs[pk] = err
		}
		if err != nil {
			return &DamageError{Snapshot: snap.ID, What: what, Err: err}
		}
		return nil
	})
}

func (l *Local) checkPackFile(p packInfo) error {
	fi, err := statPack(l.dir, p.id)
	if err != nil {
		return err
	}
	if fi != p.size {
		return fmt.Errorf("%w: pack %s is %d bytes, its index says %d", ErrCorrupt, describePack(p.id), fi, p.size)
	}
	return nil
}

// OpenPlan reads the restore stream of a plan (see the top of this file). The stream ends
// with the target's stored trailer, unchanged.
func (l *Local) OpenPlan(ctx context.Context, plan *Plan) StreamReader {
	target := plan.Chain[0]
	return startPipeline(ctx, l.dir, plan.idx, func(p *pipeline, emit func(*job) bool) error {
		stop := errors.New("stop")
		if !emit(&job{rec: &shared.Record{Header: plan.header}}) {
			return nil
		}
		for _, f := range plan.Files {
			t := f.Tablespace
			if !emit(&job{rec: &shared.Record{Tablespace: &t}}) {
				return nil
			}
		}
		for _, f := range plan.Files {
			size := uint64(f.Tablespace.PageSize)
			batch := max(1, uint64(shared.MaxPayloadBytes)/size)
			n := uint64(len(f.blob))
			for p := uint64(0); p < n; {
				if f.from[p] == 0 {
					p++
					continue
				}
				first := p
				for p < n && f.from[p] != 0 && p-first < batch {
					p++
				}
				j := &job{rec: &shared.Record{Pages: &shared.PageBatch{FileIndex: f.Tablespace.FileIndex, FirstPage: first}}, size: (p - first) * size}
				for q := first; q < p; q++ {
					e := f.blob[q]
					j.ids = append(j.ids, plan.blobID(e))
					j.blobs = append(j.blobs, max(e, -1))
				}
				f := f
				j.describe = func(k int) (string, string) {
					q := first + uint64(k)
					return plan.Chain[f.from[q]-1].ID, fmt.Sprintf("%s page %d", f.Tablespace.Path, q)
				}
				if !emit(j) {
					return nil
				}
			}
		}
		for _, it := range plan.tail {
			rec := withoutPayload(it.rec)
			j := &job{rec: rec, size: it.size, ids: it.blobs}
			for _, id := range it.blobs {
				j.blobs = append(j.blobs, plan.idx.lookup(id))
			}
			it := it
			j.describe = func(k int) (string, string) { return target.ID, describeItem(it, k, "") }
			if !emit(j) {
				return stop
			}
		}
		emit(&job{rec: &shared.Record{Trailer: plan.trailer}})
		return nil
	})
}
