package repo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pagetrack/pagetrack/shared"
)

// SetStreamSummary fills in the fields of s that come from its stream: the consistency
// coordinates (checkpoint, end LSN, binlog position, GTID set), the method, the counts, the
// digest. sum is what the stream kernel made of the verified Header and Trailer
// (shared.StreamChecker.Summary, shared.Summarize), so the Trailer's field list is spelled
// out in shared alone; this is the one place that says how a summary becomes metadata, and
// VerifyStreamFields checks stored metadata against it.
func (s *Snapshot) SetStreamSummary(sum shared.StreamSummary) {
	s.Method, s.FallbackReason, s.BaseCheckpointLSN = sum.Method, sum.FallbackReason, sum.BaseCheckpointLSN
	s.PagesInSet, s.PagesRead, s.BytesRead, s.BytesSent = sum.PagesInSet, sum.PagesRead, sum.BytesRead, sum.BytesSent
	s.CheckpointWaitMicros, s.PagesBeforeBase, s.PagesBeforeBaseSkipped = sum.CheckpointWaitMicros, sum.PagesBeforeBase, sum.PagesBeforeBaseSkipped
	s.SourceState = sum.SourceState
	s.ServerVersion, s.ServerUUID, s.PageSize, s.StreamFormat = sum.ServerVersion, sum.ServerUUID, sum.PageSize, sum.StreamFormat
	s.CheckpointLSN, s.EndLSN, s.MaxPageLSN = sum.CheckpointLSN, sum.EndLSN, sum.MaxPageLSN
	s.BinlogFile, s.BinlogPos, s.GTIDExecuted = sum.BinlogFile, sum.BinlogPos, sum.GTIDExecuted
	s.BinlogFrom, s.BinlogWritten = sum.BinlogFrom, sum.BinlogWritten
	c := sum.Counts
	s.Tablespaces, s.Pages, s.PageBytes, s.RedoBytes = c.Tablespaces, c.Pages, c.PageBytes, c.RedoBytes
	s.BinlogBytes, s.Files, s.Records = c.BinlogBytes, c.Files, sum.Records
	s.StreamDigest = hex.EncodeToString(sum.Digest)
	if s.Method == "" && !s.Incremental() {
		s.Method = shared.MethodFull
	}
}

// SetStreamFields is SetStreamSummary of a verified stream's Header and Trailer.
func (s *Snapshot) SetStreamFields(h *shared.Header, t *shared.Trailer) {
	s.SetStreamSummary(shared.Summarize(h, t))
}

// VerifyStreamFields checks that every field of s that comes from its stream (SetStreamFields)
// says what the stream's header h and trailer t say, and that the trailer's kind is s's. A
// disagreement is an error wrapping ErrCorrupt that names the field and both values: the
// metadata was damaged or edited, and only the stream tells what a restore gives.
func VerifyStreamFields(s *Snapshot, h *shared.Header, t *shared.Trailer) error {
	want := &Snapshot{Kind: s.Kind, Parent: s.Parent}
	want.SetStreamSummary(shared.Summarize(h, t))
	type field struct {
		name      string
		got, want any
	}
	fields := []field{
		{"end_lsn", s.EndLSN, want.EndLSN},
		{"binlog_file", s.BinlogFile, want.BinlogFile},
		{"binlog_pos", s.BinlogPos, want.BinlogPos},
		{"gtid_executed", s.GTIDExecuted, want.GTIDExecuted},
		{"checkpoint_lsn", s.CheckpointLSN, want.CheckpointLSN},
		{"stream_digest", s.StreamDigest, want.StreamDigest},
		{"base_checkpoint_lsn", s.BaseCheckpointLSN, want.BaseCheckpointLSN},
		{"max_page_lsn", s.MaxPageLSN, want.MaxPageLSN},
		{"method", s.Method, want.Method},
		{"fallback_reason", s.FallbackReason, want.FallbackReason},
		{"server_version", s.ServerVersion, want.ServerVersion},
		{"server_uuid", s.ServerUUID, want.ServerUUID},
		{"page_size", s.PageSize, want.PageSize},
		{"stream_format", s.StreamFormat, want.StreamFormat},
		{"tablespaces", s.Tablespaces, want.Tablespaces},
		{"pages", s.Pages, want.Pages},
		{"page_bytes", s.PageBytes, want.PageBytes},
		{"redo_bytes", s.RedoBytes, want.RedoBytes},
		{"binlog_bytes", s.BinlogBytes, want.BinlogBytes},
		{"binlog_from", s.BinlogFrom, want.BinlogFrom},
		{"binlog_written", s.BinlogWritten, want.BinlogWritten},
		{"files", s.Files, want.Files},
		{"records", s.Records, want.Records},
		{"pages_in_set", s.PagesInSet, want.PagesInSet},
		{"pages_read", s.PagesRead, want.PagesRead},
		{"bytes_read", s.BytesRead, want.BytesRead},
		{"bytes_sent", s.BytesSent, want.BytesSent},
		{"checkpoint_wait_micros", s.CheckpointWaitMicros, want.CheckpointWaitMicros},
		{"pages_before_base", s.PagesBeforeBase, want.PagesBeforeBase},
		{"pages_before_base_skipped", s.PagesBeforeBaseSkipped, want.PagesBeforeBaseSkipped},
	}
	for _, f := range fields {
		if f.got != f.want {
			return fmt.Errorf("%w: its metadata says %s %v, its stream's trailer %v", ErrCorrupt, f.name, f.got, f.want)
		}
	}
	if !bytes.Equal(s.SourceState, want.SourceState) {
		return fmt.Errorf("%w: its metadata's source_state is not its stream's", ErrCorrupt)
	}
	if t.Kind != "" && t.Kind != s.Kind {
		return fmt.Errorf("%w: its metadata says kind %q, its stream's trailer %q", ErrCorrupt, s.Kind, t.Kind)
	}
	return nil
}

// recordListEnds returns the header (the first item) and the trailer (the last item) of a
// record list given by its first and last tree blobs (the same blob for a one-blob list).
func recordListEnds(snap string, first, last []byte) (*shared.Header, *shared.Trailer, error) {
	var h *shared.Header
	var t *shared.Trailer
	stop := errors.New("stop")
	err := eachItem(snap, [][]byte{first}, func(it *item) error {
		h = it.rec.Header
		return stop
	})
	if err != nil && err != stop {
		return nil, nil, err
	}
	err = eachItem(snap, [][]byte{last}, func(it *item) error {
		t = it.rec.Trailer
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if h == nil {
		return nil, nil, &DamageError{Snapshot: snap, What: "its record list", Err: fmt.Errorf("%w: it does not start with a header", ErrCorrupt)}
	}
	if t == nil {
		return nil, nil, &DamageError{Snapshot: snap, What: "its record list", Err: fmt.Errorf("%w: it does not end with a trailer", ErrCorrupt)}
	}
	return h, t, nil
}

// verifyRecordList checks a snapshot's metadata against the header and trailer of its record
// list (first and last tree blob).
func verifyRecordList(s *Snapshot, first, last []byte) error {
	h, t, err := recordListEnds(s.ID, first, last)
	if err != nil {
		return err
	}
	if err := VerifyStreamFields(s, h, t); err != nil {
		return &DamageError{Snapshot: s.ID, What: "its metadata", Err: err}
	}
	return nil
}

// verifyEnds reads the first and last blob of s's record list and checks s against them.
func (r *blobReader) verifyEnds(s *Snapshot) error {
	if len(s.Tree) == 0 {
		_, err := r.readTree(s)
		return err
	}
	read := func(i int) ([]byte, error) {
		b, err := r.readOne(s.Tree[i])
		if err != nil {
			return nil, &DamageError{Snapshot: s.ID, What: fmt.Sprintf("its record list (blob %d of %d)", i+1, len(s.Tree)), Err: err}
		}
		return b, nil
	}
	first, err := read(0)
	if err != nil {
		return err
	}
	last := first
	if n := len(s.Tree); n > 1 {
		if last, err = read(n - 1); err != nil {
			return err
		}
	}
	return verifyRecordList(s, first, last)
}
