package mysqlsrc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// binlogOf returns a stream's binlog chunks' bytes and the offset of the first.
func binlogOf(recs []*shared.Record) (uint64, []byte) {
	var from uint64
	var data []byte
	for _, r := range recs {
		if b := r.Binlog; b != nil {
			if data == nil {
				from = b.Offset
			}
			data = append(data, b.Data...)
		}
	}
	return from, data
}

// TestEncryptedBinlogDelta: with binlog_encryption the in-use flag cannot be set in the copy;
// the file is copied as it is (the backup checks it was still open once copied), and an
// incremental still sends only the binlog written since its base, the file's bytes as the
// server wrote them. Positions do not count the 512-byte encryption header: the file is cut
// at position + 512 and a delta starts at the base's position + 512.
func TestEncryptedBinlogDelta(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{NoComponent: true, Keyring: true, Args: []string{"--binlog-encryption=ON"}})
	srv.MustExec("CREATE DATABASE test")
	srv.MustExec("CREATE TABLE test.t (id INT PRIMARY KEY, v VARCHAR(64))")
	srv.MustExec("INSERT INTO test.t VALUES (1, 'before the full')")
	src := mysqlsrc.New(hclog.NewNullLogger())
	cfg := sourcetest.Config(srv)
	cfg["keyring_file"] = srv.KeyringFile

	full, ft := sourcetest.BackupOn(t, src, cfg, nil)
	srv.MustExec("INSERT INTO test.t VALUES (2, 'before the incremental')")
	inc, it := sourcetest.BackupOn(t, src, cfg, ft)

	disk, err := os.ReadFile(filepath.Join(srv.DataDir, it.BinlogFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(disk[:4]) != "\xfdbin" {
		t.Fatalf("%s starts with %q: not an encrypted binlog", it.BinlogFile, disk[:4])
	}
	const head = shared.EncryptedBinlogHeaderBytes
	from, data := binlogOf(full)
	if from != 0 || !bytes.Equal(data, disk[:head+ft.BinlogPos]) {
		t.Errorf("the full's binlog (from %d, %d bytes) is not the file up to %d + %d", from, len(data), head, ft.BinlogPos)
	}
	if it.BinlogFile != ft.BinlogFile || it.BinlogFrom != ft.BinlogPos || it.BinlogPos <= ft.BinlogPos {
		t.Fatalf("incremental binlog %s from %d to %d, base %s at %d: want a delta from the base's position", it.BinlogFile, it.BinlogFrom, it.BinlogPos, ft.BinlogFile, ft.BinlogPos)
	}
	from, data = binlogOf(inc)
	if from != head+ft.BinlogPos || !bytes.Equal(data, disk[head+ft.BinlogPos:head+it.BinlogPos]) || it.BinlogWritten != it.BinlogPos-ft.BinlogPos {
		t.Errorf("the incremental's binlog (from %d, %d bytes, %d written) is not the file from %d to %d (+ the %d-byte header)", from, len(data), it.BinlogWritten, ft.BinlogPos, it.BinlogPos, head)
	}

	// The chain's merge joins the delta onto the full's copy, and a restore with the keyring
	// writes the file as the server has it up to the incremental's position.
	target := filepath.Join(t.TempDir(), "restored")
	req := &shared.RestoreRequest{TargetDir: target, KeyringFile: srv.KeyringFile}
	if _, err := src.Restore(context.Background(), req, streamtest.Stream(sourcetest.MergeChain(t, full, inc))); err != nil {
		t.Fatal(err)
	}
	restored, err := os.ReadFile(filepath.Join(target, it.BinlogFile))
	if err != nil || !bytes.Equal(restored, disk[:head+it.BinlogPos]) {
		t.Errorf("restored %s (%d bytes, %v) is not the server's file up to %d + %d", it.BinlogFile, len(restored), err, head, it.BinlogPos)
	}
}
