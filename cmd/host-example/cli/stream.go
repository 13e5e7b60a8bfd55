package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// storeStream receives a backup stream and stores it in w, checking it as it goes: a Header
// first, exactly one of each record's fields set, the Trailer's digest matching the records
// stored, and io.EOF right after the Trailer. It returns the Header and the Trailer; on any
// error the caller must abort w.
func storeStream(ctx context.Context, stream shared.RecordStream, w repo.StreamWriter, progress func(*shared.Progress)) (*shared.Header, *shared.Trailer, error) {
	dig := shared.NewDigester()
	var header *shared.Header
	var trailer *shared.Trailer
	for n := 1; ; n++ {
		rec, err := stream.Recv()
		if err == io.EOF {
			if trailer == nil {
				return nil, nil, shared.ErrNoTrailer
			}
			return header, trailer, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if rec == nil || fieldsSet(rec) != 1 {
			return nil, nil, fmt.Errorf("the plugin sent a malformed record %d (it must set exactly one kind)", n)
		}
		if trailer != nil {
			return nil, nil, fmt.Errorf("the plugin sent record %d after the trailer", n)
		}
		if rec.Progress != nil {
			progress(rec.Progress)
			continue
		}
		switch {
		case header == nil && rec.Header == nil:
			return nil, nil, fmt.Errorf("the plugin's stream does not start with a header (record %d is a %s)", n, kindOf(rec))
		case header == nil:
			if rec.Header.StreamFormat != shared.StreamFormat {
				return nil, nil, fmt.Errorf("the plugin writes stream format %d and this host-example stores format %d; use a plugin and a host from the same release", rec.Header.StreamFormat, shared.StreamFormat)
			}
			header = rec.Header
		case rec.Header != nil:
			return nil, nil, fmt.Errorf("the plugin sent a second header (record %d)", n)
		}
		if rec.Trailer != nil {
			if err := dig.Check(rec.Trailer); err != nil {
				return nil, nil, fmt.Errorf("the stream the plugin sent does not match its own trailer: %w", err)
			}
			trailer = rec.Trailer
		} else {
			dig.Add(rec)
		}
		if err := w.Append(rec); err != nil {
			return nil, nil, err
		}
	}
}

// restoreStream feeds a stored stream to a plugin's Restore, checking it again on the way:
// each blob's SHA-256 (the repository does that), a Header first, and at the
// Trailer the digest, both against the trailer and against the snapshot's metadata. A damaged
// stream ends with an error naming the snapshot instead of its Trailer, so the plugin never
// sees a complete stream that is not intact.
type restoreStream struct {
	snap    *repo.Snapshot
	r       repo.StreamReader
	dig     *shared.Digester
	n       int
	header  *shared.Header
	trailer *shared.Trailer // the stored trailer, once read and verified
	eof     bool
	err     error // sticky
}

var _ shared.RecordStream = (*restoreStream)(nil)

func newRestoreStream(snap *repo.Snapshot, r repo.StreamReader) *restoreStream {
	return &restoreStream{snap: snap, r: r, dig: shared.NewDigester()}
}

func (s *restoreStream) Recv() (*shared.Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	rec, err := s.next()
	if err != nil {
		if err == io.EOF {
			s.eof = true
		} else {
			s.err = err
		}
		return nil, err
	}
	return rec, nil
}

// complete reports whether the whole stream was read and found intact.
func (s *restoreStream) complete() bool { return s.err == nil && s.trailer != nil && s.eof }

// verifiedTrailer is the stream's trailer, checked against the records and the metadata;
// nil until complete.
func (s *restoreStream) verifiedTrailer() *shared.Trailer {
	if !s.complete() {
		return nil
	}
	return s.trailer
}

func (s *restoreStream) failure() error { return s.err }
func (s *restoreStream) close()         { s.r.Close() }
func (s *restoreStream) received() int  { return s.n }

func (s *restoreStream) damaged(format string, args ...any) error {
	return &damagedError{id: s.snap.ID, msg: fmt.Sprintf(format, args...)}
}

// damagedError says a stored snapshot failed a check; its message names the snapshot.
type damagedError struct{ id, msg string }

func (e *damagedError) Error() string { return fmt.Sprintf("snapshot %s is damaged: %s", e.id, e.msg) }

func (s *restoreStream) next() (*shared.Record, error) {
	for {
		rec, err := s.r.Next()
		if err == io.EOF {
			if s.trailer == nil {
				return nil, s.damaged("its stored stream ends after %d records, without a trailer", s.n)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, readError(s.snap.ID, err)
		}
		s.n++
		if s.trailer != nil {
			return nil, s.damaged("record %d follows the trailer", s.n)
		}
		if fieldsSet(rec) != 1 {
			return nil, s.damaged("record %d is malformed", s.n)
		}
		if rec.Progress != nil {
			continue
		}
		switch {
		case s.header == nil && rec.Header == nil:
			return nil, s.damaged("its stored stream does not start with a header")
		case s.header == nil:
			s.header = rec.Header
		case rec.Header != nil:
			return nil, s.damaged("record %d is a second header", s.n)
		}
		if rec.Trailer != nil {
			if err := s.dig.Check(rec.Trailer); err != nil {
				return nil, s.damaged("%v", err)
			}
			if err := repo.VerifyStreamFields(s.snap, s.header, rec.Trailer); err != nil {
				return nil, s.damaged("%s", strings.TrimPrefix(err.Error(), repo.ErrCorrupt.Error()+": "))
			}
			s.trailer = rec.Trailer
			return rec, nil
		}
		s.dig.Add(rec)
		return rec, nil
	}
}

func fieldsSet(r *shared.Record) int {
	n := 0
	for _, set := range []bool{r.Header != nil, r.Tablespace != nil, r.Pages != nil, r.Redo != nil, r.Binlog != nil, r.File != nil, r.Progress != nil, r.Trailer != nil} {
		if set {
			n++
		}
	}
	return n
}

func kindOf(r *shared.Record) string {
	switch {
	case r.Header != nil:
		return "header"
	case r.Tablespace != nil:
		return "tablespace"
	case r.Pages != nil:
		return "page batch"
	case r.Redo != nil:
		return "redo segment"
	case r.Binlog != nil:
		return "binlog chunk"
	case r.File != nil:
		return "file chunk"
	case r.Progress != nil:
		return "progress"
	case r.Trailer != nil:
		return "trailer"
	}
	return "empty record"
}
