package pagemap

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// DefaultMaxBitmapFileSize is where a BitmapWriter starts a new file unless told otherwise:
// XtraDB's default innodb_max_bitmap_file_size (100 MiB).
const DefaultMaxBitmapFileSize = 100 << 20

// BitmapWriter appends runs to XtraDB changed-page bitmap files in one directory, in the
// layout ReadBitmaps reads (the package documentation has it). Each WriteRun is durable when
// it returns: the blocks are written and the file fsync'd (and the directory, when the run
// started a new file).
//
// It departs from XtraDB in one way, on purpose: a run in which no page changed is written as
// one block (space 0, first page 0, an empty bitmap, flagged last) instead of nothing, so
// that "nothing changed" and "not tracked" differ in the files (ReadBitmaps takes every hole
// between runs as not tracked). XtraDB's readers accept such a block: it adds no page.
type BitmapWriter struct {
	dir     string
	maxSize int64
	seq     uint64 // of the open file; 0 before the first file
	f       *os.File
	size    int64
	block   [BitmapBlockSize]byte
}

// OpenBitmapWriter prepares to write bitmap files into dir, starting a new file (at the next
// sequence number) at the first run and whenever a file has reached maxSize bytes (0 means
// DefaultMaxBitmapFileSize). The newest existing file is first cut back to its last complete,
// valid block, as XtraDB does after a crash: a block torn by a crash would otherwise make
// every later read of the directory fail.
func OpenBitmapWriter(dir string, maxSize int64) (*BitmapWriter, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxBitmapFileSize
	}
	files, err := ListBitmapFiles(dir)
	if err != nil {
		return nil, err
	}
	w := &BitmapWriter{dir: dir, maxSize: maxSize}
	if len(files) > 0 {
		last := files[len(files)-1]
		w.seq = last.Seq
		if err := truncateTornTail(last.Path); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// ListBitmapFiles returns the bitmap files in dir, by sequence number.
func ListBitmapFiles(dir string) ([]BitmapFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pagemap: listing bitmap files: %w", err)
	}
	var files []BitmapFile
	for _, e := range entries {
		if f, ok := ParseBitmapFileName(filepath.Join(dir, e.Name())); ok && e.Type().IsRegular() {
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b BitmapFile) int { return cmp.Compare(a.Seq, b.Seq) })
	return files, nil
}

// truncateTornTail cuts path at its first block that is short or fails its checksum.
func truncateTornTail(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("pagemap: %w", err)
	}
	defer f.Close()
	block := make([]byte, BitmapBlockSize)
	var good int64
	for {
		_, err := f.ReadAt(block, good)
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("pagemap: reading %s: %w", path, err)
		}
		if binary.BigEndian.Uint32(block[xdbChecksum:]) != BitmapChecksum(block) {
			break
		}
		good += BitmapBlockSize
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pagemap: %w", err)
	}
	if st.Size() == good {
		return nil
	}
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("pagemap: cutting the torn end of %s: %w", path, err)
	}
	return f.Sync()
}

// WriteRun appends the run [start, end) holding pages: the pages changed by the redo records
// that start in that LSN interval. It returns once the run is on disk.
func (w *BitmapWriter) WriteRun(start, end uint64, pages *PageSet) error {
	if start >= end {
		return fmt.Errorf("pagemap: bitmap run [%d, %d) is empty or reversed", start, end)
	}
	newFile := w.f == nil || w.size >= w.maxSize
	if newFile {
		if err := w.startFile(start); err != nil {
			return err
		}
	}
	blocks := w.encodeRun(start, end, pages)
	if _, err := w.f.Write(blocks); err != nil {
		return fmt.Errorf("pagemap: writing bitmap file: %w", err)
	}
	w.size += int64(len(blocks))
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("pagemap: syncing bitmap file: %w", err)
	}
	if newFile {
		return syncDir(w.dir)
	}
	return nil
}

// encodeRun returns the run's blocks: one per (space, 32,448-page slice) with a changed page,
// ascending, the last one flagged; one empty block for a run without pages.
func (w *BitmapWriter) encodeRun(start, end uint64, pages *PageSet) []byte {
	type slice struct{ space, first uint32 }
	var order []slice
	bitsOf := map[slice][]uint32{}
	for _, space := range pages.Spaces() {
		for _, r := range pages.Runs(space) {
			for p := uint64(r.First); p < r.End(); p++ {
				s := slice{space, uint32(p / BitmapBlockPages * BitmapBlockPages)}
				if _, ok := bitsOf[s]; !ok {
					order = append(order, s)
				}
				bitsOf[s] = append(bitsOf[s], uint32(p)-s.first)
			}
		}
	}
	if len(order) == 0 {
		order = append(order, slice{})
	}
	out := make([]byte, 0, len(order)*BitmapBlockSize)
	for i, s := range order {
		b := w.block[:]
		clear(b)
		if i == len(order)-1 {
			binary.BigEndian.PutUint32(b[xdbIsLast:], 1)
		}
		binary.BigEndian.PutUint64(b[xdbStartLSN:], start)
		binary.BigEndian.PutUint64(b[xdbEndLSN:], end)
		binary.BigEndian.PutUint32(b[xdbSpace:], s.space)
		binary.BigEndian.PutUint32(b[xdbFirstPage:], s.first)
		for _, bit := range bitsOf[s] {
			b[xdbBitmap+bit/8] |= 1 << (bit % 8)
		}
		binary.BigEndian.PutUint32(b[xdbChecksum:], BitmapChecksum(b))
		out = append(out, b...)
	}
	return out
}

func (w *BitmapWriter) startFile(start uint64) error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("pagemap: closing bitmap file: %w", err)
		}
		w.f = nil
	}
	w.seq++
	path := filepath.Join(w.dir, fmt.Sprintf("%s%d_%d.xdb", bitmapFilePrefix, w.seq, start))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("pagemap: creating bitmap file: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Close closes the open file. Every run written is already durable.
func (w *BitmapWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pagemap: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("pagemap: syncing %s: %w", dir, err)
	}
	return nil
}
