package mysqlsrc

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	v := &redoView{}
	head := make([]byte, innodb.RedoDataOffset)
	var ckptFile struct{ format, uuid uint32 }
	for _, e := range entries {
		m := redoFileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		id, _ := strconv.ParseUint(m[1], 10, 64)
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue // recycled between ReadDir and Open
		}
		st, err1 := f.Stat()
		_, err2 := f.ReadAt(head, 0)
		f.Close()
		if err1 != nil || err2 != nil {
			continue
		}
		hdr := head[:innodb.RedoBlockSize]
		if innodb.RedoBlockChecksum(hdr) != binary.BigEndian.Uint32(hdr[innodb.RedoBlockSize-4:]) {
			continue
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
			continue
		}
		v.files = append(v.files, redoFile{id: id, path: path, start: start, end: start + uint64(st.Size()) - innodb.RedoDataOffset})
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
