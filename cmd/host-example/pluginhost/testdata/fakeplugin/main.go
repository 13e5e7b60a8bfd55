// Command fakeplugin is a pagetrack source plugin for testing the host's plugin loading: it
// serves an in-memory source over go-plugin, with no database behind it.
//
// FAKEPLUGIN_MODE selects its behaviour: "" sends a complete backup stream; "crash" exits in
// the middle of a backup, as a plugin that dies does. Once a restore has written pages,
// "restore-fail" returns an error, "restore-kill" sends itself SIGKILL, and "restore-block"
// logs "fake restore blocking" and waits for the host to stop it. FAKEPLUGIN_PIDFILE, when
// set, names a file the plugin writes its pid into.
//
// Its datadir is one file, ibdata1, of four 16 KiB pages: a full backup sends them all (page p
// filled with byte 1), an incremental sends page 2 only (filled with byte 2). Restore writes
// the pages it is sent into TargetDir/ibdata1, after checking the stream's digest.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pagetrack/pagetrack/shared"
)

func main() {
	if f := os.Getenv("FAKEPLUGIN_PIDFILE"); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
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

func stream(base []byte) []*shared.Record {
	checkpoint, kind, method := uint64(100), shared.KindFull, shared.MethodFull
	var baseLSN uint64
	ts := &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 16384, SizePages: 4}
	pages := &shared.PageBatch{FileIndex: 0, Data: bytes.Repeat([]byte{1}, 4*16384)}
	if base != nil {
		baseLSN = binary.BigEndian.Uint64(base)
		checkpoint, kind, method = baseLSN+100, shared.KindIncremental, shared.MethodPageTracking
		ts.Incremental = true
		pages = &shared.PageBatch{FileIndex: 0, FirstPage: 2, Data: bytes.Repeat([]byte{2}, 16384)}
	}
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3-fake", PageSize: 16384, CheckpointLSN: checkpoint, StartedAt: time.Now().UTC()}},
		{Tablespace: ts},
		{Pages: pages},
		{Redo: &shared.RedoSegment{StartLSN: 0, Data: make([]byte, 512)}},
	}
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	state := binary.BigEndian.AppendUint64(nil, checkpoint)
	return append(recs, &shared.Record{Trailer: &shared.Trailer{
		EndLSN: checkpoint + 100, CheckpointLSN: checkpoint, Pages: uint64(len(pages.Data) / 16384), Records: d.Records(), Digest: d.Sum(),
		Tablespaces: 1, PageBytes: uint64(len(pages.Data)), RedoBytes: 512, // the counts the stream kernel compares
		Kind: kind, Method: method, BaseCheckpointLSN: baseLSN, SourceState: state,
	}})
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
	s.log.Info("fake backup starting", "datadir", req.Config.String("datadir", ""), "incremental", req.Base != nil)
	var base []byte
	if req.Base != nil {
		if len(req.Base.State) != 8 {
			return nil, shared.InvalidConfig(fmt.Sprintf("base state of %d bytes, want 8", len(req.Base.State)))
		}
		base = req.Base.State
	}
	return &sliceStream{recs: stream(base), mode: s.mode}, nil
}

func (s *source) Purge(_ context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
	return &shared.PurgeResult{Message: "the fake keeps no change tracking"}, nil
}

func (s *source) Restore(ctx context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
	res := &shared.RestoreResult{}
	if err := os.MkdirAll(req.TargetDir, 0o700); err != nil {
		return nil, err
	}
	d := shared.NewDigester()
	var file *os.File
	defer func() {
		if file != nil {
			file.Close()
		}
	}()
	trailer := false
	for {
		rec, err := records.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Trailer != nil {
			if err := d.Check(rec.Trailer); err != nil {
				return nil, err
			}
			trailer = true
			continue
		}
		d.Add(rec)
		if rec.Pages != nil {
			if file == nil {
				return nil, errors.New("pages before their tablespace")
			}
			if _, err := file.WriteAt(rec.Pages.Data, int64(rec.Pages.FirstPage)*16384); err != nil {
				return nil, err
			}
			res.Pages += uint64(len(rec.Pages.Data) / 16384)
			res.Bytes += uint64(len(rec.Pages.Data))
			if err := s.failRestore(ctx); err != nil {
				return nil, err
			}
		}
		if ts := rec.Tablespace; ts != nil {
			if ts.Incremental {
				return nil, fmt.Errorf("the stream holds only the changed pages of %s", ts.Path)
			}
			if file == nil {
				if file, err = os.Create(filepath.Join(req.TargetDir, filepath.Base(ts.Path))); err != nil {
					return nil, err
				}
				res.Files++
			}
			if err := file.Truncate(int64(ts.SizePages) * 16384); err != nil {
				return nil, err
			}
		}
	}
	if !trailer {
		return nil, shared.ErrNoTrailer
	}
	s.log.Info("fake restore done", "target", req.TargetDir)
	return res, nil
}

// failRestore fails a restore that has written pages as FAKEPLUGIN_MODE says.
func (s *source) failRestore(ctx context.Context) error {
	switch s.mode {
	case "restore-fail":
		return errors.New("fake restore failure after writing pages")
	case "restore-kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "restore-block":
		s.log.Info("fake restore blocking")
		<-ctx.Done()
		select {} // as a plugin stuck in a write would: only a kill ends it
	}
	return nil
}
