package mysqlsrc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
)

// Detecting a server restart since the base. After a kill -9 the tracked page list was
// measured to miss pages without any sign from the tracking API, so an incremental must prove
// there was no restart before it trusts the list. now − Uptime alone cannot: it has one-second
// granularity, and a crash moments after a backup moves it by about as much as its jitter.
// Three signals are combined, any one of which means "restarted":
//
//   - the binary log: at every start the server opens a new binlog file whose
//     Format_description event carries a non-zero "created" timestamp (rotations write 0), so
//     any such file after the base's binlog file — or a gap in the numbering, which hides one —
//     means a restart;
//   - connection ids start again from 1 at every start, so an id below the base's means one;
//   - the start time (now − Uptime) moved by more than its jitter.

// serverIdentity is what a backup records to recognise the same running server later.
type serverIdentity struct {
	started      int64  // Unix seconds, server clock
	connectionID uint64 // of a connection opened during the backup
}

func readServerIdentity(ctx context.Context, q querier) (serverIdentity, error) {
	var id serverIdentity
	var err error
	if id.started, err = serverStarted(ctx, q); err != nil {
		return id, err
	}
	if err := q.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id.connectionID); err != nil {
		return id, fmt.Errorf("CONNECTION_ID(): %w", err)
	}
	return id, nil
}

// restartReason says why the server must be taken to have restarted since base, or "".
//
// ring (nil without keyring_file) opens encrypted binlog files.
func restartReason(base *sourceState, now serverIdentity, binlogDir, binlogFileNow string, ring *keyring.Keyring) string {
	when := func(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
	if d := now.started - base.ServerStarted; d > 1 || d < -1 {
		return fmt.Sprintf("the server restarted since the base (it started at %s, the base saw a start at %s)", when(now.started), when(base.ServerStarted))
	}
	if now.connectionID < base.ConnectionID {
		return fmt.Sprintf("the server restarted since the base (connection ids began again: %d now, %d at the base)", now.connectionID, base.ConnectionID)
	}
	if base.BinlogFile != "" && binlogFileNow != "" && binlogDir != "" {
		if reason := binlogRestart(binlogDir, base.BinlogFile, binlogFileNow, ring); reason != "" {
			return reason
		}
	}
	return ""
}

// binlogRestart checks the binlog files after the base's for one opened at a server start.
func binlogRestart(dir, baseFile, nowFile string, ring *keyring.Keyring) string {
	stem, first, ok1 := splitBinlogName(baseFile)
	stemNow, last, ok2 := splitBinlogName(nowFile)
	if !ok1 || !ok2 || stem != stemNow || last < first {
		return fmt.Sprintf("the binary log cannot show that the server did not restart since the base (base file %s, now %s)", baseFile, nowFile)
	}
	width := len(baseFile) - len(stem) - 1
	for n := first + 1; n <= last; n++ {
		name := fmt.Sprintf("%s.%0*d", stem, width, n)
		created, err := binlogCreatedWith(filepath.Join(dir, name), ring)
		if err != nil {
			return fmt.Sprintf("the binary log cannot show that the server did not restart since the base (%s: %v)", name, err)
		}
		if created != 0 {
			return fmt.Sprintf("the server restarted since the base (binary log %s was opened by a server start at %s)", name, time.Unix(int64(created), 0).UTC().Format(time.RFC3339))
		}
	}
	return ""
}

func splitBinlogName(name string) (stem string, n uint64, ok bool) {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(name[dot+1:], 10, 64)
	return name[:dot], n, err == nil
}

// Binlog file layout: a 4-byte magic, then the Format_description event: a 19-byte common
// header, binlog_version (2 bytes), server_version (50 bytes), created (u32 little-endian).
const (
	binlogMagic         = "\xfebin"
	binlogFDEType       = 15
	binlogCreatedOffset = 4 + 19 + 2 + 50
)

// binlogCreated returns the "created" field of a binlog file's Format_description event.
func binlogCreated(path string) (uint32, error) { return binlogCreatedWith(path, nil) }

// binlogCreatedWith is binlogCreated that also reads encrypted binlog files, with the
// replication key from ring.
func binlogCreatedWith(path string, ring *keyring.Keyring) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, binlogEncryptionHeaderSize+binlogCreatedOffset+4)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("reading its header: %w", err)
	}
	head = head[:n]
	if len(head) >= 4 && string(head[:4]) == binlogEncryptedMagic {
		if head, err = decryptBinlogHead(head, ring); err != nil {
			return 0, err
		}
	}
	if len(head) < binlogCreatedOffset+4 {
		return 0, fmt.Errorf("reading its header: %w", io.ErrUnexpectedEOF)
	}
	if string(head[:4]) != binlogMagic || head[4+4] != binlogFDEType {
		return 0, fmt.Errorf("not a binary log file")
	}
	return binary.LittleEndian.Uint32(head[binlogCreatedOffset:]), nil
}
