// Command fakeplugin is a pagetrack source plugin for testing the host's plugin loading: it
// serves an in-memory source over go-plugin, with no database behind it.
//
// FAKEPLUGIN_MODE selects its behaviour: "" sends a complete backup stream; "crash" exits in
// the middle of a backup, as a plugin that dies does.
package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pagetrack/pagetrack/shared"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "pagetrack-fake", Output: os.Stderr, JSONFormat: true})
	shared.Serve(&source{log: logger, mode: os.Getenv("FAKEPLUGIN_MODE")}, logger)
}

type source struct {
	log  hclog.Logger
	mode string
}

var schema = &shared.Schema{Attributes: []shared.Attribute{
	{Name: "dsn", Type: shared.TypeString, Required: true, Sensitive: true},
	{Name: "datadir", Type: shared.TypeString, Required: true},
}}

func (s *source) Schema(context.Context) (*shared.Schema, error) { return schema, nil }

func (s *source) ValidateConfig(_ context.Context, cfg shared.Config) error {
	return schema.Validate(cfg)
}

func stream() []*shared.Record {
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3-fake", PageSize: 16384, CheckpointLSN: 100, StartedAt: time.Now().UTC()}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 16384, SizePages: 4}},
		{Pages: &shared.PageBatch{FileIndex: 0, Data: bytes.Repeat([]byte{1}, 4*16384)}},
		{Redo: &shared.RedoSegment{StartLSN: 0, Data: make([]byte, 512)}},
	}
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{EndLSN: 200, CheckpointLSN: 100, Pages: 4, Records: d.Records(), Digest: d.Sum()}})
}

type sliceStream struct {
	recs []*shared.Record
	i    int
	mode string
}

func (s *sliceStream) Recv() (*shared.Record, error) {
	if s.mode == "crash" && s.i == 2 {
		os.Exit(3)
	}
	if s.i == len(s.recs) {
		return nil, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

func (s *source) Backup(_ context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
	s.log.Info("fake backup starting", "datadir", req.Config.String("datadir", ""))
	return &sliceStream{recs: stream(), mode: s.mode}, nil
}

func (s *source) Restore(_ context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
	res := &shared.RestoreResult{}
	for {
		rec, err := records.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Pages != nil {
			res.Pages += uint64(len(rec.Pages.Data) / 16384)
			res.Bytes += uint64(len(rec.Pages.Data))
		}
		if rec.Tablespace != nil {
			res.Files++
		}
	}
	if err := os.MkdirAll(req.TargetDir, 0o700); err != nil {
		return nil, err
	}
	s.log.Info("fake restore done", "target", req.TargetDir)
	return res, nil
}
