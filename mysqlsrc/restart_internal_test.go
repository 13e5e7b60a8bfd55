package mysqlsrc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeBinlogHeader(t *testing.T, dir, name string, created uint32) {
	t.Helper()
	head := make([]byte, binlogCreatedOffset+4+20)
	copy(head, binlogMagic)
	head[4+4] = binlogFDEType
	binary.LittleEndian.PutUint32(head[binlogCreatedOffset:], created)
	if err := os.WriteFile(filepath.Join(dir, name), head, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRestartReason(t *testing.T) {
	base := &sourceState{ServerStarted: 1000, ConnectionID: 50, BinlogFile: "binlog.000007"}
	same := serverIdentity{started: 1001, connectionID: 60}
	cases := []struct {
		name    string
		now     serverIdentity
		files   map[string]uint32 // binlog files after the base's, with their created field
		current string
		want    string // "" = no restart
	}{
		{"same server, rotated binlogs", same, map[string]uint32{"binlog.000008": 0, "binlog.000009": 0}, "binlog.000009", ""},
		{"same binlog file", same, nil, "binlog.000007", ""},
		{"start time moved", serverIdentity{started: 1003, connectionID: 60}, nil, "binlog.000007", "it started at"},
		{"connection ids began again", serverIdentity{started: 1000, connectionID: 12}, nil, "binlog.000007", "connection ids began again"},
		{"a binlog opened at a start", same, map[string]uint32{"binlog.000008": 0, "binlog.000009": 1700000000}, "binlog.000009", "binlog.000009 was opened by a server start"},
		{"a missing binlog hides what happened", same, map[string]uint32{"binlog.000009": 0}, "binlog.000009", "cannot show"},
		{"binlog numbering went backwards", same, nil, "binlog.000003", "cannot show"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, created := range c.files {
				writeBinlogHeader(t, dir, name, created)
			}
			got := restartReason(base, c.now, dir, c.current, nil)
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("restartReason = %q, want %q", got, c.want)
			}
		})
	}
}
