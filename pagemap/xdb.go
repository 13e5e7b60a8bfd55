package pagemap

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Layout of an XtraDB changed-page bitmap block (the package documentation has the table).
const (
	BitmapBlockSize = 4096 // bytes in a bitmap block

	xdbIsLast      = 0
	xdbStartLSN    = 4
	xdbEndLSN      = 12
	xdbSpace       = 20
	xdbFirstPage   = 24
	xdbBitmap      = 32
	xdbBitmapEnd   = BitmapBlockSize - 8
	xdbChecksum    = BitmapBlockSize - 4
	xdbBitmapBytes = xdbBitmapEnd - xdbBitmap

	// BitmapBlockPages is how many page ids one block covers: a block's first page id is a
	// multiple of it.
	BitmapBlockPages = xdbBitmapBytes * 8 // 32,448
)

// ErrRangeNotCovered is wrapped by the errors of ReadBitmaps and ReadBitmapStream when the
// bitmaps do not cover the whole LSN range asked for.
var ErrRangeNotCovered = errors.New("changed-page bitmaps do not cover the LSN range")

// ErrCorrupt is wrapped by their errors when a bitmap block is truncated, fails its checksum or
// holds impossible values.
var ErrCorrupt = errors.New("corrupt changed-page bitmap")

// BitmapError describes what is wrong with a set of bitmap files, and where. It wraps
// ErrCorrupt or ErrRangeNotCovered.
type BitmapError struct {
	Path   string // the file, if known
	Offset int64  // the byte offset of the block in it, or -1
	// StartLSN and EndLSN are the LSN interval of the block for ErrCorrupt, or the interval
	// that no bitmap run covers for ErrRangeNotCovered.
	StartLSN, EndLSN uint64
	Reason           string
	Err              error // ErrCorrupt or ErrRangeNotCovered
}

func (e *BitmapError) Error() string {
	var b strings.Builder
	b.WriteString("pagemap: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "block at offset %d: ", e.Offset)
	}
	if errors.Is(e.Err, ErrRangeNotCovered) {
		fmt.Fprintf(&b, "LSN %d to %d: ", e.StartLSN, e.EndLSN)
	} else if e.StartLSN != 0 || e.EndLSN != 0 {
		fmt.Fprintf(&b, "(LSN %d to %d) ", e.StartLSN, e.EndLSN)
	}
	b.WriteString(e.Reason)
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *BitmapError) Unwrap() error { return e.Err }

// LSNRange is the half-open LSN interval [Start, End).
type LSNRange struct{ Start, End uint64 }

func (r LSNRange) String() string { return fmt.Sprintf("[%d, %d)", r.Start, r.End) }

// BitmapFile names one XtraDB bitmap file: ib_modified_log_<Seq>_<StartLSN>.xdb.
type BitmapFile struct {
	Path     string
	Seq      uint64
	StartLSN uint64 // the start LSN of the first run written to the file
}

const bitmapFilePrefix = "ib_modified_log_"

// ParseBitmapFileName parses the base name of path as an XtraDB bitmap file name,
// ib_modified_log_<seq>_<startlsn>.xdb with both numbers in decimal, and returns it with Path
// set to path.
func ParseBitmapFileName(path string) (BitmapFile, bool) {
	name, ok := strings.CutPrefix(filepath.Base(path), bitmapFilePrefix)
	if !ok {
		return BitmapFile{}, false
	}
	name, ok = strings.CutSuffix(name, ".xdb")
	if !ok {
		return BitmapFile{}, false
	}
	seqText, lsnText, ok := strings.Cut(name, "_")
	if !ok {
		return BitmapFile{}, false
	}
	seq, ok1 := parseDecimal(seqText)
	lsn, ok2 := parseDecimal(lsnText)
	if !ok1 || !ok2 {
		return BitmapFile{}, false
	}
	return BitmapFile{Path: path, Seq: seq, StartLSN: lsn}, true
}

// parseDecimal accepts only plain decimal digits (no sign, no underscores).
func parseDecimal(s string) (uint64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// BitmapChecksum computes the checksum XtraDB stores at byte 4092 of a bitmap block, over its
// bytes 0 to 4091: InnoDB's pre-CRC32 log block checksum (log_block_calc_checksum).
func BitmapChecksum(block []byte) uint32 {
	sum, shift := uint64(1), uint(0)
	for _, c := range block[:xdbChecksum] {
		b := uint64(c)
		sum &= 0x7FFFFFFF
		sum += b + b<<shift
		shift++
		if shift > 24 {
			shift = 0
		}
	}
	// The sum never exceeds 32 bits after the last byte (whose shift is 16), and XtraDB
	// stores its low 32 bits anyway.
	return uint32(sum)
}

// ReadBitmaps adds to s every page that the XtraDB changed-page bitmap files record as changed
// by redo written in the LSN range [start, end). files may come in any order; they are read in
// order of their sequence numbers. s is changed only on success.
//
// A bitmap run records the pages changed by the redo records that start in [run start LSN,
// run end LSN): XtraDB parses the redo log up to, not including, the checkpoint LSN it writes
// as the end, and the next run starts there. The runs needed are those that overlap
// [start, end); every page they record is added, so s may include pages changed just outside
// the range (changed-page tracking is at run granularity), never fewer.
//
// If the complete runs read do not cover all of [start, end), it returns an error wrapping
// ErrRangeNotCovered that names the first uncovered LSN interval; if a block is truncated,
// fails its checksum or is inconsistent, an error wrapping ErrCorrupt. Both are *BitmapError
// values naming the file, the block offset and the LSNs.
//
// Files that cannot hold any part of the range are skipped without being opened, by the start
// LSNs in their names, as XtraDB itself does: a file holds runs from its start LSN up to the
// start LSN of the next file. Reading stops after the first complete run that reaches end.
func ReadBitmaps(files []BitmapFile, start, end uint64, s *PageSet) error {
	if start > end {
		return fmt.Errorf("pagemap: invalid LSN range [%d, %d)", start, end)
	}
	if start == end {
		return nil
	}
	sc := newBitmapScanner(start, end)
	if err := readBitmapsWith(sc, files, start, end); err != nil {
		return err
	}
	s.Union(sc.pages)
	return nil
}

// readBitmapsWith feeds sc the files that may hold runs overlapping [start, end), in sequence
// order, and checks that the runs read cover the range.
func readBitmapsWith(sc *bitmapScanner, files []BitmapFile, start, end uint64) error {
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b BitmapFile) int { return cmp.Compare(a.Seq, b.Seq) })
	for i := 1; i < len(files); i++ {
		if files[i].Seq == files[i-1].Seq {
			return &BitmapError{Path: files[i].Path, Offset: -1, Reason: fmt.Sprintf("sequence number %d also used by %s", files[i].Seq, files[i-1].Path), Err: ErrCorrupt}
		}
		if files[i].StartLSN < files[i-1].StartLSN {
			return &BitmapError{Path: files[i].Path, Offset: -1, Reason: fmt.Sprintf("start LSN %d is below the %d of the earlier file %s", files[i].StartLSN, files[i-1].StartLSN, files[i-1].Path), Err: ErrCorrupt}
		}
	}
	for i, f := range files {
		if i+1 < len(files) && files[i+1].StartLSN <= start {
			continue // all its runs end by the next file's start LSN, before the range
		}
		if f.StartLSN >= end {
			break // this and all later files hold runs that start at or after end
		}
		if err := readBitmapFile(sc, f.Path); err != nil {
			return err
		}
		if sc.done {
			break
		}
	}
	return sc.finish()
}

func readBitmapFile(sc *bitmapScanner, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("pagemap: %w", err)
	}
	defer f.Close()
	sc.path = path
	if err := sc.scan(f); err != nil {
		if be := (*BitmapError)(nil); errors.As(err, &be) && be.Path == "" {
			be.Path = path
		}
		return err
	}
	return nil
}

// ReadBitmapStream is ReadBitmaps for one stream of bitmap blocks, such as one file. It returns
// the LSN ranges that the complete runs it read cover, merged and ascending, also on error.
func ReadBitmapStream(r io.Reader, start, end uint64, s *PageSet) (covered []LSNRange, err error) {
	if start > end {
		return nil, fmt.Errorf("pagemap: invalid LSN range [%d, %d)", start, end)
	}
	sc := newBitmapScanner(start, end)
	if start < end {
		err = sc.scan(r)
		if err == nil {
			err = sc.finish()
		}
	}
	covered = make([]LSNRange, len(sc.covered))
	for i, c := range sc.covered {
		covered[i] = c.LSNRange
	}
	if err == nil {
		s.Union(sc.pages)
	}
	return covered, err
}

// coverage is one merged interval of LSNs that complete runs cover, with where the run that
// begins it starts and where the run that ends it ends.
type coverage struct {
	LSNRange
	firstPath, lastPath     string
	firstOffset, lastOffset int64 // of the first block of the first run, the last of the last
}

// bitmapScanner reads bitmap blocks, checks them, groups them into runs and collects the pages
// of the runs that overlap [start, end).
type bitmapScanner struct {
	start, end uint64
	pages      *PageSet
	covered    []coverage // merged, ascending
	done       bool       // [start, end) is covered; later runs start at or after end
	path       string     // of the stream being scanned, for coverage records

	inRun               bool // a run has begun and its last block is still to come
	runStart, runEnd    uint64
	runOffset           int64
	runWanted           bool   // the run overlaps [start, end)
	lastSpace, lastPage uint32 // of the run's previous block

	block [BitmapBlockSize]byte
	bits  []uint32 // scratch for addBits

	// runs, when set, receives every complete wanted run with its own pages (runPages).
	runs     *[]bitmapRun
	runPages *PageSet
}

func newBitmapScanner(start, end uint64) *bitmapScanner {
	return &bitmapScanner{start: start, end: end, pages: NewPageSet()}
}

// scan reads blocks from r until EOF or until the range is covered.
func (sc *bitmapScanner) scan(r io.Reader) error {
	br := bufio.NewReaderSize(r, 16*BitmapBlockSize)
	// A run never spans files: XtraDB starts a new file only before writing a run.
	sc.inRun = false
	for off := int64(0); !sc.done; off += BitmapBlockSize {
		n, err := io.ReadFull(br, sc.block[:])
		if err == io.EOF {
			return nil
		}
		if err == io.ErrUnexpectedEOF {
			return &BitmapError{Offset: off, Reason: fmt.Sprintf("truncated block: %d of %d bytes", n, BitmapBlockSize), Err: ErrCorrupt}
		}
		if err != nil {
			return fmt.Errorf("pagemap: reading bitmap block at offset %d: %w", off, err)
		}
		if err := sc.feed(sc.block[:], off); err != nil {
			return err
		}
	}
	return nil
}

// feed processes one block read at byte offset off.
func (sc *bitmapScanner) feed(blk []byte, off int64) error {
	isLast := binary.BigEndian.Uint32(blk[xdbIsLast:])
	startLSN := binary.BigEndian.Uint64(blk[xdbStartLSN:])
	endLSN := binary.BigEndian.Uint64(blk[xdbEndLSN:])
	space := binary.BigEndian.Uint32(blk[xdbSpace:])
	first := binary.BigEndian.Uint32(blk[xdbFirstPage:])
	corrupt := func(format string, args ...any) error {
		return &BitmapError{Offset: off, StartLSN: startLSN, EndLSN: endLSN, Reason: fmt.Sprintf(format, args...), Err: ErrCorrupt}
	}
	if stored, computed := binary.BigEndian.Uint32(blk[xdbChecksum:]), BitmapChecksum(blk); stored != computed {
		return corrupt("checksum mismatch: stored %#08x, computed %#08x", stored, computed)
	}
	if isLast > 1 {
		return corrupt("last-block flag is %d", isLast)
	}
	if startLSN >= endLSN {
		return corrupt("empty or reversed LSN interval")
	}
	if first%BitmapBlockPages != 0 {
		return corrupt("first page %d is not a multiple of %d", first, BitmapBlockPages)
	}
	if sc.inRun && (startLSN != sc.runStart || endLSN != sc.runEnd) {
		// The previous run ended without its last block (a crash while writing it): it
		// covers nothing. Its pages, if wanted, were added; extra pages are harmless.
		sc.inRun = false
	}
	if !sc.inRun {
		sc.inRun = true
		sc.runStart, sc.runEnd, sc.runOffset = startLSN, endLSN, off
		sc.runWanted = startLSN < sc.end && endLSN > sc.start
		if sc.runs != nil && sc.runWanted {
			sc.runPages = NewPageSet()
		}
	} else if space < sc.lastSpace || space == sc.lastSpace && first <= sc.lastPage {
		return corrupt("block for space %d page %d follows space %d page %d in the same run", space, first, sc.lastSpace, sc.lastPage)
	}
	sc.lastSpace, sc.lastPage = space, first
	if sc.runWanted {
		if err := sc.addBits(blk[xdbBitmap:xdbBitmapEnd], space, first); err != nil {
			return corrupt("%v", err)
		}
	}
	if isLast == 1 {
		sc.inRun = false
		if sc.runs != nil && sc.runWanted {
			*sc.runs = append(*sc.runs, bitmapRun{LSNRange{sc.runStart, sc.runEnd}, sc.runPages})
		}
		sc.cover(LSNRange{sc.runStart, sc.runEnd}, off)
	}
	return nil
}

// addBits adds the pages whose bits are set in bitmap, bit i (bit i%8 of byte i/8, least
// significant first) meaning page first+i of space.
func (sc *bitmapScanner) addBits(bitmap []byte, space, first uint32) error {
	pages := sc.bits[:0]
	for i := 0; i < len(bitmap); i += 8 {
		w := binary.LittleEndian.Uint64(bitmap[i:])
		for w != 0 {
			bit := uint64(i)*8 + uint64(bits.TrailingZeros64(w))
			page := uint64(first) + bit
			if page > 0xFFFFFFFF {
				return fmt.Errorf("bit %d names page %d, beyond the 32-bit page numbers", bit, page)
			}
			pages = append(pages, uint32(page))
			w &= w - 1
		}
	}
	sc.pages.addMany(space, pages)
	if sc.runPages != nil {
		sc.runPages.addMany(space, pages)
	}
	sc.bits = pages[:0]
	return nil
}

// cover records that a complete run covers r; the run's last block is at off.
func (sc *bitmapScanner) cover(r LSNRange, off int64) {
	c := coverage{r, sc.path, sc.path, sc.runOffset, off}
	i, _ := slices.BinarySearchFunc(sc.covered, r.Start, func(c coverage, lsn uint64) int { return cmp.Compare(c.Start, lsn) })
	// Merge with the interval before, if it reaches r, and with those after that r reaches.
	if i > 0 && sc.covered[i-1].End >= r.Start {
		i--
	}
	j := i
	for ; j < len(sc.covered) && sc.covered[j].Start <= c.End; j++ {
		o := sc.covered[j]
		if o.Start <= c.Start {
			c.Start, c.firstPath, c.firstOffset = o.Start, o.firstPath, o.firstOffset
		}
		if o.End > c.End {
			c.End, c.lastPath, c.lastOffset = o.End, o.lastPath, o.lastOffset
		}
	}
	sc.covered = slices.Replace(sc.covered, i, j, c)
	if r.End >= sc.end && sc.uncovered().Start >= sc.end {
		// Runs come in LSN order, so no later run can start before end.
		sc.done = true
	}
}

// uncovered returns the first sub-interval of [start, end) that no complete run covers, with
// Start >= end if there is none.
func (sc *bitmapScanner) uncovered() LSNRange {
	at := sc.start
	for _, c := range sc.covered {
		if c.End <= at {
			continue
		}
		if c.Start > at {
			return LSNRange{at, min(c.Start, sc.end)}
		}
		at = c.End
		if at >= sc.end {
			break
		}
	}
	return LSNRange{at, sc.end}
}

// finish checks that the complete runs read cover [start, end).
func (sc *bitmapScanner) finish() error {
	gap := sc.uncovered()
	if gap.Start >= sc.end {
		return nil
	}
	e := &BitmapError{Offset: -1, StartLSN: gap.Start, EndLSN: gap.End, Err: ErrRangeNotCovered}
	var before, after *coverage
	for i := range sc.covered {
		c := &sc.covered[i]
		if c.End <= gap.Start {
			before = c
		}
		if after == nil && c.Start >= gap.End {
			after = c
		}
	}
	var why []string
	if before != nil {
		why = append(why, fmt.Sprintf("the runs before end at LSN %d (last block: %s)", before.End, where(before.lastPath, before.lastOffset)))
	}
	if after != nil {
		why = append(why, fmt.Sprintf("the runs after start at LSN %d (first block: %s)", after.Start, where(after.firstPath, after.firstOffset)))
		e.Path, e.Offset = after.firstPath, after.firstOffset
	} else if before != nil {
		e.Path, e.Offset = before.lastPath, before.lastOffset
	}
	if len(why) == 0 {
		why = append(why, "no complete bitmap run was read")
	}
	e.Reason = "not covered: " + strings.Join(why, "; ")
	return e
}

func where(path string, off int64) string {
	if path == "" {
		return fmt.Sprintf("offset %d", off)
	}
	return fmt.Sprintf("%s offset %d", path, off)
}

// VisitBitmapRuns calls fn, in LSN order, for every complete run in files that overlaps
// [start, end), with the run's LSN range and the pages it records: the rows of XtraDB's
// INFORMATION_SCHEMA.INNODB_CHANGED_PAGES (space_id, page_id, start_lsn, end_lsn). It checks
// the files as ReadBitmaps does and calls fn only once every block read passed its checks and
// the runs cover [start, end): on an error, fn was not called.
func VisitBitmapRuns(files []BitmapFile, start, end uint64, fn func(run LSNRange, pages *PageSet) error) error {
	if start > end {
		return fmt.Errorf("pagemap: invalid LSN range [%d, %d)", start, end)
	}
	var runs []bitmapRun
	sc := newBitmapScanner(start, end)
	sc.runs = &runs
	if err := readBitmapsWith(sc, files, start, end); err != nil {
		return err
	}
	for _, r := range runs {
		if err := fn(r.LSNRange, r.pages); err != nil {
			return err
		}
	}
	return nil
}

// bitmapRun is one complete run VisitBitmapRuns collected.
type bitmapRun struct {
	LSNRange
	pages *PageSet
}

// CheckBitmapFile reads every block of one bitmap file, checks it as ReadBitmaps does, and
// returns the LSN ranges its complete runs cover, merged and ascending. A file that ends
// inside a run (a torn write) fails the check with an error wrapping ErrCorrupt: only the
// newest file of a directory a writer is appending to may do so.
func CheckBitmapFile(path string) ([]LSNRange, error) {
	// A range no run overlaps: the scan checks blocks and records coverage, keeps no page.
	sc := newBitmapScanner(^uint64(0), ^uint64(0))
	if err := readBitmapFile(sc, path); err != nil {
		return nil, err
	}
	if sc.inRun {
		return nil, &BitmapError{Path: path, Offset: sc.runOffset, StartLSN: sc.runStart, EndLSN: sc.runEnd, Reason: "the file ends inside a run (a torn write)", Err: ErrCorrupt}
	}
	covered := make([]LSNRange, len(sc.covered))
	for i, c := range sc.covered {
		covered[i] = c.LSNRange
	}
	return covered, nil
}
