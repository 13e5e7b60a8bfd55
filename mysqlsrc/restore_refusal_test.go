package mysqlsrc_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
	"github.com/pagetrack/pagetrack/shared"
)

// countingStream hands out recs and counts the calls to Recv.
type countingStream struct {
	recs []*shared.Record
	recv int
}

func (s *countingStream) Recv() (*shared.Record, error) {
	s.recv++
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// restore --verify without server binaries fails before it reads a record or writes a file.
func TestRestoreVerifyWithoutServerFailsFirst(t *testing.T) {
	t.Setenv(mysqld.EnvBaseDir, t.TempDir()) // a basedir without bin/mysqld
	target := filepath.Join(t.TempDir(), "datadir")
	stream := &countingStream{recs: []*shared.Record{{Header: &shared.Header{StreamFormat: shared.StreamFormat, PageSize: 16384}}}}
	_, err := mysqlsrc.New(nil).Restore(context.Background(), &shared.RestoreRequest{TargetDir: target, Verify: true}, stream)
	if err == nil || !strings.Contains(err.Error(), "restore --verify needs a MySQL server binary") {
		t.Fatalf("error %v", err)
	}
	if stream.recv != 0 {
		t.Errorf("the stream was read (%d records) before the refusal", stream.recv)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the target was created (%v)", err)
	}
}

// A stream whose header names no binlog basename (binary logging off) but which carries a
// binlog is refused, and no file named ".index" (or anything else) is left.
func TestRestoreRefusesBinlogWithoutBasename(t *testing.T) {
	target := filepath.Join(t.TempDir(), "datadir")
	stream := &countingStream{recs: []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, PageSize: 16384, CheckpointLSN: 18000000, StartedAt: time.Unix(1700000000, 0).UTC()}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000003", Offset: 4, Data: []byte("binlog bytes")}},
	}}
	_, err := mysqlsrc.New(nil).Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, stream)
	if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), "a binlog chunk in a stream whose Header names no binlog base name") {
		t.Fatalf("error %v", err)
	}
	es, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		t.Errorf("%s left in the target", e.Name())
	}
}
