package repo

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/pagetrack/pagetrack/shared"
	"github.com/pagetrack/pagetrack/shared/chain"
)

// Restoring a snapshot T of a chain (T, its parent, …, back to a full) is the merged stream
// of package shared/chain, which owns the merge's rules. The repository gives its planner
// the chain's record lists, oldest first (the tree blobs of each snapshot), and reads the
// pieces the plan names: only the chosen page blobs, by restoreReaders goroutines, each page
// once.

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
	// Merge is the merge's plan (its snapshots oldest first, the reverse of Chain).
	Merge *chain.Plan
	// PagesFrom counts the pages taken from each snapshot of Chain.
	PagesFrom []uint64
	// SnapshotsRead is the number of snapshots of Chain whose record lists were read.
	SnapshotsRead int
	// Read is what planning read (record lists).
	Read ReadStats

	idx   *Index
	items [][]*item           // per snapshot, oldest first: its record list
	paths []map[uint32]string // per snapshot, oldest first: file index → path
}

// makePlan plans the restore of snaps[0] with record lists from treeOf.
func makePlan(ctx context.Context, idx *Index, snaps []*Snapshot, treeOf func(*Snapshot) ([][]byte, error)) (*Plan, error) {
	plan := &Plan{Chain: snaps, idx: idx}
	if err := plan.make(ctx, treeOf); err != nil {
		return nil, err
	}
	return plan, nil
}

// Plan plans the restore of chain[0] (chain as ResolveChain returns it). It reads record
// lists only, and refuses one that breaks a stream rule (DamageError) or a chain whose
// snapshots do not build on each other (*chain.LinkError, wrapped). Blobs the index lacks do
// not fail planning; CheckPlan reports them.
func (l *Local) Plan(ctx context.Context, snaps []*Snapshot) (*Plan, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, err
	}
	defer r.close()
	plan := &Plan{Chain: snaps, idx: idx}
	err = plan.make(ctx, r.readTree)
	plan.Read = r.stats
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// make plans with record lists from treeOf.
func (plan *Plan) make(ctx context.Context, treeOf func(*Snapshot) ([][]byte, error)) error {
	target := plan.Chain[0]
	planner := chain.NewPlanner()
	for i := len(plan.Chain) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := plan.Chain[i]
		plan.SnapshotsRead++
		tree, err := treeOf(s)
		if err == nil {
			var items []*item
			paths := map[uint32]string{}
			err = planner.Add("snapshot "+s.ID, recordList(s.ID, tree, &items, paths))
			plan.items = append(plan.items, items)
			plan.paths = append(plan.paths, paths)
		}
		var le *chain.LinkError
		switch {
		case errors.As(err, &le):
			return fmt.Errorf("the chain of snapshot %s is inconsistent: %s", target.ID, le.Rule)
		case errors.Is(err, shared.ErrBadStream) || errors.Is(err, shared.ErrNoTrailer):
			err = &DamageError{Snapshot: s.ID, What: "its record list", Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
		}
		if err != nil && i > 0 {
			return fmt.Errorf("the chain of snapshot %s is broken: %w", target.ID, err)
		}
		if err != nil {
			return err
		}
	}
	merge, err := planner.Plan()
	if err != nil {
		return err
	}
	plan.Merge = merge
	for i := len(merge.PagesFrom) - 1; i >= 0; i-- {
		plan.PagesFrom = append(plan.PagesFrom, merge.PagesFrom[i])
	}
	return nil
}

// recordList is a record list for the merge's planner; it keeps the items it yields in
// *items, so that the pieces of the plan can be found again.
func recordList(snap string, tree [][]byte, items *[]*item, paths map[uint32]string) chain.RecordList {
	return func(yield func(chain.Listed) error) error {
		pageSize := map[uint32]uint32{}
		return eachItem(snap, tree, func(it *item) error {
			r := it.rec
			if t := r.Tablespace; t != nil {
				pageSize[t.FileIndex] = t.PageSize
				paths[t.FileIndex] = t.Path
			}
			*items = append(*items, it)
			if err := yield(chain.Listed{Record: r, Len: it.size}); err != nil {
				return err
			}
			// The kernel accepted the record: a page batch's pieces must be its pages.
			if b := r.Pages; b != nil && it.piece != pageSize[b.FileIndex] {
				return &DamageError{Snapshot: snap, What: "its record list", Err: fmt.Errorf("%w: a page batch has %d-byte pieces, its file %d-byte pages", ErrCorrupt, it.piece, pageSize[b.FileIndex])}
			}
			return nil
		})
	}
}

// item returns the item a piece names, and its snapshot.
func (plan *Plan) item(pc chain.Piece) (*item, *Snapshot) {
	return plan.items[pc.Snapshot][pc.Record], plan.Chain[len(plan.Chain)-1-pc.Snapshot]
}

// describe names blob k of the item a piece names, for a DamageError.
func (plan *Plan) describe(pc chain.Piece, k int) (snapshot, what string) {
	it, snap := plan.item(pc)
	path := ""
	if b := it.rec.Pages; b != nil {
		path = plan.paths[pc.Snapshot][b.FileIndex]
	}
	return snap.ID, describeItem(it, k, path)
}

// blobs returns the blobs of a piece and the index of the first among the item's.
func (plan *Plan) blobs(pc chain.Piece) ([]ID, int) {
	it, _ := plan.item(pc)
	if pc.Page < 0 {
		return it.blobs, 0
	}
	return it.blobs[pc.Page : pc.Page+1], pc.Page
}

// blobUse is one blob the restore of a plan reads.
type blobUse struct {
	id   ID
	snap *Snapshot // the snapshot whose record list refers to it
	path string    // for a page: its file
	page int64     // for a page: its number, else -1
	what string    // what it holds, for messages
}

// visit calls fn with every blob the restore of the plan reads, in the order it reads them.
func (plan *Plan) visit(fn func(blobUse) error) error {
	for read := range plan.Merge.Reads() {
		for _, pc := range read {
			it, snap := plan.item(pc)
			ids, first := plan.blobs(pc)
			for k, id := range ids {
				u := blobUse{id: id, snap: snap, page: -1}
				_, u.what = plan.describe(pc, first+k)
				if b := it.rec.Pages; b != nil {
					u.path, u.page = plan.paths[pc.Snapshot][b.FileIndex], batchPage(b, first+k)
				}
				if err := fn(u); err != nil {
					return err
				}
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
	return plan.visit(func(u blobUse) error {
		snap, what := u.snap, u.what
		e := plan.idx.lookup(u.id)
		if e < 0 {
			return &DamageError{Snapshot: snap.ID, What: what, Err: fmt.Errorf("%w: blob %s is missing from the index", ErrCorrupt, u.id.Short())}
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

// PlanReader is the merged stream of a plan, as the restore reads it.
type PlanReader struct {
	*chain.Merged
	payloads *planPayloads
}

// Stats is what reading the merged stream read so far.
func (r *PlanReader) Stats() ReadStats {
	if p := r.payloads.pipe; p != nil {
		return p.Stats()
	}
	return ReadStats{}
}

// OpenPlan returns the merged stream of a plan (package shared/chain): its records pass the
// kernel's restore checker, its trailer's counts, Records and Digest are those of the
// records sent. Close it.
func (l *Local) OpenPlan(ctx context.Context, plan *Plan) *PlanReader {
	p := &planPayloads{dir: l.dir, plan: plan}
	return &PlanReader{Merged: chain.Merge(ctx, plan.Merge, p), payloads: p}
}

// planPayloads reads the pieces of a plan from their blobs, restoreReaders at a time.
type planPayloads struct {
	dir  string
	plan *Plan
	pipe *pipeline
}

func (p *planPayloads) Open(ctx context.Context, reads iter.Seq[[]chain.Piece]) chain.PayloadReader {
	plan := p.plan
	p.pipe = startPipeline(ctx, p.dir, plan.idx, func(_ *pipeline, emit func(*job) bool) error {
		for read := range reads {
			// The payload travels in a record the pipeline fills; payloadReader takes it out.
			j := &job{rec: &shared.Record{File: &shared.FileChunk{}}}
			type at struct {
				pc chain.Piece
				k  int
			}
			var where []at
			for _, pc := range read {
				ids, first := plan.blobs(pc)
				for k, id := range ids {
					j.ids = append(j.ids, id)
					j.blobs = append(j.blobs, plan.idx.lookup(id))
					where = append(where, at{pc, first + k})
				}
				j.size += uint64(pc.Len)
			}
			j.describe = func(k int) (string, string) { return plan.describe(where[k].pc, where[k].k) }
			if !emit(j) {
				return nil
			}
		}
		return nil
	})
	return payloadReader{p.pipe}
}

// payloadReader hands out the payloads the pipeline filled.
type payloadReader struct{ p *pipeline }

func (r payloadReader) Next() ([]byte, error) {
	rec, err := r.p.Next()
	if err != nil {
		return nil, err
	}
	return rec.File.Data, nil
}

func (r payloadReader) Close() error { return r.p.Close() }
