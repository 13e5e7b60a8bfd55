package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// storeStream receives a backup stream and stores it in w. Every record passes the stream
// kernel (shared.StreamChecker) before w sees it, so w stores only records that keep the
// stream's rules, and the stream counts as complete only once the kernel verified its
// Trailer (counts and digest) and io.EOF followed it. It returns the verified Header and
// Trailer; on any error the caller must abort w.
func storeStream(ctx context.Context, stream shared.RecordStream, w repo.StreamWriter, progress func(*shared.Progress)) (*shared.Header, *shared.Trailer, error) {
	check := shared.NewStreamChecker()
	for {
		rec, err := stream.Recv()
		if err == io.EOF {
			if err := check.End(); err != nil {
				return nil, nil, err
			}
			return check.Header(), check.Trailer(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if rec == nil {
			rec = &shared.Record{} // the kernel names it: a record with no field set
		}
		sums := pageSums(check, rec)
		if sums != nil {
			err = check.CheckSummed(rec, shared.PagesSum(rec.Pages, sums))
		} else {
			err = check.Check(rec)
		}
		if err != nil {
			return nil, nil, err
		}
		if rec.Progress != nil {
			progress(rec.Progress)
			continue
		}
		if sa, ok := w.(repo.SummedAppender); ok && sums != nil {
			err = sa.AppendSummed(rec, sums)
		} else {
			err = w.Append(rec)
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// pageSums hashes the pages of a format 3 PageBatch once (shared.PageSum), cut at the page
// size of its file as the checker knows it: the kernel verifies the digest from these sums
// (shared.PagesSum) and the repository takes them as the pages' blob IDs, so the host hashes
// every page byte once. It returns nil where the kernel hashes the record itself: any other
// record, an older format, a file not announced (the kernel refuses the batch).
func pageSums(check *shared.StreamChecker, rec *shared.Record) [][sha256.Size]byte {
	h := check.Header()
	if rec.Pages == nil || h == nil || h.StreamFormat < 3 || rec.Kind() != shared.RecordPages {
		return nil
	}
	ts, ok := check.Tablespace(rec.Pages.FileIndex)
	size := int(ts.PageSize)
	if !ok || size <= 0 {
		return nil
	}
	data := rec.Pages.Data
	sums := make([][sha256.Size]byte, 0, (len(data)+size-1)/size)
	for len(data) > 0 {
		n := min(size, len(data))
		sums = append(sums, shared.PageSum(data[:n]))
		data = data[n:]
	}
	return sums
}

// restoreStream feeds a stored stream to a plugin's Restore, checking it again on the way:
// each blob's SHA-256 (the repository does that), every rule of the stream kernel
// (shared.StreamChecker, which verifies the Trailer's counts and digest), and the verified
// Trailer against the snapshot's metadata. A damaged
// stream ends with an error naming the snapshot instead of its Trailer, so the plugin never
// sees a complete stream that is not intact.
type restoreStream struct {
	snap    *repo.Snapshot
	r       repo.StreamReader
	check   *shared.StreamChecker
	n       int
	trailer *shared.Trailer // the stored trailer, once read and verified
	eof     bool
	err     error // sticky
}

var _ shared.RecordStream = (*restoreStream)(nil)

func newRestoreStream(snap *repo.Snapshot, r repo.StreamReader) *restoreStream {
	return &restoreStream{snap: snap, r: r, check: shared.NewStreamChecker()}
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
		if err := s.check.Check(rec); err != nil {
			return nil, s.damaged("%v", err)
		}
		if rec.Progress != nil {
			continue
		}
		if rec.Trailer != nil {
			if err := repo.VerifyStreamFields(s.snap, s.check.Header(), rec.Trailer); err != nil {
				return nil, s.damaged("%s", strings.TrimPrefix(err.Error(), repo.ErrCorrupt.Error()+": "))
			}
			s.trailer = rec.Trailer
		}
		return rec, nil
	}
}
