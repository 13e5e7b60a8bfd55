package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// Restoring an incremental
//
// The plugin restores one stream. For an incremental snapshot T the host merges T's chain
// (T, its parent, …, back to a full) into one stream:
//
//	T's Header
//	T's Tablespace records: one per file of T, as its last record describes it, Incremental=false
//	for every page of every file of T, the newest version along the chain
//	T's redo, binlog and file chunks, in their stored order
//	T's Trailer, with Records and Digest recomputed over the records sent
//
// Planning uses only the page maps (repo.PageMap): for each file f of T (path p, space id s,
// n pages) it walks from T towards the full; in each snapshot S the file with path p and space
// id s provides the pages of S's map that are still needed and below n; pages at or beyond
// S's size are then no longer needed from older snapshots (they did not exist at S, so older
// copies are stale). The walk for f stops at the first S where f is not incremental. An
// incremental S whose parent lacks f (same path and space id) means the chain is inconsistent.
// Pages no snapshot provides are left to the file sizing (zeros).
//
// That gives, per snapshot of the chain, the exact set of (FileIndex, page) to take from it.
// Then each stream that provides anything is read once, front to back: T's first (up to its
// first non-page record after the pages), then the bases, then the rest of T. A PageBatch
// with some wanted pages is cut into one sub-batch per wanted run (Data slices of the stored
// one), FileIndex rewritten to T's. A base's stream is read only up to its last wanted page.
//
// What is read from storage: a stored stream is one sequential zstd stream, so every byte of
// a base up to its last wanted page is read and decompressed. Page records of a base with no
// wanted page are passed over after their 21-byte head (repo.StreamReader.NextPages): not
// checksummed, not decoded, not copied. Every record that is used is checksummed (CRC-32C)
// and decoded. T's stream is read whole, so it is checked against its stored digest as well
// (and its page map against its records); a base is read partially, so for a base the
// per-record checksum is the check.

// MergeStats reports what restoring an incremental read and sent; Options.MergeStats
// receives it.
type MergeStats struct {
	// Chain is the target and its ancestors, target first, full last.
	Chain []string
	// Streams are the streams read, in the order they were opened (the target's first).
	// Snapshots of the chain that provide no page are not read at all.
	Streams []StreamStats
	// PagesPlanned is the number of distinct pages the plan takes from the chain;
	// PagesEmitted the pages sent (equal, unless a stream carries a page twice).
	PagesPlanned, PagesEmitted uint64
	// PagesLeftZero counts pages within the target's file sizes that no snapshot provides.
	PagesLeftZero uint64
}

// StreamStats reports what was read of one stored stream.
type StreamStats struct {
	Snapshot string
	// Read says what the repository read: records decompressed, decoded (checksummed) and
	// skipped after their head, and their decompressed bytes.
	Read repo.ReadStats
	// PageRecords is the number of PageBatch records decoded, of which Unneeded held no
	// wanted page (a base's stream never decodes one).
	PageRecords, PageRecordsUnneeded uint64
	// PagesPlanned are the pages the plan takes from this stream; PagesEmitted and
	// PageBytesEmitted what was sent of it.
	PagesPlanned, PagesEmitted, PageBytesEmitted uint64
	// Whole: the stream was read to its end.
	Whole bool
}

// resolveChain returns target and its ancestors, target first, back to a full snapshot.
func resolveChain(ctx context.Context, r repo.Repository, target *repo.Snapshot) ([]*repo.Snapshot, error) {
	chain := []*repo.Snapshot{target}
	if !target.Incremental() {
		return chain, nil
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*repo.Snapshot, len(snaps))
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
			return nil, fmt.Errorf("the chain of snapshot %s is broken: snapshot %s builds on snapshot %s, which is not in %s", target.ID, s.ID, s.Parent, r.Location())
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

// mergePlan is what to take from each snapshot of a chain.
type mergePlan struct {
	chain []*repo.Snapshot
	parts []*mergePart // parts[i] is chain[i]'s; parts[0] is the target's
	files []repo.MapFile
	stats MergeStats
}

// mergePart is what the merge takes from one snapshot's stream.
type mergePart struct {
	snap     *repo.Snapshot
	pm       *repo.PageMap
	want     *pagemap.PageSet         // keyed by this stream's FileIndex
	runs     map[uint32][]pagemap.Run // want's runs per FileIndex
	toTarget map[uint32]uint32        // this stream's FileIndex → the target's
	seen     *pagemap.PageSet         // wanted pages met so far
	pages    uint64                   // want.Len()
	stats    *StreamStats             // once the stream is opened
	target   bool                     // the target's own stream
	emitted  uint64                   // pages sent, duplicates included
}

// planMerge reads the page maps of chain (target first) and decides which pages to take from
// which snapshot. It reads no stream.
func planMerge(ctx context.Context, r repo.Repository, chain []*repo.Snapshot) (*mergePlan, error) {
	target := chain[0]
	plan := &mergePlan{chain: chain}
	for _, s := range chain {
		plan.stats.Chain = append(plan.stats.Chain, s.ID)
		pm, err := r.PageMap(ctx, s.ID)
		if err != nil {
			var de error = err
			if errors.Is(err, repo.ErrCorrupt) {
				de = &damagedError{id: s.ID, msg: err.Error()}
			}
			if s == target {
				return nil, de
			}
			return nil, fmt.Errorf("the chain of snapshot %s is broken: %w", target.ID, de)
		}
		plan.parts = append(plan.parts, &mergePart{
			snap: s, pm: pm, want: pagemap.NewPageSet(), seen: pagemap.NewPageSet(),
			runs: map[uint32][]pagemap.Run{}, toTarget: map[uint32]uint32{}, target: s == target,
		})
	}
	for _, f := range plan.parts[0].pm.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := plan.planFile(f); err != nil {
			return nil, err
		}
		f.Incremental = false
		plan.files = append(plan.files, f)
	}
	for _, p := range plan.parts {
		for _, space := range p.want.Spaces() {
			p.runs[space] = p.want.Runs(space)
		}
		p.pages = p.want.Len()
		plan.stats.PagesPlanned += p.pages
	}
	return plan, nil
}

// planFile walks the chain for one file of the target.
func (plan *mergePlan) planFile(f repo.MapFile) error {
	target := plan.chain[0]
	if f.SizePages > math.MaxUint32 {
		return &damagedError{id: target.ID, msg: fmt.Sprintf("its page map gives %s %d pages, beyond the 2^32 a tablespace can have", f.Path, f.SizePages)}
	}
	t := f.FileIndex
	need := pagemap.NewPageSet()
	need.AddRange(t, 0, uint32(f.SizePages))
	var provided uint64
	for i, p := range plan.parts {
		g := p.pm.Lookup(f.Path)
		if g == nil || g.SpaceID != f.SpaceID {
			child := plan.chain[i-1] // i > 0: the target's own map has f
			what := "lacks it"
			if g != nil {
				what = fmt.Sprintf("has it with space id %d", g.SpaceID)
			}
			return fmt.Errorf("the chain of snapshot %s is inconsistent: snapshot %s holds only the changed pages of %s (space id %d), but its parent %s %s",
				target.ID, child.ID, f.Path, f.SpaceID, p.snap.ID, what)
		}
		if need.SpaceLen(t) > 0 {
			// take = need ∩ S's pages of g, keyed by g's FileIndex.
			take := spaceSet(need, t, g.FileIndex)
			missing := take.Clone()
			missing.Subtract(spaceSet(p.pm.Pages, g.FileIndex, g.FileIndex))
			take.Subtract(missing)
			if n := take.Len(); n > 0 {
				provided += n
				p.want.Union(take)
				p.toTarget[g.FileIndex] = t
				need.Subtract(spaceSet(take, g.FileIndex, t))
			}
			// Pages at or beyond S's size did not exist at S: their older copies are stale.
			if g.SizePages < f.SizePages {
				need.KeepBelow(t, uint32(g.SizePages))
			}
		}
		if !g.Incremental {
			plan.stats.PagesLeftZero += f.SizePages - provided
			return nil
		}
		if i == len(plan.parts)-1 {
			return fmt.Errorf("the chain of snapshot %s is inconsistent: its full snapshot %s holds only the changed pages of %s", target.ID, p.snap.ID, f.Path)
		}
	}
	return nil
}

// spaceSet returns the pages of space in s as a new set, under the space key.
func spaceSet(s *pagemap.PageSet, space, key uint32) *pagemap.PageSet {
	out := pagemap.NewPageSet()
	for _, r := range s.Runs(space) {
		// Page numbers stay below 2^32-1 (repo.PageMap.Add), so End fits.
		out.AddRange(key, r.First, uint32(r.End()))
	}
	return out
}

// overlap calls fn with every wanted run [a, b) inside the batch [first, end) of file index.
func (p *mergePart) overlap(index uint32, first, end uint64, fn func(a, b uint64) bool) {
	runs := p.runs[index]
	i := sort.Search(len(runs), func(i int) bool { return runs[i].End() > first })
	for ; i < len(runs) && uint64(runs[i].First) < end; i++ {
		if !fn(max(first, uint64(runs[i].First)), min(end, runs[i].End())) {
			return
		}
	}
}

// wants says whether a batch of dataLen bytes at first of file index holds a wanted page.
func (p *mergePart) wants(index uint32, first, dataLen uint64) bool {
	f := p.pm.File(index)
	if f == nil || dataLen%uint64(f.PageSize) != 0 {
		return true // let the decoder and emitPages report it
	}
	found := false
	p.overlap(index, first, first+dataLen/uint64(f.PageSize), func(a, b uint64) bool {
		found = true
		return false
	})
	return found
}

// mergeStream is the merged stream of an incremental's chain, read as the plugin pulls it.
type mergeStream struct {
	ctx  context.Context
	r    repo.Repository
	plan *mergePlan
	snap *repo.Snapshot // the target

	tr       repo.StreamReader // the target's stream
	tn       int               // its records read
	tdig     *shared.Digester  // over the target's stored records
	tmap     *repo.PageMap     // rebuilt from the target's records
	tHeader  bool
	tTrailer *shared.Trailer
	held     *shared.Record // the target's first record after its pages

	phase int
	base  int               // parts index of the base being read
	br    repo.StreamReader // its reader
	bn    int               // its records read

	out  []*shared.Record
	dig  *shared.Digester // over the records sent
	n    int              // records sent
	sent bool             // the trailer was sent
	eof  bool
	err  error // sticky
}

const (
	phaseHeader = iota
	phaseTargetPages
	phaseBases
	phaseTargetRest
	phaseEnd
)

var _ shared.RecordStream = (*mergeStream)(nil)

func newMergeStream(ctx context.Context, r repo.Repository, plan *mergePlan) *mergeStream {
	return &mergeStream{ctx: ctx, r: r, plan: plan, snap: plan.chain[0], tdig: shared.NewDigester(), tmap: repo.NewPageMap(), dig: shared.NewDigester(), base: 1}
}

func (m *mergeStream) Recv() (*shared.Record, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.eof {
		return nil, io.EOF
	}
	for len(m.out) == 0 {
		if err := m.advance(); err != nil {
			if err == io.EOF {
				m.eof = true
			} else {
				m.err = err
			}
			m.close()
			return nil, err
		}
	}
	rec := m.out[0]
	m.out[0] = nil
	m.out = m.out[1:]
	if rec.Trailer == nil {
		m.dig.Add(rec)
	}
	m.n++
	return rec, nil
}

func (m *mergeStream) failure() error { return m.err }
func (m *mergeStream) complete() bool { return m.err == nil && m.sent && m.eof }
func (m *mergeStream) received() int  { return m.n }

// close closes the readers still open; Recv calls it at the end, restore when done.
func (m *mergeStream) close() {
	if m.tr != nil {
		m.record(m.plan.parts[0], m.tr)
		m.tr.Close()
		m.tr = nil
	}
	if m.br != nil {
		m.record(m.plan.parts[m.base], m.br)
		m.br.Close()
		m.br = nil
	}
}

func (m *mergeStream) record(p *mergePart, sr repo.StreamReader) {
	if p.stats != nil {
		p.stats.Read = sr.Stats()
	}
}

// stats returns what the merge read and sent.
func (m *mergeStream) stats() MergeStats {
	s := m.plan.stats
	s.Streams = nil
	for _, p := range m.plan.parts {
		s.PagesEmitted += p.emitted
	}
	for _, p := range m.opened() {
		s.Streams = append(s.Streams, *p.stats)
	}
	return s
}

// opened returns the parts whose streams were opened, in the order they were opened.
func (m *mergeStream) opened() []*mergePart {
	var out []*mergePart
	for _, p := range m.plan.parts {
		if p.stats != nil {
			out = append(out, p)
		}
	}
	return out
}

func (m *mergeStream) damaged(id string, format string, args ...any) error {
	return &damagedError{id: id, msg: fmt.Sprintf(format, args...)}
}

func readError(id string, err error) error {
	if errors.Is(err, repo.ErrCorrupt) {
		return &damagedError{id: id, msg: err.Error()}
	}
	return fmt.Errorf("reading the stored stream of snapshot %s: %w", id, err)
}

func (m *mergeStream) open(p *mergePart) (repo.StreamReader, error) {
	sr, err := m.r.OpenStream(m.ctx, p.snap.ID)
	if err != nil {
		return nil, readError(p.snap.ID, err)
	}
	p.stats = &StreamStats{Snapshot: p.snap.ID, PagesPlanned: p.pages}
	return sr, nil
}

// advance adds records to m.out, or returns io.EOF after the trailer was sent.
func (m *mergeStream) advance() error {
	if err := m.ctx.Err(); err != nil {
		return err
	}
	switch m.phase {
	case phaseHeader:
		tr, err := m.open(m.plan.parts[0])
		if err != nil {
			return err
		}
		m.tr = tr
		rec, err := m.targetNext()
		if err == io.EOF {
			return m.damaged(m.snap.ID, "its stored stream is empty")
		}
		if err != nil {
			return err
		}
		m.out = append(m.out, rec)
		for i := range m.plan.files {
			m.out = append(m.out, &shared.Record{Tablespace: m.plan.files[i].Tablespace()})
		}
		m.phase = phaseTargetPages
	case phaseTargetPages:
		rec, err := m.targetNext()
		if err == io.EOF {
			return m.damaged(m.snap.ID, "its stored stream ends after %d records, without a trailer", m.tn)
		}
		if err != nil {
			return err
		}
		switch {
		case rec.Tablespace != nil: // sent from the page map, which is checked against these
		case rec.Pages != nil:
			return m.emitPages(m.plan.parts[0], rec.Pages)
		default:
			m.held = rec
			m.phase = phaseBases
		}
	case phaseBases:
		return m.advanceBase()
	case phaseTargetRest:
		rec := m.held
		m.held = nil
		if rec == nil {
			var err error
			if rec, err = m.targetNext(); err == io.EOF {
				return m.damaged(m.snap.ID, "its stored stream ends after %d records, without a trailer", m.tn)
			} else if err != nil {
				return err
			}
		}
		switch {
		case rec.Tablespace != nil:
		case rec.Pages != nil:
			return m.emitPages(m.plan.parts[0], rec.Pages)
		case rec.Trailer != nil:
			return m.finish()
		default:
			m.out = append(m.out, rec)
		}
	case phaseEnd:
		rec, err := m.targetNext()
		if err == io.EOF {
			m.plan.parts[0].stats.Whole = true
			return io.EOF
		}
		if err != nil {
			return err
		}
		return m.damaged(m.snap.ID, "record %d (a %s) follows the trailer", m.tn, kindOf(rec))
	}
	return nil
}

// targetNext reads the target's next stored record and checks it: one kind set, a Header
// first and only first, the digest at the Trailer, both against the trailer and the
// snapshot's metadata, and the page map against the records.
func (m *mergeStream) targetNext() (*shared.Record, error) {
	for {
		rec, err := m.tr.Next()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, readError(m.snap.ID, err)
		}
		m.tn++
		if m.tTrailer != nil {
			return rec, nil // phaseEnd reports it
		}
		if fieldsSet(rec) != 1 {
			return nil, m.damaged(m.snap.ID, "record %d is malformed", m.tn)
		}
		if rec.Progress != nil {
			continue
		}
		switch {
		case !m.tHeader && rec.Header == nil:
			return nil, m.damaged(m.snap.ID, "its stored stream does not start with a header")
		case !m.tHeader:
			m.tHeader = true
		case rec.Header != nil:
			return nil, m.damaged(m.snap.ID, "record %d is a second header", m.tn)
		}
		if err := m.tmap.Add(rec); err != nil {
			return nil, m.damaged(m.snap.ID, "record %d: %v", m.tn, err)
		}
		if rec.Trailer == nil {
			m.tdig.Add(rec)
			if rec.Pages != nil {
				m.plan.parts[0].stats.PageRecords++
			}
			return rec, nil
		}
		if err := m.tdig.Check(rec.Trailer); err != nil {
			return nil, m.damaged(m.snap.ID, "%v", err)
		}
		if got := hex.EncodeToString(rec.Trailer.Digest); m.snap.StreamDigest != "" && got != m.snap.StreamDigest {
			return nil, m.damaged(m.snap.ID, "its stream digest %s is not the %s its metadata records", got, m.snap.StreamDigest)
		}
		if !m.tmap.Equal(m.plan.parts[0].pm) {
			return nil, m.damaged(m.snap.ID, "its page map does not describe its stream")
		}
		m.tTrailer = rec.Trailer
		return rec, nil
	}
}

// advanceBase reads the next record of the base being read, moving on to the next base (or
// to the rest of the target) when it has given all its wanted pages.
func (m *mergeStream) advanceBase() error {
	parts := m.plan.parts
	for m.br == nil {
		if m.base >= len(parts) {
			m.phase = phaseTargetRest
			return nil
		}
		if p := parts[m.base]; p.pages > 0 {
			br, err := m.open(p)
			if err != nil {
				return err
			}
			m.br, m.bn = br, 0
			break
		}
		m.base++
	}
	p := parts[m.base]
	done := func(whole bool) error {
		if !p.seen.Equal(p.want) {
			missing := p.want.Clone()
			missing.Subtract(p.seen)
			return m.damaged(p.snap.ID, "its stream lacks %d pages its page map lists (%s)", missing.Len(), abbreviate(missing.String(), 200))
		}
		p.stats.Whole = whole
		m.record(p, m.br)
		m.br.Close()
		m.br = nil
		m.base++
		return nil
	}
	rec, err := m.br.NextPages(func(index uint32, first, dataLen uint64) bool { return p.wants(index, first, dataLen) })
	if err == io.EOF {
		return done(true)
	}
	if err != nil {
		return readError(p.snap.ID, err)
	}
	m.bn++
	if fieldsSet(rec) != 1 {
		return m.damaged(p.snap.ID, "record %d is malformed", m.bn)
	}
	switch {
	case m.bn == 1 && rec.Header == nil:
		return m.damaged(p.snap.ID, "its stored stream does not start with a header")
	case m.bn == 1:
		if c := rec.Header.CheckpointLSN; c != 0 && p.snap.CheckpointLSN != 0 && c != p.snap.CheckpointLSN {
			return m.damaged(p.snap.ID, "its stream's header has checkpoint LSN %d, its metadata %d", c, p.snap.CheckpointLSN)
		}
	case rec.Header != nil:
		return m.damaged(p.snap.ID, "record %d is a second header", m.bn)
	case rec.Trailer != nil:
		return done(true)
	case rec.Pages != nil:
		p.stats.PageRecords++
		if err := m.emitPages(p, rec.Pages); err != nil {
			return err
		}
		// Without duplicates, the last wanted page ends the reading of this stream.
		if p.pm.DuplicatePages == 0 && p.emitted >= p.pages {
			return done(false)
		}
	}
	return nil
}

// emitPages queues the wanted runs of a stored batch of p's stream, under the target's
// FileIndex.
func (m *mergeStream) emitPages(p *mergePart, b *shared.PageBatch) error {
	f := p.pm.File(b.FileIndex)
	if f == nil {
		return m.damaged(p.snap.ID, "its stream has pages of file %d, which its page map lacks", b.FileIndex)
	}
	size := uint64(f.PageSize)
	if uint64(len(b.Data))%size != 0 {
		return m.damaged(p.snap.ID, "a page batch of %s is %d bytes, not a whole number of %d-byte pages", f.Path, len(b.Data), size)
	}
	first := b.FirstPage
	end := first + uint64(len(b.Data))/size
	to := p.toTarget[b.FileIndex]
	any := false
	p.overlap(b.FileIndex, first, end, func(a, e uint64) bool {
		any = true
		data := b.Data[(a-first)*size : (e-first)*size]
		m.out = append(m.out, &shared.Record{Pages: &shared.PageBatch{FileIndex: to, FirstPage: a, Data: data}})
		p.seen.AddRange(b.FileIndex, uint32(a), uint32(e))
		p.emitted += e - a
		p.stats.PagesEmitted += e - a
		p.stats.PageBytesEmitted += uint64(len(data))
		return true
	})
	if !any {
		p.stats.PageRecordsUnneeded++
	}
	return nil
}

// finish checks that the target gave all its wanted pages and queues the merged trailer.
func (m *mergeStream) finish() error {
	p := m.plan.parts[0]
	if !p.seen.Equal(p.want) {
		return m.damaged(m.snap.ID, "its stream lacks pages its page map lists")
	}
	t := *m.tTrailer
	t.Records = m.dig.Records()
	t.Digest = m.dig.Sum()
	m.out = append(m.out, &shared.Record{Trailer: &t})
	m.sent = true
	m.phase = phaseEnd
	return nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// describeChain is "T ← P ← F (full)" for messages.
func describeChain(chain []*repo.Snapshot) string {
	ids := make([]string, len(chain))
	for i, s := range chain {
		ids[i] = s.ID
	}
	return strings.Join(ids, " ← ") + " (full)"
}
