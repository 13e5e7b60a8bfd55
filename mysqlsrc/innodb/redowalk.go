package innodb

import (
	"errors"
	"fmt"
	"io"
)

// redoBlockPayload is how many record bytes a full data block holds.
const redoBlockPayload = RedoBlockSize - RedoBlockHeaderSize - RedoBlockTrailerSize

// Defaults of RedoParseOptions.
const (
	DefaultRedoPageSize      = 16384
	DefaultRedoMaxGroupBytes = 64 << 20
)

// RedoParseOptions adjust a RedoWalker.
type RedoParseOptions struct {
	// PageSize is innodb_page_size, the bound of the page offsets records carry; 0 means 16 KiB.
	PageSize int
	// MaxGroupBytes bounds one mini-transaction, and so the walker's memory; a longer one makes
	// the range untrusted. 0 means DefaultRedoMaxGroupBytes.
	MaxGroupBytes int
}

// redoSN returns the number of record bytes before lsn, which must point into the record area of
// a block (offset 12..508): InnoDB's sn.
func redoSN(lsn uint64) uint64 {
	return lsn/RedoBlockSize*redoBlockPayload + lsn%RedoBlockSize - RedoBlockHeaderSize
}

// redoLSN is the inverse of redoSN. A group that ends exactly where a block's record area ends
// gets the LSN of the next block's first record byte, as InnoDB computes it.
func redoLSN(sn uint64) uint64 {
	return sn/redoBlockPayload*RedoBlockSize + sn%redoBlockPayload + RedoBlockHeaderSize
}

func validRecordLSN(lsn uint64) bool {
	off := lsn % RedoBlockSize
	return off >= RedoBlockHeaderSize && off < redoChecksumOffset
}

// RedoWalker walks the mini-transactions (record groups) of the redo log, reading consecutive
// 512-byte data blocks from a reader. It checks every block (CheckRedoBlockAt) and, after each
// group, that the first_rec_group fields of the blocks the group reached agree with where it
// ended: a record parsed to the wrong length shows there at the latest.
type RedoWalker struct {
	r        io.Reader
	opts     RedoParseOptions
	blockLSN uint64 // LSN of the next block to read
	endLSN   uint64
	endSN    uint64
	// buf[off:] holds record bytes from the start of the current group (sn groupSN) on.
	buf     []byte
	off     int
	groupSN uint64
	done    bool // no more record bytes: endLSN reached
	// firstRecGroup keeps first_rec_group of the blocks read since the current group's block.
	firstRecGroup map[uint64]uint16
	block         [RedoBlockSize]byte // read buffer
	failed        error               // a read or block failure, pending (see fill)
	group         RedoGroup           // what Next returns, reused
}

// NewRedoWalker returns a walker over the blocks r yields, the first of which starts at
// blockLSN. format is the format field of the redo file header; only format 6 (MySQL 8.0.30 and
// later, including 8.4 and 9.x) is known. Walking starts at startLSN, which must be the start of
// a mini-transaction (a checkpoint LSN, an LSN the server reported, or where an earlier walk
// stopped) and lie in the first block or later; it ends at endLSN, up to which the log must be
// written (the flushed LSN, say).
func NewRedoWalker(r io.Reader, format uint32, blockLSN, startLSN, endLSN uint64, opts RedoParseOptions) (*RedoWalker, error) {
	if format != RedoFormat {
		return nil, fmt.Errorf("redo log format %d is not supported: this parser reads format %d (MySQL 8.0.30 and later)", format, RedoFormat)
	}
	switch {
	case blockLSN%RedoBlockSize != 0:
		return nil, fmt.Errorf("redo walk: block lsn %d is not a multiple of %d", blockLSN, RedoBlockSize)
	case !validRecordLSN(startLSN) || startLSN < blockLSN:
		return nil, fmt.Errorf("redo walk: start lsn %d is not a record position at or after block lsn %d", startLSN, blockLSN)
	case endLSN < startLSN || !validRecordLSN(endLSN):
		return nil, fmt.Errorf("redo walk: end lsn %d is not a record position at or after start lsn %d", endLSN, startLSN)
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultRedoPageSize
	}
	if opts.MaxGroupBytes == 0 {
		opts.MaxGroupBytes = DefaultRedoMaxGroupBytes
	}
	w := &RedoWalker{r: r, opts: opts, blockLSN: blockLSN, endLSN: endLSN, endSN: redoSN(endLSN),
		groupSN: redoSN(startLSN), firstRecGroup: map[uint64]uint16{}}
	w.done = startLSN == endLSN
	return w, nil
}

// Position returns the LSN where the next group starts: everything before it has been parsed
// and handed out.
func (w *RedoWalker) Position() uint64 { return redoLSN(w.groupSN) }

// Next returns the next complete group, valid until the next call (the walker reuses it). It
// returns nil, nil when the groups up to endLSN are done; a group that runs past endLSN is left
// for a later walk from Position(). An error is a *RedoParseError (the log from Position() on
// cannot be trusted) or a read error from r (io.ErrUnexpectedEOF if r ends before endLSN).
func (w *RedoWalker) Next() (*RedoGroup, error) {
	for {
		n, err := parseGroupInto(&w.group, w.buf[w.off:], w.opts.PageSize)
		switch {
		case err == nil:
			return w.finish(&w.group, n)
		case !errors.Is(err, errRecordShort):
			return nil, w.recordError(err)
		case w.done:
			return nil, nil
		case w.failed != nil:
			return nil, w.failure()
		case len(w.buf)-w.off >= w.opts.MaxGroupBytes:
			return nil, &RedoParseError{LSN: w.Position(), RecordLSN: w.Position(), Err: ErrRedoMalformed,
				Reason: fmt.Sprintf("mini-transaction longer than %d bytes", w.opts.MaxGroupBytes)}
		}
		// Read at least as much again as is buffered, so a long group is re-parsed only
		// logarithmically often.
		w.fill(max(len(w.buf)-w.off, redoBlockPayload))
	}
}

// fill reads blocks until want more record bytes are buffered or endLSN is reached. A read or
// block failure is kept in w.failed and returned once the groups complete before it are out:
// reading ahead must not cost them their trust.
func (w *RedoWalker) fill(want int) {
	block := w.block[:]
	for added := 0; added < want && !w.done; {
		if _, err := io.ReadFull(w.r, block); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			w.failed = fmt.Errorf("redo walk: reading the block at lsn %d (the walk ends at %d): %w", w.blockLSN, w.endLSN, err)
			return
		}
		n, err := w.addBlock(block)
		if err != nil {
			w.failed = err
			return
		}
		added += n
	}
}

// failure returns w.failed, a block's RedoParseError moved to the current position.
func (w *RedoWalker) failure() error {
	var perr *RedoParseError
	if errors.As(w.failed, &perr) {
		perr.LSN = w.Position()
	}
	return w.failed
}

// addBlock checks the block at w.blockLSN and appends its record bytes that lie between the
// end of the buffer and endLSN. A block that is not full before endLSN is the end of the log:
// its bytes are kept, and the error says the log ends too early.
func (w *RedoWalker) addBlock(b []byte) (int, error) {
	lsn := w.blockLSN
	h, err := CheckRedoBlockAt(b, lsn)
	if err != nil {
		return 0, w.blockError(lsn, ErrRedoBlock, err.Error())
	}
	if h.Encrypted {
		return 0, w.blockError(lsn, ErrRedoEncrypted, fmt.Sprintf("block at lsn %d", lsn))
	}
	w.blockLSN += RedoBlockSize
	w.firstRecGroup[lsn] = h.FirstRecGroup
	blockSN := redoSN(lsn + RedoBlockHeaderSize)
	dataEndSN := blockSN + uint64(min(h.DataLen, redoChecksumOffset)) - RedoBlockHeaderSize
	have := w.groupSN + uint64(len(w.buf)-w.off)
	lo, hi := max(have, blockSN), min(dataEndSN, w.endSN)
	if hi > lo {
		w.buf = append(w.buf, b[RedoBlockHeaderSize+lo-blockSN:RedoBlockHeaderSize+hi-blockSN]...)
	}
	w.done = have+(max(hi, lo)-lo) >= w.endSN
	if dataEndSN < min(blockSN+redoBlockPayload, w.endSN) {
		return 0, w.blockError(lsn, ErrRedoBlock, fmt.Sprintf("the log ends at lsn %d, before the end of the walk at %d", redoLSN(dataEndSN), w.endLSN))
	}
	return int(max(hi, lo) - lo), nil
}

// finish hands out the group of n bytes that parseGroup found at w.buf[w.off:], after
// checking it against first_rec_group.
func (w *RedoWalker) finish(g *RedoGroup, n int) (*RedoGroup, error) {
	startSN := w.groupSN
	g.StartLSN, g.EndLSN = redoLSN(startSN), redoLSN(startSN+uint64(n))
	for i := range g.Records {
		rec := &g.Records[i]
		rec.StartLSN, rec.EndLSN = redoLSN(startSN+rec.StartLSN), redoLSN(startSN+rec.EndLSN)
	}
	if err := w.checkFirstRecGroup(g); err != nil {
		return nil, err
	}
	w.groupSN += uint64(n)
	w.off += n
	if w.off >= len(w.buf)/2 { // move the unparsed rest to the front, reusing the buffer
		w.buf = w.buf[:copy(w.buf, w.buf[w.off:])]
		w.off = 0
	}
	return g, nil
}

// checkFirstRecGroup checks that no group starts in the blocks a group spans beyond its first,
// and that the block where the next group starts names it, if the walker has read that block.
func (w *RedoWalker) checkFirstRecGroup(g *RedoGroup) error {
	first := g.StartLSN / RedoBlockSize * RedoBlockSize
	last := g.EndLSN / RedoBlockSize * RedoBlockSize
	for blk := first + RedoBlockSize; blk <= last; blk += RedoBlockSize {
		frg, ok := w.firstRecGroup[blk]
		if !ok {
			continue
		}
		want := uint16(0)
		if blk == last {
			want = uint16(g.EndLSN - last)
		}
		if frg != want && !(blk == last && g.EndLSN >= w.endLSN) {
			return &RedoParseError{LSN: g.StartLSN, RecordLSN: blk, Err: ErrRedoMalformed,
				Reason: fmt.Sprintf("the group parsed ends at lsn %d, but the block at lsn %d has first_rec_group %d, not %d", g.EndLSN, blk, frg, want)}
		}
	}
	for blk := range w.firstRecGroup {
		if blk < last {
			delete(w.firstRecGroup, blk)
		}
	}
	return nil
}

func (w *RedoWalker) blockError(lsn uint64, class error, reason string) error {
	return &RedoParseError{LSN: w.Position(), RecordLSN: lsn, Err: class, Reason: reason}
}

// recordError turns a failure of parseGroup into a RedoParseError with LSNs.
func (w *RedoWalker) recordError(err error) error {
	var ge *groupError
	if !errors.As(err, &ge) {
		return &RedoParseError{LSN: w.Position(), RecordLSN: w.Position(), Err: ErrRedoMalformed, Reason: err.Error()}
	}
	class := ErrRedoMalformed
	var unknown unknownType
	if errors.As(ge.err, &unknown) {
		class = ErrRedoUnknownRecord
	}
	return &RedoParseError{LSN: w.Position(), RecordLSN: redoLSN(w.groupSN + uint64(ge.off)), Type: ge.typeByte,
		Err: class, Reason: ge.err.Error()}
}

// groupError is a record that failed to parse, at offset off of the group.
type groupError struct {
	off      int
	typeByte uint8
	err      error
}

func (e *groupError) Error() string { return e.err.Error() }
func (e *groupError) Unwrap() error { return e.err }

// parseGroup parses the group at the start of b. Record LSNs are returned as offsets into b.
// It returns errRecordShort (possibly wrapped) if b ends inside the group.
func parseGroup(b []byte, pageSize int) (*RedoGroup, int, error) {
	g := &RedoGroup{}
	n, err := parseGroupInto(g, b, pageSize)
	if err != nil {
		return nil, 0, err
	}
	return g, n, nil
}

// parseGroupInto is parseGroup reusing g and its record slice.
func parseGroupInto(g *RedoGroup, b []byte, pageSize int) (int, error) {
	g.Records = g.Records[:0]
	if len(b) == 0 {
		return 0, errRecordShort
	}
	single := b[0] == uint8(MlogDummyRecord) || b[0]&mlogSingleRecFlag != 0
	for off := 0; ; {
		rec, n, err := parseRecord(b[off:], pageSize)
		if err == nil && !single && off > 0 && b[off]&mlogSingleRecFlag != 0 {
			err = malformed("MLOG_SINGLE_REC_FLAG on a record inside a multi-record group")
		}
		if err != nil {
			if errors.Is(err, errRecordShort) {
				return 0, err
			}
			return 0, &groupError{off: off, typeByte: b[off], err: err}
		}
		rec.StartLSN, rec.EndLSN = uint64(off), uint64(off+n)
		g.Records = append(g.Records, rec)
		off += n
		if single || rec.Type == MlogMultiRecEnd {
			return off, nil
		}
	}
}

// parseRecord parses one record at the start of b and returns it and its length.
func parseRecord(b []byte, pageSize int) (RedoRecord, int, error) {
	r := &recReader{b: b, pageSize: pageSize}
	if len(b) > 0 {
		switch b[0] {
		case uint8(MlogMultiRecEnd) | mlogSingleRecFlag, uint8(MlogDummyRecord) | mlogSingleRecFlag:
			return RedoRecord{}, 0, malformed("MLOG_SINGLE_REC_FLAG on a group marker")
		}
	}
	var rec RedoRecord
	parseRecordHeader(r, &rec)
	parseRecordBody(r, &rec)
	if r.err != nil {
		return RedoRecord{}, 0, r.err
	}
	return rec, r.off, nil
}

// SpaceEvent is a record that concerns a whole tablespace.
type SpaceEvent struct {
	Type          RedoRecordType // MLOG_FILE_CREATE, _DELETE, _RENAME, _EXTEND or MLOG_INDEX_LOAD
	Space         uint32
	LSN           uint64 // end of the mini-transaction
	Name, NewName string
}

// RedoChangeHandler receives what ChangedPages finds. Page gets every page a record changes,
// with the end LSN of its mini-transaction (the FIL_PAGE_LSN the change gives the page); Space
// gets the whole-space events. Either may be nil.
type RedoChangeHandler struct {
	Page  func(space, page uint32, lsn uint64)
	Space func(SpaceEvent)
}

// ChangedPages walks the redo in r (blocks from blockLSN on, format as in the file header) from
// startLSN to endLSN and reports every changed page and whole-space event, one complete group at
// a time: nothing of a group that fails to parse is reported. It returns the LSN it parsed up
// to — endLSN, or the start of a group that runs past it. On error that LSN is where the
// untrusted range starts.
func ChangedPages(r io.Reader, format uint32, blockLSN, startLSN, endLSN uint64, opts RedoParseOptions, h RedoChangeHandler) (uint64, error) {
	w, err := NewRedoWalker(r, format, blockLSN, startLSN, endLSN, opts)
	if err != nil {
		return startLSN, err
	}
	for {
		g, err := w.Next()
		if err != nil || g == nil {
			return w.Position(), err
		}
		for _, rec := range g.Records {
			switch rec.Type.Kind() {
			case RedoPageChange:
				if h.Page != nil {
					h.Page(rec.Space, rec.Page, g.EndLSN)
				}
			case RedoSpaceEvent:
				if h.Space != nil {
					h.Space(SpaceEvent{Type: rec.Type, Space: rec.Space, LSN: g.EndLSN, Name: rec.Name, NewName: rec.NewName})
				}
			}
		}
	}
}
