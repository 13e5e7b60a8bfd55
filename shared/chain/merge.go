package chain

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/pagetrack/pagetrack/shared"
)

// Payloads reads the payloads a merge needs from where a host keeps them.
type Payloads interface {
	// Open returns a reader of the payloads of reads. reads yields, in the merged stream's
	// order, the Pieces of each record that needs any (a page batch's provided pages, or a
	// redo, binlog or file record's whole payload); the reader returns, for each, the
	// concatenation of its pieces' payloads. A host may read ahead: the order is fixed.
	Open(ctx context.Context, reads iter.Seq[[]Piece]) PayloadReader
}

// PayloadReader returns the payloads Payloads.Open was asked for, in order.
type PayloadReader interface {
	Next() ([]byte, error)
	Close() error
}

// step is one record of the merged stream: rec with its payload to fill from pieces (page
// batches: the provided pages, zeros elsewhere).
type step struct {
	rec    *shared.Record
	pieces []Piece
	// page batches: which of the batch's pages the pieces provide, in order
	provided []bool
	size     uint64 // payload bytes
	pageSize uint64
}

// steps yields the records of the merged stream, the Trailer excepted.
func (plan *Plan) steps(yield func(step) bool) {
	if !yield(step{rec: &shared.Record{Header: plan.Header}}) {
		return
	}
	for i := range plan.Files {
		ts := plan.Files[i]
		if !yield(step{rec: &shared.Record{Tablespace: &ts}}) {
			return
		}
	}
	for i, ts := range plan.Files {
		if !plan.fileSteps(ts, plan.pages[i], yield) {
			return
		}
	}
	for _, tail := range [][]tailRecord{plan.tail, plan.binlog} {
		for _, t := range tail {
			st := step{rec: t.rec, size: t.len}
			if t.len > 0 {
				st.pieces = []Piece{{Snapshot: t.snap, Record: t.pos, Page: -1, Len: int(t.len)}}
			}
			if !yield(st) {
				return
			}
		}
	}
}

// fileSteps yields the page batches of one file: every page, in order, at most
// MaxPayloadBytes each.
func (plan *Plan) fileSteps(ts shared.Tablespace, pages []pagePiece, yield func(step) bool) bool {
	size := uint64(ts.PageSize)
	per := max(1, uint64(shared.MaxPayloadBytes)/size)
	for first := uint64(0); first < ts.SizePages; {
		n := min(per, ts.SizePages-first)
		st := step{
			rec:      &shared.Record{Pages: &shared.PageBatch{FileIndex: ts.FileIndex, FirstPage: first}},
			size:     n * size,
			pageSize: size,
		}
		if len(pages) > 0 && uint64(pages[0].page) < first+n {
			st.provided = make([]bool, n)
			for len(pages) > 0 && uint64(pages[0].page) < first+n {
				pc := pages[0]
				st.provided[uint64(pc.page)-first] = true
				st.pieces = append(st.pieces, Piece{Snapshot: int(pc.snap), Record: int(pc.rec), Page: int(pc.piece.page), Len: int(size)})
				pages = pages[1:]
			}
		}
		if !yield(st) {
			return false
		}
		first += n
	}
	return true
}

// Reads yields the pieces of each record of the merged stream that needs any, in order: what
// Merge asks its Payloads for. A host may use it to check beforehand that it has them all.
func (plan *Plan) Reads() iter.Seq[[]Piece] {
	return func(yield func([]Piece) bool) {
		for st := range plan.steps {
			if len(st.pieces) > 0 && !yield(st.pieces) {
				return
			}
		}
	}
}

// zeros is a read-only buffer of zero pages, shared by every merge.
var zeros = sync.OnceValue(func() []byte { return make([]byte, shared.MaxPayloadBytes) })

// Merged is the merged stream of a Plan, as a shared.RecordStream.
type Merged struct {
	plan    *Plan
	src     PayloadReader
	next    func() (step, bool)
	stop    func()
	chk     *shared.StreamChecker
	dig     *shared.Digester
	err     error // sticky
	done    bool  // the Trailer was sent
	sent    uint64
	trailer *shared.Trailer
}

var _ shared.RecordStream = (*Merged)(nil)

// Merge returns the merged stream of plan's target, its payloads read from src. Close it.
// Pages of zeros share one read-only buffer: like every RecordStream's, the records it
// returns must not be modified.
func Merge(ctx context.Context, plan *Plan, src Payloads) *Merged {
	next, stop := iter.Pull(plan.steps)
	return &Merged{plan: plan, src: src.Open(ctx, plan.Reads()), next: next, stop: stop, chk: shared.NewRestoreChecker(), dig: shared.NewDigester()}
}

// Recv returns the next record of the merged stream, io.EOF after the Trailer. Every record
// passed a shared.NewRestoreChecker.
func (m *Merged) Recv() (*shared.Record, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.done {
		return nil, io.EOF
	}
	rec, err := m.build()
	if err == nil {
		err = m.chk.Check(rec)
	}
	if err != nil {
		m.err = err
		return nil, err
	}
	if rec.Trailer == nil {
		m.dig.Add(rec)
	}
	m.sent++
	return rec, nil
}

func (m *Merged) build() (*shared.Record, error) {
	st, ok := m.next()
	if !ok {
		return m.trailerRecord(), nil
	}
	if len(st.pieces) == 0 {
		if st.rec.Pages != nil {
			b := *st.rec.Pages
			b.Data = zeros()[:st.size]
			return &shared.Record{Pages: &b}, nil
		}
		return st.rec, nil
	}
	data, err := m.src.Next()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if st.rec.Pages == nil {
		if uint64(len(data)) != st.size {
			return nil, fmt.Errorf("the host read %d bytes for a record of %d", len(data), st.size)
		}
		return withPayload(st.rec, data), nil
	}
	if want := uint64(len(st.pieces)) * st.pageSize; uint64(len(data)) != want {
		return nil, fmt.Errorf("the host read %d bytes for %d pages of %d bytes", len(data), len(st.pieces), st.pageSize)
	}
	b := *st.rec.Pages
	if len(st.pieces) == len(st.provided) {
		b.Data = data
	} else {
		b.Data = make([]byte, st.size)
		for k, at := 0, uint64(0); k < len(st.provided); k++ {
			if st.provided[k] {
				copy(b.Data[uint64(k)*st.pageSize:], data[at:at+st.pageSize])
				at += st.pageSize
			}
		}
	}
	return &shared.Record{Pages: &b}, nil
}

// trailerRecord is the target's Trailer with its counts, Records and Digest those of the
// records sent.
func (m *Merged) trailerRecord() *shared.Record {
	t := *m.plan.Trailer
	a := m.chk.Arrived()
	t.Tablespaces, t.Pages, t.PageBytes = a.Tablespaces, a.Pages, a.PageBytes
	t.RedoBytes, t.BinlogBytes, t.Files = a.RedoBytes, a.BinlogBytes, a.Files
	t.Records, t.Digest = m.dig.Records(), m.dig.Sum()
	t.BinlogFrom = 0 // the merged stream carries the whole binlog file
	m.done = true
	m.trailer = &t
	return &shared.Record{Trailer: &t}
}

// Err is the error that ended the stream, if any.
func (m *Merged) Err() error { return m.err }

// Complete reports whether the whole stream, Trailer included, was handed out.
func (m *Merged) Complete() bool { return m.err == nil && m.done }

// Close stops reading payloads; it may be called more than once.
func (m *Merged) Close() error {
	m.stop()
	return m.src.Close()
}

func withPayload(r *shared.Record, data []byte) *shared.Record {
	c := *withoutPayload(r)
	switch {
	case c.Redo != nil:
		c.Redo.Data = data
	case c.Binlog != nil:
		c.Binlog.Data = data
	case c.File != nil:
		c.File.Data = data
	case c.Pages != nil:
		c.Pages.Data = data
	}
	return &c
}
