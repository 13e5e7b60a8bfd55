package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/pagetrack/pagetrack/shared"
)

// Scratch is where a Spool keeps the streams' payloads: typically an *os.File the host
// created and unlinked at once, so that nothing is left behind whatever happens.
type Scratch interface {
	io.ReaderAt
	io.WriterAt
}

// Spool merges a chain that arrives as streams in sequence, oldest first (see the package
// documentation).
type Spool struct {
	planner *Planner
	scratch Scratch
	end     int64     // bytes written to scratch
	offsets [][]int64 // per stream, per record: where its payload is in scratch
}

// NewSpool returns a Spool keeping payloads in scratch.
func NewSpool(scratch Scratch) *Spool {
	return &Spool{planner: NewPlanner(), scratch: scratch}
}

// Add reads the next stream of the chain to its end, checking it as a whole stream
// (shared.NewStreamChecker: every rule and the digest) and as the next link of the chain,
// and keeps its payloads. name names it in messages. It returns what a host records of the
// stream; on error (a *shared.StreamError, shared.ErrNoTrailer, a *LinkError, or s's or the
// scratch file's) the Spool is spent.
func (sp *Spool) Add(name string, s shared.RecordStream) (*shared.StreamSummary, error) {
	chk := shared.NewStreamChecker()
	var offsets []int64
	list := func(yield func(Listed) error) error {
		for {
			r, err := s.Recv()
			if err == io.EOF {
				return chk.End()
			}
			if err != nil {
				return err
			}
			if err := chk.Check(r); err != nil {
				return err
			}
			if r.Kind() == shared.RecordProgress {
				continue // a record list leaves them out
			}
			data := r.Payload()
			offsets = append(offsets, sp.end)
			if len(data) > 0 {
				if _, err := sp.scratch.WriteAt(data, sp.end); err != nil {
					return fmt.Errorf("keeping %s in the scratch file: %w", name, err)
				}
				sp.end += int64(len(data))
			}
			if err := yield(Listed{Record: withoutPayload(r), Len: uint64(len(data))}); err != nil {
				return err
			}
		}
	}
	if err := sp.planner.Add(name, list); err != nil {
		return nil, err
	}
	sp.offsets = append(sp.offsets, offsets)
	sum := shared.Summarize(chk.Header(), chk.Trailer())
	return &sum, nil
}

// Plan is the plan of the last stream added.
func (sp *Spool) Plan() (*Plan, error) { return sp.planner.Plan() }

// Merge returns the merged stream of plan (from Plan), its payloads read from the scratch file.
func (sp *Spool) Merge(ctx context.Context, plan *Plan) *Merged {
	return Merge(ctx, plan, spoolPayloads{sp: sp})
}

type spoolPayloads struct{ sp *Spool }

func (p spoolPayloads) Open(ctx context.Context, reads iter.Seq[[]Piece]) PayloadReader {
	next, stop := iter.Pull(reads)
	return &spoolReader{ctx: ctx, sp: p.sp, next: next, stop: stop}
}

type spoolReader struct {
	ctx  context.Context
	sp   *Spool
	next func() ([]Piece, bool)
	stop func()
}

var errNoRead = errors.New("chain: a payload was asked for beyond the merge's reads")

func (r *spoolReader) Next() ([]byte, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	pieces, ok := r.next()
	if !ok {
		return nil, errNoRead
	}
	total := 0
	for _, pc := range pieces {
		total += pc.Len
	}
	out := make([]byte, total)
	at := 0
	for len(pieces) > 0 {
		pc := pieces[0]
		off := r.sp.offsets[pc.Snapshot][pc.Record]
		if pc.Page > 0 {
			off += int64(pc.Page) * int64(pc.Len)
		}
		// Pages that follow each other in one batch are read at once.
		n := 1
		for n < len(pieces) && pc.Page >= 0 && pieces[n].Snapshot == pc.Snapshot && pieces[n].Record == pc.Record && pieces[n].Page == pc.Page+n {
			n++
		}
		if _, err := r.sp.scratch.ReadAt(out[at:at+n*pc.Len], off); err != nil {
			return nil, fmt.Errorf("reading back the scratch file: %w", err)
		}
		at += n * pc.Len
		pieces = pieces[n:]
	}
	return out, nil
}

func (r *spoolReader) Close() error {
	r.stop()
	return nil
}
