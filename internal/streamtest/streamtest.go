// Package streamtest is the corpus of forged record streams every consumer of a stream must
// reject: the host when it stores, merges or restores from a stream, the plugin when it
// restores. Each case takes a real stream, forges one thing, and reseals the Trailer (its
// Records and Digest recomputed) so that only the forged field is wrong: a consumer that
// passes relies on shared.StreamChecker's rules, not on the digest.
//
// It is a plain package (not a _test file) so the tests of every consumer can import it.
package streamtest

import (
	"fmt"
	"io"

	"github.com/pagetrack/pagetrack/shared"
)

// Case is one forgery.
type Case struct {
	Name string
	// Forge returns a forged copy of recs (recs itself is never modified) and the text every
	// consumer's error must contain. ok is false when recs lacks what the case forges (a
	// stream without binlog for the binlog cases); Applicable reports it.
	Forge func(recs []*shared.Record) (forged []*shared.Record, want string, ok bool)
}

// Stream replays records as a shared.RecordStream.
func Stream(recs []*shared.Record) shared.RecordStream { return &sliceStream{recs: recs} }

type sliceStream struct{ recs []*shared.Record }

func (s *sliceStream) Recv() (*shared.Record, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// Clone deep-copies one record through the codec, so a forgery never touches the original.
func Clone(r *shared.Record) *shared.Record {
	c, err := shared.DecodeRecord(shared.AppendRecord(nil, r))
	if err != nil {
		panic(fmt.Sprintf("streamtest: a record does not survive the codec: %v", err))
	}
	return c
}

// Reseal recomputes the first Trailer's Records and Digest over the records before it (in a
// copy of that Trailer), as a forger who knows the format would.
func Reseal(recs []*shared.Record) []*shared.Record {
	d := shared.NewDigester()
	for i, r := range recs {
		if r.Trailer == nil {
			d.Add(r)
			continue
		}
		t := *r.Trailer
		t.Records, t.Digest = d.Records(), d.Sum()
		out := append([]*shared.Record(nil), recs...)
		out[i] = &shared.Record{Trailer: &t}
		return out
	}
	return recs
}

// find returns the positions of the records of kind k.
func find(recs []*shared.Record, k shared.RecordKind) []int {
	var out []int
	for i, r := range recs {
		if r.Kind() == k {
			out = append(out, i)
		}
	}
	return out
}

// edit returns a copy of recs with the records at positions cloned and passed to f.
func edit(recs []*shared.Record, f func(r *shared.Record), positions ...int) []*shared.Record {
	out := append([]*shared.Record(nil), recs...)
	for _, i := range positions {
		c := Clone(recs[i])
		f(c)
		out[i] = c
	}
	return out
}

// remove returns a copy of recs without the records at positions (ascending).
func remove(recs []*shared.Record, positions ...int) []*shared.Record {
	out := make([]*shared.Record, 0, len(recs))
	skip := map[int]bool{}
	for _, i := range positions {
		skip[i] = true
	}
	for i, r := range recs {
		if !skip[i] {
			out = append(out, r)
		}
	}
	return out
}

func insert(recs []*shared.Record, at int, r *shared.Record) []*shared.Record {
	out := append([]*shared.Record(nil), recs[:at]...)
	out = append(out, r)
	return append(out, recs[at:]...)
}

// wholeFile returns the FileIndex of the first Tablespace not marked Incremental that has a
// page batch, the positions of its Tablespace records and of its page batches.
func wholeFile(recs []*shared.Record) (index uint32, tablespaces, batches []int, ok bool) {
	for _, i := range find(recs, shared.RecordTablespace) {
		t := recs[i].Tablespace
		if t.Incremental {
			continue
		}
		tablespaces, batches = nil, nil
		for j, r := range recs {
			switch {
			case r.Tablespace != nil && r.Tablespace.FileIndex == t.FileIndex:
				tablespaces = append(tablespaces, j)
			case r.Pages != nil && r.Pages.FileIndex == t.FileIndex:
				batches = append(batches, j)
			}
		}
		if len(batches) > 0 {
			return t.FileIndex, tablespaces, batches, true
		}
	}
	return 0, nil, nil, false
}

// trailer returns the Trailer and its position.
func trailer(recs []*shared.Record) (*shared.Trailer, int) {
	if i := find(recs, shared.RecordTrailer); len(i) > 0 {
		return recs[i[0]].Trailer, i[0]
	}
	return nil, -1
}

// Applicable reports which cases apply to recs; a consumer's test asserts that the stream it
// uses exercises every case it means to.
func Applicable(recs []*shared.Record) (yes, no []string) {
	for _, c := range Cases() {
		if _, _, ok := c.Forge(recs); ok {
			yes = append(yes, c.Name)
		} else {
			no = append(no, c.Name)
		}
	}
	return yes, no
}
