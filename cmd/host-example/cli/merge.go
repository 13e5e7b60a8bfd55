package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// Restoring an incremental
//
// The plugin restores one stream. For an incremental snapshot T the host sends the merge of
// T's chain (T, its parent, …, back to a full): package shared/chain owns its rules and
// builds it; the repository plans it from the chain's record lists and reads the chosen
// pages (repo.Local.Plan, repo.Local.OpenPlan). Only the pages the merge takes from the chain
// are read, each once, by several readers at a time; pages no snapshot holds are sent as
// zeros. Every blob is checked against its SHA-256 as it is read, every record of the merge
// by the kernel's restore checker, and T's record list against T's metadata.

// MergeStats reports what restoring an incremental read and sent; Options.MergeStats
// receives it.
type MergeStats struct {
	// Chain is the target and its ancestors, target first, full last.
	Chain []string
	// PagesPlanned is the number of distinct pages the plan takes from the chain;
	// PagesEmitted the pages sent (zeros included).
	PagesPlanned, PagesEmitted uint64
	// PagesLeftZero counts pages within the target's file sizes that no snapshot provides
	// (sent as zeros).
	PagesLeftZero uint64
	// PagesFrom counts the pages taken from each snapshot of Chain.
	PagesFrom []uint64
	// SnapshotsRead is how many snapshots of the chain had their record list read.
	SnapshotsRead int
	// Read is what was read from the repository: record lists while planning, then the
	// page and other payload blobs.
	Read repo.ReadStats
}

// resolveChain returns target and its ancestors, target first, back to a full snapshot.
func resolveChain(ctx context.Context, r repo.Repository, target *repo.Snapshot) ([]*repo.Snapshot, error) {
	if !target.Incremental() {
		return []*repo.Snapshot{target}, nil
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	return repo.ResolveChain(snaps, target, r.Location())
}

// mergePlan is the repository's plan for restoring chain[0].
type mergePlan struct {
	chain []*repo.Snapshot
	plan  *repo.Plan
	stats MergeStats
}

// planMerge plans the restore of chain[0] from the chain's record lists, and checks that
// every blob it needs is in the index and its pack is there. It reads no page.
func planMerge(ctx context.Context, r *repo.Local, chain []*repo.Snapshot) (*mergePlan, error) {
	plan, err := r.Plan(ctx, chain)
	if err != nil {
		return nil, asDamaged(err)
	}
	if err := r.CheckPlan(plan); err != nil {
		return nil, asDamaged(err)
	}
	mp := &mergePlan{chain: chain, plan: plan}
	for _, s := range chain {
		mp.stats.Chain = append(mp.stats.Chain, s.ID)
	}
	mp.stats.PagesPlanned, mp.stats.PagesLeftZero = plan.Merge.PagesPlanned, plan.Merge.PagesLeftZero
	mp.stats.PagesFrom = plan.PagesFrom
	mp.stats.SnapshotsRead = plan.SnapshotsRead
	mp.stats.Read = plan.Read
	return mp, nil
}

// asDamaged turns a repository's damage report into a damagedError naming the snapshot,
// keeping any context wrapped around it.
func asDamaged(err error) error {
	var de *repo.DamageError
	if !errors.As(err, &de) {
		return err
	}
	d := &damagedError{id: de.Snapshot, msg: de.What + ": " + strings.TrimPrefix(de.Err.Error(), repo.ErrCorrupt.Error()+": ")}
	if err == error(de) {
		return d
	}
	// "the chain of snapshot T is broken: snapshot S is damaged: …"
	return errors.New(strings.Replace(err.Error(), de.Error(), d.Error(), 1))
}

// mergeStream is the merged stream of an incremental's chain, read as the plugin pulls it.
type mergeStream struct {
	plan *mergePlan
	snap *repo.Snapshot // the target
	pr   *repo.PlanReader

	n       int    // records sent
	emitted uint64 // pages sent
	eof     bool
	err     error // sticky
	closed  bool
}

var _ shared.RecordStream = (*mergeStream)(nil)

func newMergeStream(ctx context.Context, r *repo.Local, plan *mergePlan) *mergeStream {
	return &mergeStream{plan: plan, snap: plan.chain[0], pr: r.OpenPlan(ctx, plan.plan)}
}

func (m *mergeStream) Recv() (*shared.Record, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.eof {
		return nil, io.EOF
	}
	rec, err := m.pr.Recv()
	switch {
	case err == io.EOF:
		m.eof = true
		return nil, err
	case errors.Is(err, shared.ErrBadStream):
		m.err = &damagedError{id: m.snap.ID, msg: "its merged stream: " + err.Error()}
		return nil, m.err
	case err != nil:
		m.err = readError(m.snap.ID, err)
		return nil, m.err
	}
	if b := rec.Pages; b != nil {
		m.emitted += uint64(len(b.Data)) / uint64(m.pageSize(b.FileIndex))
	}
	m.n++
	return rec, nil
}

func (m *mergeStream) pageSize(index uint32) uint32 {
	for _, f := range m.plan.plan.Merge.Files {
		if f.FileIndex == index {
			return f.PageSize
		}
	}
	return 1
}

func (m *mergeStream) failure() error { return m.err }
func (m *mergeStream) complete() bool { return m.err == nil && m.pr.Complete() && m.eof }

// verifiedTrailer is the target's stored trailer (checked against its metadata when its
// record list was read); nil until complete.
func (m *mergeStream) verifiedTrailer() *shared.Trailer {
	if !m.complete() {
		return nil
	}
	return m.plan.plan.Merge.Trailer
}
func (m *mergeStream) received() int { return m.n }

// close stops the readers; it may be called more than once.
func (m *mergeStream) close() {
	if !m.closed {
		m.closed = true
		m.pr.Close()
	}
}

// stats returns what the merge read and sent; call it after close.
func (m *mergeStream) stats() MergeStats {
	s := m.plan.stats
	s.PagesEmitted = m.emitted
	s.Read.Add(m.pr.Stats())
	return s
}

func readError(id string, err error) error {
	if errors.As(err, new(*repo.DamageError)) {
		return asDamaged(err)
	}
	if errors.Is(err, repo.ErrCorrupt) {
		return &damagedError{id: id, msg: strings.TrimPrefix(err.Error(), repo.ErrCorrupt.Error()+": ")}
	}
	return fmt.Errorf("reading snapshot %s from the repository: %w", id, err)
}

// describeChain is "T ← P ← F (full)" for messages.
func describeChain(chain []*repo.Snapshot) string {
	ids := make([]string, len(chain))
	for i, s := range chain {
		ids[i] = s.ID
	}
	return strings.Join(ids, " ← ") + " (full)"
}
