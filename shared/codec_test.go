package shared

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// codecSamples has one record of every kind with every field set.
func codecSamples() []*Record {
	at := time.Date(2026, 11, 21, 6, 30, 0, 123456789, time.UTC)
	return []*Record{
		{Header: &Header{StreamFormat: 1, ServerVersion: "9.7.4-2", ServerUUID: "u", PageSize: 16384, CheckpointLSN: 19476193, StartedAt: at, BinlogBasename: "binlog", GTIDMode: "ON", LowerCaseTableNames: 1}},
		{Header: &Header{StreamFormat: 2, ServerVersion: "9.7.4-2", ServerUUID: "u", PageSize: 16384, CheckpointLSN: 19476193, StartedAt: at, BinlogBasename: "binlog", GTIDMode: "ON", LowerCaseTableNames: 1,
			MasterKeys: []string{"INNODBKey-u-1", "MySQLReplicationKey_u_1"}, RedoEncryption: bytes.Repeat([]byte{9}, 512)}},
		{Tablespace: &Tablespace{FileIndex: 3, Path: "db/t#p#p0.ibd", SpaceID: 4294967279, Flags: 0x4029, PageSize: 8192, ZipSize: 8192, SizePages: 7, Incremental: true}},
		{Pages: &PageBatch{FileIndex: 3, FirstPage: 1 << 33, Data: bytes.Repeat([]byte{7}, 8192)}},
		{Redo: &RedoSegment{StartLSN: 19475968, Data: make([]byte, 1024)}},
		{Binlog: &BinlogChunk{Name: "binlog.000001", Offset: 4, Data: []byte("events")}},
		{File: &FileChunk{Path: "mysql/general_log.CSV", Offset: 0, Data: []byte{}}},
		{Progress: &Progress{Phase: "pages", PagesDone: 1, PagesTotal: 2, BytesDone: 3, BytesTotal: 4}},
		{Trailer: &Trailer{EndLSN: 9, CheckpointLSN: 8, MaxPageLSN: 7, BinlogFile: "binlog.000001", BinlogPos: 691, GTIDExecuted: "u:1-2",
			Tablespaces: 1, Pages: 2, PageBytes: 3, RedoBytes: 4, BinlogBytes: 5, Files: 6, Records: 7, Digest: bytes.Repeat([]byte{1}, 32), FinishedAt: at,
			Kind: KindIncremental, Method: MethodLSNScan, FallbackReason: "server restarted", BaseCheckpointLSN: 5,
			PagesInSet: 10, PagesRead: 11, BytesRead: 12, BytesSent: 13, SourceState: []byte(`{"v":1}`)}},
		// The optional tails: the incremental one alone (the binlog one then encoded as zeros),
		// and both.
		{Trailer: &Trailer{Kind: KindIncremental, Method: MethodPageTracking, Digest: []byte{2}, FinishedAt: at, SourceState: []byte("s"),
			CheckpointWaitMicros: 51000, PagesBeforeBase: 40, PagesBeforeBaseSkipped: 40}},
		{Trailer: &Trailer{Kind: KindIncremental, Method: MethodPageTracking, Digest: []byte{3}, FinishedAt: at, SourceState: []byte("s"),
			BinlogFrom: 126, BinlogWritten: 31, CheckpointWaitMicros: 7, PagesBeforeBase: 2}},
	}
}

func TestRecordCodecRoundTrip(t *testing.T) {
	for _, r := range codecSamples() {
		enc := AppendRecord(nil, r)
		got, err := DecodeRecord(enc)
		if err != nil {
			t.Fatalf("decode %q: %v", enc[0], err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("kind %q: round trip gave %+v, want %+v", enc[0], got, r)
		}
		for cut := 0; cut < len(enc); cut += 1 + len(enc)/50 {
			if r.Trailer != nil && r.Trailer.BinlogFrom != 0 && cut == len(enc)-24 {
				continue // exactly the optional incremental tail cut off: a Trailer without it (the stream's framing bounds a record)
			}
			if _, err := DecodeRecord(enc[:cut]); err == nil {
				t.Fatalf("kind %q: a record cut to %d of %d bytes decoded", enc[0], cut, len(enc))
			}
		}
	}
	if _, err := DecodeRecord([]byte{'?'}); err == nil {
		t.Fatal("an unknown kind decoded")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range codecSamples() {
		f.Add(AppendRecord(nil, r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// The encoding is canonical: what decodes re-encodes to the same bytes.
		if again := AppendRecord(nil, r); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}
