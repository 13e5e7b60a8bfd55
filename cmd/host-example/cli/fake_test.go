package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// fakeSource is an in-memory shared.Source: Backup sends a scripted stream, Restore records
// what it is sent. It tests the host, not a database.
type fakeSource struct {
	mu sync.Mutex

	// Backup sends records, then endErr (io.EOF when nil). When cancelAt > 0, onCancelAt
	// runs before record cancelAt is sent and the stream then waits for ctx to end.
	records    []*shared.Record
	endErr     error
	backupErr  error // returned by Backup itself
	cancelAt   int
	onCancelAt func()
	// delay is slept before each record is sent.
	delay time.Duration

	validate func(cfg shared.Config) error

	// model, when set, makes Backup back up an in-memory datadir instead of sending records.
	model *datadirModel
	// purges records the Purge requests.
	purges []*shared.PurgeRequest

	// Restore reads at most restoreLimit records (all when 0) and returns result.
	restoreLimit int
	result       *shared.RestoreResult

	// noPageCheck makes CheckPages decline (ErrUnsupported); pagesChecked counts the pages
	// it checked.
	noPageCheck  bool
	pagesChecked int

	// archiveSegs are what Archive sends (nil: the fake cannot archive); archiveFrom the
	// points the runs started from.
	archiveSegs []*shared.ArchiveSegment
	archiveFrom []shared.ArchivePoint

	gotConfig  shared.Config
	restoreReq *shared.RestoreRequest
	restored   [][]byte // encodings of the records Restore received
}

var (
	_ shared.Source      = (*fakeSource)(nil)
	_ shared.PageChecker = (*fakeSource)(nil)
)

// state returns what the fake was given: the last backup's config, the last restore's
// request and records.
func (f *fakeSource) state() (shared.Config, *shared.RestoreRequest, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gotConfig, f.restoreReq, f.restored
}

func fakeSchema() *shared.Schema {
	return &shared.Schema{Attributes: []shared.Attribute{
		{Name: "dsn", Type: shared.TypeString, Required: true, Sensitive: true, Description: "server DSN"},
		{Name: "datadir", Type: shared.TypeString, Required: true, Description: "server datadir"},
		{Name: "parallel", Type: shared.TypeInt, Description: "reader threads"},
		{Name: "check", Type: shared.TypeBool, Description: "check pages"},
	}}
}

func (f *fakeSource) Schema(context.Context) (*shared.Schema, error) { return fakeSchema(), nil }

func (f *fakeSource) ValidateConfig(_ context.Context, cfg shared.Config) error {
	if err := fakeSchema().Validate(cfg); err != nil {
		return err
	}
	if f.validate != nil {
		return f.validate(cfg)
	}
	return nil
}

func (f *fakeSource) Backup(ctx context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
	f.mu.Lock()
	f.gotConfig = req.Config
	f.mu.Unlock()
	if f.backupErr != nil {
		return nil, f.backupErr
	}
	if f.model != nil {
		recs, err := f.model.backup(req.Base)
		if err != nil {
			return nil, err
		}
		return &fakeStream{ctx: ctx, f: f, recs: recs}, nil
	}
	return &fakeStream{ctx: ctx, f: f, recs: f.records}, nil
}

// CheckPages is the fake's page check: a page that starts with "bad page" fails.
func (f *fakeSource) CheckPages(_ context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noPageCheck {
		return nil, fmt.Errorf("%w: the fake checks no pages", shared.ErrUnsupported)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	res := &shared.CheckPagesResult{}
	size := int(req.PageSize)
	for i := 0; i*size < len(req.Pages); i++ {
		f.pagesChecked++
		if bytes.HasPrefix(req.Pages[i*size:], []byte("bad page")) {
			res.Failures = append(res.Failures, shared.PageFailure{Index: uint32(i), Reason: "fake: a bad page"})
		}
	}
	return res, nil
}

func (f *fakeSource) Purge(_ context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purges = append(f.purges, req)
	return &shared.PurgeResult{PurgedUpTo: req.FloorLSN, Message: "fake: nothing to purge"}, nil
}

type fakeStream struct {
	ctx  context.Context
	f    *fakeSource
	recs []*shared.Record
	i    int
}

func (s *fakeStream) Recv() (*shared.Record, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	if s.f.cancelAt > 0 && s.i+1 == s.f.cancelAt {
		s.f.onCancelAt()
		select {
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, errors.New("fake: the host did not cancel the backup")
		}
	}
	if s.f.delay > 0 {
		time.Sleep(s.f.delay)
	}
	if s.i == len(s.recs) {
		if s.f.endErr != nil {
			return nil, s.f.endErr
		}
		return nil, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

func (f *fakeSource) Restore(ctx context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restoreReq = req
	f.restored = nil
	for n := 0; f.restoreLimit == 0 || n < f.restoreLimit; n++ {
		rec, err := records.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fake restore: reading the stream: %w", err)
		}
		f.restored = append(f.restored, shared.AppendRecord(nil, rec))
	}
	if f.result != nil {
		return f.result, nil
	}
	return &shared.RestoreResult{Files: 2, Pages: 4, Bytes: 4 * 16384}, nil
}

// validStream is a complete backup stream with Progress records among the others and a
// Trailer whose digest matches: one the stream kernel accepts (TestFakeStreamsPassTheKernel).
func validStream() []*shared.Record {
	page := bytes.Repeat([]byte("page"), 16384) // 4 pages of 16 KiB
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3", ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562", PageSize: 16384, CheckpointLSN: 18000000, StartedAt: time.Unix(1700000000, 0).UTC(), BinlogBasename: "binlog", GTIDMode: "ON"}},
		{Progress: &shared.Progress{Phase: "copying pages", PagesTotal: 4}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", SpaceID: 0, PageSize: 16384, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 0, Data: page[:2*16384]}},
		{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "shop/orders.ibd", SpaceID: 7, PageSize: 16384, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: 0, Data: page[2*16384:]}},
		{Progress: &shared.Progress{Phase: "copying pages", PagesDone: 4, PagesTotal: 4}},
		// Redo from the checkpoint's block to the end of the end point's block.
		{Redo: &shared.RedoSegment{StartLSN: 18000000 / 512 * 512, Data: bytes.Repeat([]byte{7}, 1536)}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000003", Offset: 0, Data: bytes.Repeat([]byte("binlog "), 1234)[:1234]}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Data: []byte{}}},
	}
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{
		EndLSN: 18001200, CheckpointLSN: 18000000, MaxPageLSN: 18001000,
		BinlogFile: "binlog.000003", BinlogPos: 1234,
		GTIDExecuted: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
		Tablespaces:  2, Pages: 4, PageBytes: 4 * 16384, RedoBytes: 1536, BinlogBytes: 1234, Files: 1,
		Records: d.Records(), Digest: d.Sum(), FinishedAt: time.Unix(1700000100, 0).UTC(),
		Kind: shared.KindFull, Method: shared.MethodFull,
	}})
}

// stored is what a host must store and hand back on restore: the stream without Progress.
func stored(recs []*shared.Record) [][]byte {
	var out [][]byte
	for _, r := range recs {
		if r.Progress == nil {
			out = append(out, shared.AppendRecord(nil, r))
		}
	}
	return out
}
