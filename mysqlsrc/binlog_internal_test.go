package mysqlsrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/shared"
)

// binlogTestFile writes a plain binlog-shaped file: magic, a Format_description header with
// flags, then filler.
func binlogTestFile(t *testing.T, dir, name string, flags byte, size int) []byte {
	t.Helper()
	data := bytes.Repeat([]byte{'e'}, size)
	copy(data, binlogMagic)
	data[4+4] = binlogFDEType
	data[binlogFlagsOffset], data[binlogFlagsOffset+1] = flags, 0
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// sentBinlog runs sendBinlog on dir's file and returns the chunks and what it reports.
func sentBinlog(t *testing.T, dir string, base *sourceState, end coordinates) ([]*shared.BinlogChunk, binlogCopy) {
	t.Helper()
	out := make(chan *shared.Record, 64)
	b := &backup{src: &Source{log: hclog.NewNullLogger()}, o: &options{datadir: dir}, out: out, digest: shared.NewDigester(),
		info: &serverInfo{datadir: dir, binlogBasename: filepath.Join(dir, "binlog")}}
	bc, err := b.sendBinlog(context.Background(), base, end, newBackupKeys(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	close(out)
	var chunks []*shared.BinlogChunk
	for r := range out {
		chunks = append(chunks, r.Binlog)
	}
	return chunks, bc
}

// TestBinlogCopyKeepsItOpen: a file the server closed after the end point (in-use flag
// cleared in place) is copied with the flag set, as it was at the end point, and the state's
// digest is of that copy.
func TestBinlogCopyKeepsItOpen(t *testing.T) {
	dir := t.TempDir()
	data := binlogTestFile(t, dir, "binlog.000001", 0, 300)
	chunks, bc := sentBinlog(t, dir, nil, coordinates{BinlogFile: "binlog.000001", BinlogPos: 200})
	if len(chunks) != 1 || chunks[0].Offset != 0 || len(chunks[0].Data) != 200 || bc.from != 0 || bc.sent != 200 {
		t.Fatalf("sent %d chunks, from %d, %d bytes", len(chunks), bc.from, bc.sent)
	}
	want := append([]byte(nil), data[:200]...)
	want[binlogFlagsOffset] |= binlogInUseFlag
	if !bytes.Equal(chunks[0].Data, want) {
		t.Error("the copy is not the file up to the position with LOG_EVENT_BINLOG_IN_USE_F set")
	}
	if sum := sha256.Sum256(want); !bytes.Equal(bc.sha256, sum[:]) {
		t.Error("the digest is not of the copy")
	}
}

// TestBinlogDeltaStart: only the bytes after the base's position are sent when the file still
// hashes as the base recorded; a rewritten file, another file or a state without a digest
// send the whole file.
func TestBinlogDeltaStart(t *testing.T) {
	dir := t.TempDir()
	binlogTestFile(t, dir, "binlog.000001", binlogInUseFlag, 500)
	_, first := sentBinlog(t, dir, nil, coordinates{BinlogFile: "binlog.000001", BinlogPos: 200})
	base := &sourceState{BinlogFile: "binlog.000001", BinlogPos: 200, BinlogSHA256: first.sha256}
	end := coordinates{BinlogFile: "binlog.000001", BinlogPos: 450}

	chunks, bc := sentBinlog(t, dir, base, end)
	if len(chunks) != 1 || chunks[0].Offset != 200 || len(chunks[0].Data) != 250 || bc.from != 200 || bc.written != 250 {
		t.Fatalf("delta: %d chunks, from %d, %d sent, %d written", len(chunks), bc.from, bc.sent, bc.written)
	}
	_, whole := sentBinlog(t, dir, nil, end)
	if !bytes.Equal(bc.sha256, whole.sha256) {
		t.Error("a delta's digest is not that of the whole file up to its position")
	}
	if chunks, bc := sentBinlog(t, dir, base, coordinates{BinlogFile: "binlog.000001", BinlogPos: 200}); len(chunks) != 0 || bc.from != 200 {
		t.Errorf("nothing written since the base: %d chunks from %d", len(chunks), bc.from)
	}

	for name, tc := range map[string]struct{ base sourceState }{
		"rewritten":    {*base},
		"no digest":    {sourceState{BinlogFile: "binlog.000001", BinlogPos: 200}},
		"another file": {sourceState{BinlogFile: "binlog.000000", BinlogPos: 200, BinlogSHA256: first.sha256}},
	} {
		t.Run(name, func(t *testing.T) {
			binlogTestFile(t, dir, "binlog.000001", binlogInUseFlag, 500)
			if name == "rewritten" {
				data := binlogTestFile(t, dir, "binlog.000001", binlogInUseFlag, 500)
				data[150] = 'x'
				if err := os.WriteFile(filepath.Join(dir, "binlog.000001"), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			chunks, bc := sentBinlog(t, dir, &tc.base, end)
			if len(chunks) == 0 || chunks[0].Offset != 0 || bc.from != 0 || bc.sent != 450 {
				t.Errorf("sent from %d, %d bytes; want the whole file up to 450", bc.from, bc.sent)
			}
		})
	}
}

// TestBinlogShorterThanItsPosition: a file shorter than the position log_status gave fails
// the backup.
func TestBinlogShorterThanItsPosition(t *testing.T) {
	dir := t.TempDir()
	binlogTestFile(t, dir, "binlog.000001", binlogInUseFlag, 100)
	b := &backup{src: &Source{log: hclog.NewNullLogger()}, o: &options{datadir: dir}, out: make(chan *shared.Record, 8), digest: shared.NewDigester(),
		info: &serverInfo{datadir: dir, binlogBasename: filepath.Join(dir, "binlog")}}
	_, err := b.sendBinlog(context.Background(), nil, coordinates{BinlogFile: "binlog.000001", BinlogPos: 150}, newBackupKeys(nil), false)
	if err == nil || !strings.Contains(err.Error(), "up to the position 150 the server reported") {
		t.Fatalf("error = %v, want one naming the position", err)
	}
}
