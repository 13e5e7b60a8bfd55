package shared_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/shared"
	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// fake is an in-memory Source for testing the transport. Each behaviour is a function; a nil
// one fails the call.
type fake struct {
	schema    *shared.Schema
	schemaErr error
	validate  func(ctx context.Context, cfg shared.Config) error
	backup    func(ctx context.Context, req *shared.BackupRequest) (shared.RecordStream, error)
	restore   func(ctx context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error)
	purge     func(ctx context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error)
}

var errNotFaked = errors.New("not implemented by this fake")

func (f *fake) Schema(context.Context) (*shared.Schema, error) {
	if f.schemaErr != nil {
		return nil, f.schemaErr
	}
	if f.schema != nil {
		return f.schema, nil
	}
	return testSchema(), nil
}

func (f *fake) ValidateConfig(ctx context.Context, cfg shared.Config) error {
	if f.validate == nil {
		return errNotFaked
	}
	return f.validate(ctx, cfg)
}

func (f *fake) Backup(ctx context.Context, req *shared.BackupRequest) (shared.RecordStream, error) {
	if f.backup == nil {
		return nil, errNotFaked
	}
	return f.backup(ctx, req)
}

func (f *fake) Restore(ctx context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
	if f.restore == nil {
		return nil, errNotFaked
	}
	return f.restore(ctx, req, records)
}

func (f *fake) Purge(ctx context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
	if f.purge == nil {
		return nil, errNotFaked
	}
	return f.purge(ctx, req)
}

// streamFunc is a RecordStream made of a function.
type streamFunc func() (*shared.Record, error)

func (f streamFunc) Recv() (*shared.Record, error) { return f() }

// sliceStream yields recs, then io.EOF.
func sliceStream(recs []*shared.Record) shared.RecordStream {
	i := 0
	return streamFunc(func() (*shared.Record, error) {
		if i == len(recs) {
			return nil, io.EOF
		}
		i++
		return recs[i-1], nil
	})
}

// thenErr yields recs, then err.
func thenErr(recs []*shared.Record, err error) shared.RecordStream {
	s := sliceStream(recs)
	return streamFunc(func() (*shared.Record, error) {
		r, e := s.Recv()
		if e == io.EOF {
			return nil, err
		}
		return r, e
	})
}

// readAll reads s to its end; the error is whatever ended it other than io.EOF.
func readAll(s shared.RecordStream) ([]*shared.Record, error) {
	var out []*shared.Record
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func testSchema() *shared.Schema {
	return &shared.Schema{Attributes: []shared.Attribute{
		{Name: "dsn", Type: shared.TypeString, Required: true, Sensitive: true, Description: "user:password@tcp(host:port)/ of the backup user"},
		{Name: "password", Type: shared.TypeString, Sensitive: true, Description: "password, if not in the dsn"},
		{Name: "parallel", Type: shared.TypeInt, Description: "files copied at once"},
		{Name: "verify", Type: shared.TypeBool, Description: "check pages while copying"},
		{Name: "label", Type: shared.TypeString, Description: "free text"},
	}}
}

const (
	testDSNPassword = "Sup3rS3cretPw"
	testPassword    = "hunter2hunter2"
)

func testConfig() shared.Config {
	return shared.Config{
		"dsn":      "backup:" + testDSNPassword + "@tcp(127.0.0.1:3306)/",
		"password": testPassword,
		"parallel": int64(4),
		"verify":   true,
		"label":    "nightly",
	}
}

var (
	testZone     = time.FixedZone("UTC+2", 2*60*60)
	testStarted  = time.Date(2025, 3, 14, 15, 9, 26, 535897932, testZone)
	testFinished = testStarted.Add(90*time.Second + 123)
)

// allRecords is a stream with every record variant, every field of each set to a non-zero
// value, and a trailer whose digest matches.
func allRecords() []*shared.Record {
	recs := []*shared.Record{
		{Header: &shared.Header{
			StreamFormat:        shared.StreamFormat,
			ServerVersion:       "8.4.3",
			ServerUUID:          "3e11fa47-71ca-11e1-9e33-c80aa9429562",
			PageSize:            16384,
			CheckpointLSN:       1234567,
			StartedAt:           testStarted,
			BinlogBasename:      "binlog",
			GTIDMode:            "ON",
			MasterKeys:          []string{"INNODBKey-3e11fa47-71ca-11e1-9e33-c80aa9429562-2", "MySQLReplicationKey_3e11fa47-71ca-11e1-9e33-c80aa9429562_1"},
			RedoEncryption:      bytes.Repeat([]byte{0x5a}, shared.RedoBlockSize),
			BinlogHeaderBytes:   shared.EncryptedBinlogHeaderBytes,
			LowerCaseTableNames: 1,
			Locations:           []shared.Location{{ID: 1, Role: shared.RoleUndoDir, OriginalPath: "/srv/undo"}},
			DataFilePath:        "ibdata1:12M;ibdata2:12M:autoextend",
		}},
		{Tablespace: &shared.Tablespace{
			FileIndex:   7,
			Path:        "db1/t1.ibd",
			SpaceID:     42,
			Flags:       0x4021,
			PageSize:    8192,
			ZipSize:     8192,
			SizePages:   96,
			Incremental: true,
		}},
		{Pages: &shared.PageBatch{FileIndex: 7, FirstPage: 3, Data: bytes.Repeat([]byte{0xA5, 0x5A}, 8192)}},
		{Progress: &shared.Progress{Phase: "copying pages", PagesDone: 5, PagesTotal: 96, BytesDone: 81920, BytesTotal: 1572864}},
		{Redo: &shared.RedoSegment{StartLSN: 1234432, Data: bytes.Repeat([]byte{1, 2, 3, 4}, 256)}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000003", Offset: 157, Data: []byte("binlog event bytes")}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Offset: 4096, Data: []byte("2025-03-14,row\n")}},
	}
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{
		EndLSN:                 1240000,
		CheckpointLSN:          1234567,
		MaxPageLSN:             1239000,
		BinlogFile:             "binlog.000003",
		BinlogPos:              175,
		GTIDExecuted:           "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77",
		Tablespaces:            1,
		Pages:                  2,
		PageBytes:              16384,
		RedoBytes:              1024,
		BinlogBytes:            18,
		Files:                  1,
		Records:                d.Records(),
		Digest:                 d.Sum(),
		FinishedAt:             testFinished,
		Kind:                   shared.KindIncremental,
		Method:                 shared.MethodPageTracking,
		FallbackReason:         "none",
		BaseCheckpointLSN:      1200000,
		PagesInSet:             3,
		PagesRead:              4,
		BytesRead:              65536,
		BytesSent:              16384,
		SourceState:            []byte(`{"version":1}`),
		BinlogFrom:             157,
		BinlogWritten:          18,
		CheckpointWaitMicros:   51000,
		PagesBeforeBase:        2,
		PagesBeforeBaseSkipped: 2,
	}})
}

// normalized returns a copy of recs as they arrive over gRPC: times in UTC.
func normalized(recs []*shared.Record) []*shared.Record {
	out := make([]*shared.Record, len(recs))
	for i, r := range recs {
		c := *r
		if r.Header != nil {
			h := *r.Header
			h.StartedAt = h.StartedAt.UTC()
			c.Header = &h
		}
		if r.Trailer != nil {
			t := *r.Trailer
			t.FinishedAt = t.FinishedAt.UTC()
			c.Trailer = &t
		}
		out[i] = &c
	}
	return out
}

// setField returns the struct the record's one set field points at.
func setField(t *testing.T, r *shared.Record) reflect.Value {
	t.Helper()
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); !f.IsNil() {
			return f.Elem()
		}
	}
	t.Fatalf("record has no field set")
	return reflect.Value{}
}

func TestFixtureSetsEveryField(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range allRecords() {
		s := setField(t, r)
		seen[s.Type().Name()] = true
		for i := 0; i < s.NumField(); i++ {
			if s.Field(i).IsZero() {
				t.Errorf("%s.%s is zero in the fixture: a conversion that dropped it would go unnoticed", s.Type().Name(), s.Type().Field(i).Name)
			}
		}
	}
	if n := reflect.TypeOf(shared.Record{}).NumField(); len(seen) != n {
		t.Errorf("fixture has %d record variants, Record has %d", len(seen), n)
	}
}

// conn is one host–plugin connection made by plugin.TestPluginGRPCConn.
type conn struct {
	src    shared.Source         // the dispensed client, as a host holds it
	raw    sourcev1.SourceClient // the raw gRPC client, to check status codes
	client *plugin.GRPCClient    // to close the connection
	server *plugin.GRPCServer    // to stop the plugin side
}

func connect(t *testing.T, multiplex bool, impl shared.Source) *conn {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, multiplex, map[string]plugin.Plugin{
		shared.PluginName: &shared.SourcePlugin{Impl: impl},
	})
	t.Cleanup(func() {
		server.Stop()
		_ = client.Close()
	})
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := raw.(shared.Source)
	if !ok {
		t.Fatalf("dispensed %T, not a shared.Source", raw)
	}
	return &conn{src: src, raw: sourcev1.NewSourceClient(client.Conn), client: client, server: server}
}

// both runs f over a plain and over a multiplexed connection.
func both(t *testing.T, f func(t *testing.T, multiplex bool)) {
	for _, m := range []struct {
		name      string
		multiplex bool
	}{{"plain", false}, {"multiplex", true}} {
		t.Run(m.name, func(t *testing.T) { f(t, m.multiplex) })
	}
}
