package mysqlsrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/pagetrack/pagetrack/shared"
)

// The binary log a backup sends: the file log_status named at the end point, cut at its
// position P, exactly as it stood at that moment. Two things can differ on disk by the time
// it is read (the backup lock does not hold binlog rotation):
//
//   - the server closed the file since (rotation by max_binlog_size or FLUSH, a shutdown): it
//     then cleared LOG_EVENT_BINLOG_IN_USE_F in the file's Format_description event in place,
//     and appended a Rotate event after P. The cut drops the Rotate; the flag is put back in
//     the copy, because at P the file was open, and a restored server runs binlog crash
//     recovery (which decides every prepared and XA PREPAREd transaction) only when the last
//     file carries it. The flag is outside the event's CRC32 (mysqlsrc/doc.go), so nothing
//     else changes;
//   - the file was purged: the backup fails.
//
// An encrypted binlog (binlog_encryption) cannot have its flag set back: it is copied as it
// is, and the backup fails if the server closed the file before the copy was done
// (checkStillOpen). Its key must be one the Header lists, and the server's positions do not
// count its 512-byte encryption header (shared.Header.BinlogHeaderBytes): the file is cut at
// position + 512, and a delta starts at the base's position + 512.
//
// An incremental whose base ended in the same file sends only the bytes from the base's
// position on (a binlog delta, shared.Trailer.BinlogFrom), once the file's first bytes up to
// that position hash to what the base recorded (sourceState.BinlogSHA256): a file rewritten
// since (RESET BINARY LOGS AND GTIDS reused its name) is sent whole. Sending only the delta
// costs reading the prefix again, locally; what crosses to the host is the binlog written
// since the base.

// binlogInUseFlag is LOG_EVENT_BINLOG_IN_USE_F, at binlogFlagsOffset in a plain binlog file:
// the flags of the Format_description event's common header (4-byte magic, then timestamp 4,
// type 1, server id 4, size 4, log_pos 4, flags 2 little-endian).
const (
	binlogInUseFlag   = 0x1
	binlogFlagsOffset = 4 + 17
)

// binlogCopy is what sendBinlog sent and what the next incremental checks against.
type binlogCopy struct {
	from    uint64 // first offset sent
	sent    uint64 // bytes sent
	written uint64 // binlog written since the base's position (0 for a full backup)
	sha256  []byte // of the file's bytes 0..P as the copy has them (the in-use flag set)
}

// markOpen sets the in-use flag in head, the file's first bytes, when head holds a plain
// binlog's Format_description event header; it reports whether it could.
func markOpen(head []byte) bool {
	if len(head) < binlogFlagsOffset+2 || string(head[:4]) != binlogMagic || head[4+4] != binlogFDEType {
		return false
	}
	head[binlogFlagsOffset] |= binlogInUseFlag
	return true
}

// sendBinlog sends the binary log named by the end coordinates, cut at the end position: the
// redo end and the binlog position come from the same log_status row, so binlog crash
// recovery on restore commits or rolls back exactly what the redo left prepared.
func (b *backup) sendBinlog(ctx context.Context, base *sourceState, end coordinates, keys *backupKeys, encrypted bool) (binlogCopy, error) {
	if b.info.binlogBasename == "" || end.BinlogFile == "" {
		return binlogCopy{}, nil
	}
	dir := filepath.Dir(hostPath(b.info.binlogBasename, b.info.datadir, b.o.datadir))
	path := filepath.Join(dir, end.BinlogFile)
	head, err := b.binlogHead(path, keys, encrypted)
	if err != nil {
		return binlogCopy{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return binlogCopy{}, err
	}
	defer f.Close()
	r := &binlogReader{f: f, head: head, limit: head + end.BinlogPos, sum: sha256.New()}
	out := binlogCopy{}
	if base != nil {
		out.written = binlogWritten(dir, base, end)
		out.from = b.binlogDeltaStart(r, base, end)
	}
	for {
		data, err := r.next(shared.MaxPayloadBytes)
		if err != nil {
			return out, err
		}
		// A delta of no bytes sends no chunk; an empty file still gets one.
		if len(data) > 0 || r.off == 0 {
			rec := &shared.Record{Binlog: &shared.BinlogChunk{Name: end.BinlogFile, Offset: r.off - uint64(len(data)), Data: data}}
			if err := b.send(ctx, rec); err != nil {
				return out, err
			}
			out.sent += uint64(len(data))
		}
		if r.off == r.limit {
			break
		}
	}
	out.sha256 = r.sum.Sum(nil)
	if !r.clear {
		if err := b.checkStillOpen(ctx, end); err != nil {
			return out, err
		}
	}
	return out, nil
}

// binlogHead checks the encryption of the binlog file at path against what the Header said
// (encrypted) and notes its key; it returns the bytes the server's positions do not count.
func (b *backup) binlogHead(path string, keys *backupKeys, encrypted bool) (uint64, error) {
	id, err := readBinlogKeyID(path)
	if err != nil {
		return 0, err
	}
	name := filepath.Base(path)
	if (id != "") != encrypted { // the Header already said whether positions skip a header
		return 0, fmt.Errorf("binary log %s is encrypted=%v, but the one the backup started on was encrypted=%v: binlog_encryption was switched during the backup; take the backup again", name, id != "", encrypted)
	}
	if id == "" {
		return 0, nil
	}
	if err := keys.note(id, "binary log "+name); err != nil {
		return 0, err
	}
	return shared.EncryptedBinlogHeaderBytes, nil // measured: doc.go
}

// checkStillOpen is the exactness check for a binlog whose in-use flag cannot be set in the
// copy (binlog_encryption: the Format_description event is encrypted): the copy is exact only
// if the server had not closed the file when it was read, so the file must still be the
// current one once the copy is done. A rotation in between fails the backup, loudly, rather
// than record a binlog a restored server would take for cleanly closed.
func (b *backup) checkStillOpen(ctx context.Context, end coordinates) error {
	now, err := readLogStatus(ctx, b.db)
	if err != nil {
		return err
	}
	if now.BinlogFile != end.BinlogFile {
		return fmt.Errorf("the server rotated the binary log from %s to %s while it was copied; the copy of an encrypted binlog cannot be marked open again (its LOG_EVENT_BINLOG_IN_USE_F is encrypted), so the backup is refused: take it again", end.BinlogFile, now.BinlogFile)
	}
	return nil
}

// binlogDeltaStart returns where this backup's binlog starts: the base's position when the
// file is the one the base ended in and still starts with what the base sent, else 0. It
// leaves r at that offset.
func (b *backup) binlogDeltaStart(r *binlogReader, base *sourceState, end coordinates) uint64 {
	log := b.src.log
	switch {
	case base.BinlogFile != end.BinlogFile:
		log.Info("binlog sent from its start: it is not the file the base ended in", "base_file", base.BinlogFile, "file", end.BinlogFile)
		return 0
	case len(base.BinlogSHA256) == 0:
		log.Info("binlog sent from its start: the base's state records no digest of its binlog (an older plugin took it)")
		return 0
	case base.BinlogPos > end.BinlogPos || base.BinlogPos == 0:
		log.Info("binlog sent from its start: it ends before the base's position", "base_pos", base.BinlogPos, "pos", end.BinlogPos)
		return 0
	}
	for r.off < r.head+base.BinlogPos {
		if _, err := r.next(min(shared.MaxPayloadBytes, int(r.head+base.BinlogPos-r.off))); err != nil {
			log.Info("binlog sent from its start: reading what the base sent failed", "error", err)
			return r.rewind()
		}
	}
	if !bytes.Equal(r.sum.Sum(nil), base.BinlogSHA256) {
		log.Warn("binlog sent from its start: the file no longer starts with what the base sent (rewritten since)", "file", end.BinlogFile, "base_pos", base.BinlogPos)
		return r.rewind()
	}
	log.Info("binlog delta: the file still starts with what the base sent", "file", end.BinlogFile, "from", base.BinlogPos, "to", end.BinlogPos)
	return base.BinlogPos
}

// binlogReader reads a binlog file up to limit, hashing what it reads, with the in-use flag
// set in the copy (see markOpen).
type binlogReader struct {
	f     *os.File
	head  uint64 // bytes before the server's position 0: an encrypted binlog's header
	off   uint64
	limit uint64
	sum   hash.Hash
	clear bool // the file's first bytes were a plain binlog's: its in-use flag is set in the copy
}

// next returns up to n bytes from the current offset (none at the limit).
func (r *binlogReader) next(n int) ([]byte, error) {
	want := min(uint64(n), r.limit-r.off)
	buf := make([]byte, want)
	got, err := io.ReadFull(io.NewSectionReader(r.f, int64(r.off), int64(want)), buf)
	if err != nil {
		return nil, fmt.Errorf("reading %s up to the position %d the server reported: %w", r.f.Name(), r.limit-r.head, err)
	}
	buf = buf[:got]
	if r.off == 0 {
		r.clear = markOpen(buf)
	}
	r.off += uint64(got)
	r.sum.Write(buf)
	return buf, nil
}

func (r *binlogReader) rewind() uint64 {
	r.off = 0
	r.sum.Reset()
	return 0
}

// binlogWritten is how much binlog the server wrote from the base's position to end: the
// rest of the base's file, every file between, and end's file up to its position. A file
// purged since counts as nothing (the figure is then a lower bound).
func binlogWritten(dir string, base *sourceState, end coordinates) uint64 {
	if base.BinlogFile == end.BinlogFile {
		if end.BinlogPos >= base.BinlogPos {
			return end.BinlogPos - base.BinlogPos
		}
		return end.BinlogPos
	}
	stem, first, ok1 := splitBinlogName(base.BinlogFile)
	stemNow, last, ok2 := splitBinlogName(end.BinlogFile)
	if !ok1 || !ok2 || stem != stemNow || last < first {
		return end.BinlogPos
	}
	width := len(base.BinlogFile) - len(stem) - 1
	total := end.BinlogPos
	for n := first; n < last; n++ {
		st, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%s.%0*d", stem, width, n)))
		if err != nil {
			continue
		}
		size := uint64(st.Size())
		if n == first {
			size -= min(size, base.BinlogPos)
		}
		total += size
	}
	return total
}
