package pgstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

func testRecords(seed byte) []*shared.Record {
	page := bytes.Repeat([]byte{seed}, 2*256) // the codec does not care that it is no whole page
	return []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "9.5.0", PageSize: 4096, CheckpointLSN: 1000, StartedAt: time.Unix(1700000000, 0).UTC()}},
		{Progress: &shared.Progress{Phase: "pages", PagesDone: 1, PagesTotal: 2}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 4096, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 0, Data: page}},
		{Redo: &shared.RedoSegment{StartLSN: 512, Data: bytes.Repeat([]byte{seed + 1}, 512)}},
		{Trailer: &shared.Trailer{EndLSN: 2000, GTIDExecuted: "uuid:1-5", Records: 4, Digest: bytes.Repeat([]byte{seed}, 32), SourceState: []byte("state")}},
	}
}

func writeStream(t testing.TB, meta *Meta, recs []*shared.Record) ([]byte, *End) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	end, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), end
}

// readAll reads every stream of in to its end.
func readAll(in []byte) ([]*Meta, [][]*shared.Record, []*End, error) {
	r := NewReader(bytes.NewReader(in))
	var metas []*Meta
	var recs [][]*shared.Record
	var ends []*End
	for {
		s, err := r.Next()
		if err == io.EOF {
			return metas, recs, ends, nil
		}
		if err != nil {
			return metas, recs, ends, err
		}
		metas = append(metas, &s.Meta)
		var got []*shared.Record
		for {
			rec, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return metas, recs, ends, err
			}
			got = append(got, rec)
		}
		recs = append(recs, got)
		ends = append(ends, s.End())
	}
}

func withoutProgress(recs []*shared.Record) []*shared.Record {
	var out []*shared.Record
	for _, r := range recs {
		if r.Progress == nil {
			out = append(out, r)
		}
	}
	return out
}

func TestRoundTripConcatenated(t *testing.T) {
	full := &Meta{ID: "00112233445566aa", Time: time.Unix(1700000000, 0).UTC(), Host: "host-example", Source: "primary", SourceType: "mysql", Kind: "full", Config: map[string]any{"datadir": "/var/lib/mysql"}}
	a, endA := writeStream(t, full, testRecords(1))
	inc := &Meta{ID: "00112233445566bb", Time: time.Unix(1700000600, 0).UTC(), Host: "host-example", Source: "primary", SourceType: "mysql", Kind: "incremental", Parent: full.ID, ParentSHA256: endA.Hex()}
	b, endB := writeStream(t, inc, testRecords(2))

	if endA.Records != 5 || endA.Bytes != int64(len(a)) {
		t.Errorf("end of a = %+v, stream is %d bytes", endA, len(a))
	}
	if want := sha256.Sum256(a[:len(a)-headLen-endLen]); !bytes.Equal(endA.SHA256, want[:]) {
		t.Errorf("end SHA-256 %x, want %x (of everything before the end frame)", endA.SHA256, want)
	}

	metas, recs, ends, err := readAll(append(append([]byte{}, a...), b...))
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 2 {
		t.Fatalf("read %d streams, want 2", len(metas))
	}
	if !reflect.DeepEqual(metas[0], full) || !reflect.DeepEqual(metas[1], inc) {
		t.Errorf("metadata = %+v, %+v", metas[0], metas[1])
	}
	for i, want := range [][]*shared.Record{withoutProgress(testRecords(1)), withoutProgress(testRecords(2))} {
		if len(recs[i]) != len(want) {
			t.Fatalf("stream %d: %d records, want %d", i+1, len(recs[i]), len(want))
		}
		for j := range want {
			if !bytes.Equal(shared.AppendRecord(nil, recs[i][j]), shared.AppendRecord(nil, want[j])) {
				t.Errorf("stream %d record %d differs", i+1, j+1)
			}
		}
	}
	if !reflect.DeepEqual(ends[0], endA) || !reflect.DeepEqual(ends[1], endB) {
		t.Errorf("ends = %+v %+v, want %+v %+v", ends[0], ends[1], endA, endB)
	}
}

// Every cut of a stream short of its end is reported as truncated, never as a complete stream.
func TestEveryTruncationIsReported(t *testing.T) {
	data, _ := writeStream(t, &Meta{ID: "00112233445566aa", Kind: "full"}, testRecords(3))
	for n := 0; n < len(data); n++ {
		_, _, _, err := readAll(data[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("stream cut after %d of %d bytes: err = %v, want ErrTruncated", n, len(data), err)
		}
	}
}

// Every single flipped bit is caught: by a frame's CRC, the magic, the end frame, or (a
// length made longer than the input) as a truncation.
func TestEveryBitFlipIsCaught(t *testing.T) {
	data, _ := writeStream(t, &Meta{ID: "00112233445566aa", Kind: "full"}, testRecords(4))
	bad := make([]byte, len(data))
	for i := range data {
		for bit := range 8 {
			copy(bad, data)
			bad[i] ^= 1 << bit
			_, _, _, err := readAll(bad)
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNotStream) && !strings.Contains(err.Error(), "format version") {
				t.Fatalf("flipping bit %d of byte %d: unexpected error %v", bit, i, err)
			}
		}
	}
}

func TestReaderRefusals(t *testing.T) {
	good, _ := writeStream(t, &Meta{ID: "00112233445566aa", Kind: "full"}, testRecords(5))
	badVersion := append([]byte{}, good...)
	binary.BigEndian.PutUint32(badVersion[len(Magic):], 2)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrTruncated, "empty"},
		{"not a stream", []byte("restic: no such file\n"), ErrNotStream, "does not start with"},
		{"garbage after a stream", append(append([]byte{}, good...), "trailing garbage"...), ErrNotStream, "after stream 1"},
		{"newer version", badVersion, nil, "format version 2"},
		{"second stream cut", append(append([]byte{}, good...), good[:100]...), ErrTruncated, "frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := readAll(tc.in)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestWriterErrorsStick(t *testing.T) {
	w, err := NewWriter(failAfter{n: 0}, &Meta{ID: "x"})
	if err != nil {
		t.Fatal(err) // buffered: nothing reached the writer yet
	}
	for _, r := range testRecords(6) {
		w.WriteRecord(r)
	}
	if _, err := w.Close(); err == nil {
		t.Fatal("Close succeeded although the underlying writer fails")
	}
}

type failAfter struct{ n int }

func (f failAfter) Write(p []byte) (int, error) { return 0, errors.New("broken pipe") }

func FuzzReader(f *testing.F) {
	good, _ := writeStream(f, &Meta{ID: "00112233445566aa", Kind: "full"}, testRecords(7))
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good...))
	f.Add(good[:40])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, in []byte) {
		metas, _, ends, err := readAll(in)
		if err == nil && len(ends) != len(metas) {
			t.Fatalf("%d streams read, %d ends", len(metas), len(ends))
		}
	})
}
