package mysqlsrc

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// redoView is what one look at #innodb_redo shows the tracker: the files in use with their
// LSN ranges, the header fields that must not change under it, and the newest checkpoint.
type redoView struct {
	files      []redoFile // by start LSN
	format     uint32     // of the file holding the checkpoint
	logUUID    uint32     // likewise
	noLogging  bool       // some file's header has RedoFlagNoLogging
	checkpoint uint64     // the newest valid checkpoint of any file; 0 if none
}

// oldest returns the start LSN of the oldest redo file, or 0 without files.
func (v *redoView) oldest() uint64 {
	if len(v.files) == 0 {
		return 0
	}
	return v.files[0].start
}

// holds reports whether the files hold lsn.
func (v *redoView) holds(lsn uint64) bool {
	for _, f := range v.files {
		if lsn >= f.start && lsn < f.end {
			return true
		}
	}
	return false
}

// readRedoView reads the header and checkpoint blocks of every #ib_redoN file in dir. A file
// whose header fails its checksum is being rewritten by the server and is left out; a header
// of another format is taken as it is, so the caller can record the format change.
func readRedoView(dir string) (*redoView, error) {
	v := &redoView{}
	var ckptFile struct{ format, uuid uint32 }
	err := forEachRedoFile(dir, innodb.RedoDataOffset, func(id uint64, path string, size int64, head []byte) {
		hdr := head[:innodb.RedoBlockSize]
		if innodb.RedoBlockChecksum(hdr) != binary.BigEndian.Uint32(hdr[innodb.RedoBlockSize-4:]) {
			return
		}
		format, uuid := binary.BigEndian.Uint32(hdr[0:]), binary.BigEndian.Uint32(hdr[4:])
		start := binary.BigEndian.Uint64(hdr[8:])
		flags := binary.BigEndian.Uint32(hdr[48:])
		if flags&innodb.RedoFlagNoLogging != 0 {
			v.noLogging = true
		}
		for _, off := range []int{512, 1536} {
			lsn, err := innodb.ParseCheckpointBlock(head[off : off+innodb.RedoBlockSize])
			if err == nil && lsn > v.checkpoint {
				v.checkpoint = lsn
				ckptFile.format, ckptFile.uuid = format, uuid
			}
		}
		if format != innodb.RedoFormat || start%innodb.RedoBlockSize != 0 {
			if v.format == 0 {
				v.format = format
			}
			return
		}
		v.files = append(v.files, redoFile{id: id, path: path, start: start, end: start + uint64(size) - innodb.RedoDataOffset})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(v.files, func(i, j int) bool { return v.files[i].start < v.files[j].start })
	if v.checkpoint != 0 {
		v.format, v.logUUID = ckptFile.format, ckptFile.uuid
	}
	return v, nil
}

// redoRangeReader reads the redo log's bytes from an LSN on, across the files of a view, for
// a RedoWalker (which checks every block). It checks that each file it opens still starts at
// the LSN the view saw, so a file the server recycled since is noticed (lost).
type redoRangeReader struct {
	v    *redoView
	lsn  uint64
	cur  *os.File
	file redoFile
	lost error // the file holding lsn is gone or reused
}

func newRedoRangeReader(v *redoView, blockLSN uint64) *redoRangeReader {
	return &redoRangeReader{v: v, lsn: blockLSN}
}

func (r *redoRangeReader) Read(p []byte) (int, error) {
	if r.lost != nil {
		return 0, r.lost
	}
	if r.cur == nil || r.lsn >= r.file.end {
		if err := r.open(); err != nil {
			r.lost = err
			return 0, err
		}
	}
	n := min(uint64(len(p)), r.file.end-r.lsn)
	got, err := r.cur.ReadAt(p[:n], int64(innodb.RedoDataOffset+r.lsn-r.file.start))
	r.lsn += uint64(got)
	if got > 0 {
		return got, nil
	}
	return 0, err
}

// open opens the file holding r.lsn and checks its header.
func (r *redoRangeReader) open() error {
	r.close()
	for _, f := range r.v.files {
		if r.lsn < f.start || r.lsn >= f.end {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("redo file %s holding LSN %d is gone: %w", f.path, r.lsn, err)
		}
		if !r.sameStart(fh, f.start) {
			fh.Close()
			return fmt.Errorf("redo file %s no longer starts at LSN %d: the server reused it", f.path, f.start)
		}
		r.cur, r.file = fh, f
		return nil
	}
	return fmt.Errorf("no redo file holds LSN %d (the oldest starts at %d)", r.lsn, r.v.oldest())
}

func (r *redoRangeReader) sameStart(fh *os.File, start uint64) bool {
	head := make([]byte, innodb.RedoBlockSize)
	if _, err := fh.ReadAt(head, 0); err != nil {
		return false
	}
	h, err := innodb.ParseRedoFileHeader(head)
	return err == nil && h.StartLSN == start
}

// reused reports whether the file being read was reused by the server since it was opened:
// then blocks that fail their checks were overwritten, not damaged.
func (r *redoRangeReader) reused() bool {
	if r.cur == nil {
		return false
	}
	fh, err := os.Open(r.file.path)
	if err != nil {
		return true
	}
	defer fh.Close()
	return !r.sameStart(r.cur, r.file.start) || !r.sameStart(fh, r.file.start)
}

func (r *redoRangeReader) close() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}

// groupStartBefore returns the start of the mini-transaction that holds lsn, or lsn itself
// when a group starts there: the latest group start at or below lsn. A checkpoint LSN need not
// be a group boundary (InnoDB lets it fall inside a group by the flush order lag), a walk must
// start at one, and the tracker must persist nothing beyond a checkpoint; so where it begins,
// and where it resumes after a gap, is this LSN below the checkpoint. It is found through the
// first_rec_group of the blocks at and before lsn's, then by parsing forward from there.
func groupStartBefore(v *redoView, lsn uint64, pageSize int) (uint64, error) {
	block := make([]byte, innodb.RedoBlockSize)
	const maxBack = 1 << 13 // blocks (4 MiB): longer groups are not worth resuming inside
	for blk, n := lsn/innodb.RedoBlockSize*innodb.RedoBlockSize, 0; n < maxBack && blk >= v.oldest(); blk, n = blk-innodb.RedoBlockSize, n+1 {
		rd := newRedoRangeReader(v, blk)
		_, err := io.ReadFull(rd, block)
		rd.close()
		if err != nil {
			return 0, fmt.Errorf("finding the mini-transaction at LSN %d: %w", lsn, err)
		}
		h, err := innodb.CheckRedoBlockAt(block, blk)
		if err != nil {
			return 0, fmt.Errorf("finding the mini-transaction at LSN %d: %w", lsn, err)
		}
		start := blk + uint64(h.FirstRecGroup)
		if h.FirstRecGroup == 0 || start > lsn {
			continue
		}
		rd = newRedoRangeReader(v, blk)
		defer rd.close()
		upTo, err := innodb.ChangedPages(rd, v.format, blk, start, lsn, innodb.RedoParseOptions{PageSize: pageSize}, innodb.RedoChangeHandler{})
		if err != nil {
			return 0, fmt.Errorf("finding the mini-transaction at LSN %d: %w", lsn, err)
		}
		return upTo, nil
	}
	return 0, fmt.Errorf("no mini-transaction start found within %d blocks before LSN %d", maxBack, lsn)
}

// readAhead holds the redo's full blocks from an LSN on, read as soon as the server wrote them
// and kept until the checkpoint passes them. The tracker parses only up to checkpoints, but the
// server may drop the files below a checkpoint at once (measured: a clean shutdown moved the
// checkpoint by 4.7 MB and the restarted server had removed the files below it before the
// tracker's next poll), so the redo must be taken before it is final.
//
// Only full blocks are kept. The server writes whole mini-transactions only (its log writer
// stops where every earlier group is copied in full), so after a kill -9 it continues at the
// end of what it wrote and never changes a full block; the last, partial block is re-read from
// the files. A host crash can lose redo beyond the flushed LSN, but it also ends the tracker and
// this memory with it: what the tracker persisted lies below a checkpoint.
type readAhead struct {
	start  uint64 // LSN of buf[0], block-aligned
	buf    []byte
	max    int
	scrach []byte
}

func (a *readAhead) end() uint64 { return a.start + uint64(len(a.buf)) }

// holds reports whether the blocks from lsn's on are buffered.
func (a *readAhead) holds(lsn uint64) bool { return lsn >= a.start && lsn < a.end() }

// resetAt empties the buffer and starts it at lsn's block.
func (a *readAhead) resetAt(lsn uint64) {
	a.start, a.buf = lsn/innodb.RedoBlockSize*innodb.RedoBlockSize, a.buf[:0]
}

// dropBelow forgets the blocks before lsn's block.
func (a *readAhead) dropBelow(lsn uint64) {
	blk := lsn / innodb.RedoBlockSize * innodb.RedoBlockSize
	if blk <= a.start {
		return
	}
	if blk >= a.end() {
		a.resetAt(lsn)
		return
	}
	n := copy(a.buf, a.buf[blk-a.start:])
	a.buf, a.start = a.buf[:n], blk
}

// fill appends the full blocks the files hold after the buffer's end, up to the limit.
func (a *readAhead) fill(v *redoView) {
	if a.scrach == nil {
		a.scrach = make([]byte, 64<<10)
	}
	rd := newRedoRangeReader(v, a.end())
	defer rd.close()
	for len(a.buf) < a.max {
		n, err := rd.Read(a.scrach[:min(len(a.scrach), a.max-len(a.buf))])
		n = n / innodb.RedoBlockSize * innodb.RedoBlockSize
		for off := 0; off < n; off += innodb.RedoBlockSize {
			b := a.scrach[off : off+innodb.RedoBlockSize]
			h, err := innodb.CheckRedoBlockAt(b, a.end())
			if err != nil || h.DataLen < innodb.RedoBlockSize {
				return // not written yet (or being written)
			}
			a.buf = append(a.buf, b...)
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// reader returns a reader of the redo from the block at blockLSN on: buffered blocks first,
// then the files.
func (a *readAhead) reader(v *redoView, blockLSN uint64) *aheadReader {
	return &aheadReader{a: a, lsn: blockLSN, files: newRedoRangeReader(v, a.end())}
}

type aheadReader struct {
	a     *readAhead
	lsn   uint64
	files *redoRangeReader
}

func (r *aheadReader) Read(p []byte) (int, error) {
	if r.a.holds(r.lsn) {
		n := copy(p, r.a.buf[r.lsn-r.a.start:])
		r.lsn += uint64(n)
		return n, nil
	}
	if r.files.lsn != r.lsn {
		r.files.close()
		r.files = newRedoRangeReader(r.files.v, r.lsn)
	}
	n, err := r.files.Read(p)
	r.lsn += uint64(n)
	return n, err
}
