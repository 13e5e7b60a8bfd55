package streamtest

import (
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// Small returns a small stream that passes shared.StreamChecker and uses every record kind:
// two files (one compressed, 1 KiB pages, the other of 4 KiB pages and grown during the
// backup, its batches out of order), redo over
// three blocks in two segments, a binlog in two chunks, a file in two chunks and an empty
// one, and a Progress record. Its bytes are fixed: shared's known-answer test pins them. It is
// not a server's backup; tests that need one take it from a real server.
func Small() []*shared.Record { return SmallFormat(shared.StreamFormat) }

// SmallFormat is Small as stream format format writes it: from format 2 the Header declares a
// Location and the system tablespace's data file path, and the compressed file lies in that
// Location.
func SmallFormat(format uint32) []*shared.Record {
	const pageSize, zip = 4096, 1024
	const checkpoint = 1_000_300 // block 999_936..1_000_448
	at := time.Date(2026, 12, 5, 1, 30, 0, 0, time.UTC)
	recs := []*shared.Record{
		{Progress: &shared.Progress{Phase: "starting"}},
		{Header: &shared.Header{
			StreamFormat: format, ServerVersion: "9.7.4", ServerUUID: "6ccd780c-baba-1026-9564-5b8c656024db",
			PageSize: pageSize, CheckpointLSN: checkpoint, StartedAt: at, BinlogBasename: "binlog",
			GTIDMode: "ON", LowerCaseTableNames: 0,
		}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", SpaceID: 0, Flags: 0x4800, PageSize: pageSize, SizePages: 1}},
		{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "db/z.ibd", SpaceID: 7, Flags: 0x4a5, PageSize: zip, ZipSize: zip, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: 0, Data: pattern(2*zip, 1)}},
		{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 0, Data: pattern(pageSize, 3)}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", SpaceID: 0, Flags: 0x4800, PageSize: pageSize, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 1, Data: pattern(pageSize, 4)}},
		{Progress: &shared.Progress{Phase: "pages", PagesDone: 4, PagesTotal: 4, BytesDone: 2*pageSize + 2*zip, BytesTotal: 2*pageSize + 2*zip}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Offset: 0, Data: pattern(100, 5)}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Offset: 100, Data: pattern(28, 6)}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSM", Offset: 0, Data: nil}},
		{Redo: &shared.RedoSegment{StartLSN: 999_936, Data: pattern(2*shared.RedoBlockSize, 7)}},
		{Redo: &shared.RedoSegment{StartLSN: 999_936 + 2*shared.RedoBlockSize, Data: pattern(shared.RedoBlockSize, 8)}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000002", Offset: 0, Data: pattern(126, 9)}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000002", Offset: 126, Data: pattern(31, 10)}},
	}
	if format >= 2 {
		h := recs[1].Header
		h.Locations = []shared.Location{{ID: 1, Role: shared.RoleInnoDBDirectory, OriginalPath: "/srv/mysql-ext"}}
		h.DataFilePath = "ibdata1:12M:autoextend"
		recs[3].Tablespace.Path = shared.ExternalPath(1, "db/z.ibd")
	}
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{
		EndLSN: 999_936 + 2*shared.RedoBlockSize + 100, CheckpointLSN: checkpoint, MaxPageLSN: 1_000_200,
		BinlogFile: "binlog.000002", BinlogPos: 157, GTIDExecuted: "6ccd780c-baba-1026-9564-5b8c656024db:1-42",
		Tablespaces: 2, Pages: 4, PageBytes: 2*pageSize + 2*zip, RedoBytes: 3 * shared.RedoBlockSize,
		BinlogBytes: 157, Files: 2, Records: d.Records(), Digest: d.Sum(), FinishedAt: at.Add(3 * time.Second),
		Kind: shared.KindFull, Method: shared.MethodFull, PagesRead: 4, BytesRead: 2*pageSize + 2*zip + 256,
		BytesSent: 2*pageSize + 2*zip + 3*shared.RedoBlockSize + 157 + 128, SourceState: []byte(`{"version":1}`),
	}})
}

// pattern is n printable bytes that differ with seed (printable keeps the committed fuzz
// corpus, which quotes them, small).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i*7))%26
	}
	return b
}

// SmallEncrypted is SmallFormat(format) of an encrypted server: its Header carries the
// encryption tail (two keyring ids, a redo encryption block, a 512-byte binlog header) and
// its binlog file starts with that header, which the Trailer's position does not count. Its
// bytes are fixed: shared's known-answer test pins them.
func SmallEncrypted(format uint32) []*shared.Record {
	recs := SmallFormat(format)
	out := make([]*shared.Record, 0, len(recs))
	for _, r := range recs {
		r = Clone(r)
		switch {
		case r.Header != nil:
			r.Header.MasterKeys = []string{
				"INNODBKey-6ccd780c-baba-1026-9564-5b8c656024db-2",
				"MySQLReplicationKey_6ccd780c-baba-1026-9564-5b8c656024db_1",
			}
			r.Header.RedoEncryption = pattern(shared.RedoBlockSize, 11)
			r.Header.BinlogHeaderBytes = shared.EncryptedBinlogHeaderBytes
		case r.Binlog != nil && r.Binlog.Offset == 0:
			r.Binlog.Data = append(pattern(shared.EncryptedBinlogHeaderBytes, 12), r.Binlog.Data...)
		case r.Binlog != nil:
			r.Binlog.Offset += shared.EncryptedBinlogHeaderBytes
		case r.Trailer != nil:
			r.Trailer.BinlogBytes += shared.EncryptedBinlogHeaderBytes
			r.Trailer.BytesSent += shared.EncryptedBinlogHeaderBytes
		}
		out = append(out, r)
	}
	return Reseal(out)
}
