package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// Torn reads are rare (seen only with innodb_flush_method=fsync, and one re-read fixed each);
// a page that stays invalid after this many re-reads is really damaged.
const (
	rereadTries = 200
	rereadPause = 5 * time.Millisecond
)

// readDepth is how many reads one worker keeps in flight for a group of scattered ranges: the
// disk serves random reads about twice as fast at 32 in flight as at 2 (measured, see
// doc.go), and a worker per file would give only `parallelism`.
const readDepth = 16

// pageRange is a run of pages of one file to read. With keep set, only the pages it accepts
// are sent (the page-LSN scan of an incremental, or a read merged across a small gap); the
// others are read and dropped.
type pageRange struct {
	file  *tablespaceFile
	first uint64
	count uint64
	keep  func(pageNo uint64, page []byte) bool
}

// pageCopier reads page ranges, validates every page and emits PageBatch records.
type pageCopier struct {
	emit       func(context.Context, *shared.Record) error
	keys       *backupKeys  // checks that copied page 0s name only keys the Header lists
	limit      *readLimiter // nil: page reads are not throttled
	totalPages uint64       // for progress records
	totalBytes uint64
	batches    atomic.Uint64
	maxPageLSN atomic.Uint64
	pages      atomic.Uint64
	bytes      atomic.Uint64
	rereads    atomic.Uint64
	readBytes  atomic.Uint64
	readPages  atomic.Uint64
	records    atomic.Uint64 // PageBatch records emitted
}

// batchPages is how many pages of a given size fit one record.
func batchPages(pageSize int) uint64 { return uint64(shared.MaxPayloadBytes / pageSize) }

// split cuts [first, first+count) into record-sized ranges.
func split(f *tablespaceFile, first, count uint64) []pageRange {
	var out []pageRange
	n := batchPages(f.pageSize)
	for count > 0 {
		c := min(n, count)
		out = append(out, pageRange{file: f, first: first, count: c})
		first += c
		count -= c
	}
	return out
}

// groupRanges joins consecutive ranges of the same file into groups of at most one record's
// pages: a group is read with several reads in flight and sent as one PageBatch (with a
// page-number list when its pages are not contiguous), so scattered changed pages cost one
// record per ~1 MiB, not one per page. Whole-file ranges are record-sized and stay alone.
func groupRanges(ranges []pageRange) [][]pageRange {
	var out [][]pageRange
	var pages uint64
	for i, r := range ranges {
		if n := len(out); n > 0 {
			last := out[n-1]
			if last[0].file == r.file && pages+r.count <= batchPages(r.file.pageSize) {
				out[n-1] = ranges[i-len(last) : i+1 : i+1]
				pages += r.count
				continue
			}
		}
		out = append(out, ranges[i:i+1:i+1])
		pages = r.count
	}
	return out
}

// copyRanges copies ranges with parallelism workers.
func (c *pageCopier) copyRanges(ctx context.Context, ranges []pageRange, parallelism int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan []pageRange)
	var wg sync.WaitGroup
	for range parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files := openFiles{}
			defer files.close()
			for g := range work {
				f, err := files.open(g)
				if err == nil {
					err = c.copyGroup(ctx, f, g)
				}
				if err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, g := range groupRanges(ranges) {
		select {
		case work <- g:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// openFiles are a worker's open tablespace files, each with the readahead advice its reads
// need: sequential for record-sized ranges (whole files, page-LSN scans), none for scattered
// pages, which would otherwise make the kernel read 128 KiB around each 16 KiB page.
type openFiles map[*tablespaceFile]*advisedFile

type advisedFile struct {
	f      *os.File
	advice int
}

func (o openFiles) open(g []pageRange) (*os.File, error) {
	tf := g[0].file
	af := o[tf]
	if af == nil {
		f, err := os.Open(tf.abs)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", tf.rel, err)
		}
		af = &advisedFile{f: f, advice: -1}
		o[tf] = af
	}
	advice := unix.FADV_RANDOM
	if len(g) == 1 && g[0].count == batchPages(tf.pageSize) {
		advice = unix.FADV_SEQUENTIAL
	}
	if advice != af.advice {
		_ = unix.Fadvise(int(af.f.Fd()), 0, 0, advice) // advice only: a file system without it reads as before
		af.advice = advice
	}
	return af.f, nil
}

func (o openFiles) close() {
	for _, af := range o {
		af.f.Close()
	}
}

// copyGroup reads a group's ranges into one buffer (several reads in flight), validates every
// page it sends, drops those a range's keep refuses and emits the rest as one PageBatch.
func (c *pageCopier) copyGroup(ctx context.Context, f *os.File, g []pageRange) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	file, size := g[0].file, g[0].file.pageSize
	var total uint64
	for _, r := range g {
		total += r.count
	}
	buf := make([]byte, int(total)*size)
	if err := c.readGroup(ctx, f, g, buf); err != nil {
		return err
	}
	zip := file.page0.Flags.ZipSize() != 0
	var maxLSN uint64
	nums := make([]uint32, 0, total)
	kept, at := 0, 0 // bytes kept (packed at the front of buf), position of the current page
	for _, r := range g {
		for i := range r.count {
			page, pageNo := buf[at:at+size], r.first+i
			at += size
			ok, lsn, err := c.checkPage(ctx, f, r, pageNo, page, zip)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			maxLSN = max(maxLSN, lsn)
			copy(buf[kept:], page) // a no-op until a page was dropped
			kept += size
			nums = append(nums, uint32(pageNo))
		}
	}
	c.raiseMaxLSN(maxLSN)
	if len(nums) > 0 {
		if err := c.emitPages(ctx, file, nums, buf[:kept]); err != nil {
			return err
		}
	}
	return c.progress(ctx)
}

// checkPage validates one page read (re-reading a torn one) and says whether it is sent.
func (c *pageCopier) checkPage(ctx context.Context, f *os.File, r pageRange, pageNo uint64, page []byte, zip bool) (bool, uint64, error) {
	if r.keep != nil && !r.keep(pageNo, page) {
		return false, 0, nil // read through, not sent: no need to validate it
	}
	if innodb.IsZeroPage(page) {
		return true, 0, nil
	}
	if err := validatePage(page, zip, r.file); err != nil {
		if errors.Is(err, innodb.ErrEncryptedPage) { // re-reading cannot help; not damage either
			return false, 0, fmt.Errorf("%s page %d (space %d) is encrypted, but its page 0 was not (encrypted since discovery?); take the backup again", r.file.rel, pageNo, r.file.page0.SpaceID)
		}
		if err := c.reread(ctx, f, r.file, pageNo, page, zip, err); err != nil {
			return false, 0, err
		}
		if r.keep != nil && !r.keep(pageNo, page) { // decided again on the good copy
			return false, 0, nil
		}
	}
	if pageNo == 0 && r.file.key != nil {
		if err := c.keys.checkPage0Key(page, r.file.rel); err != nil {
			return false, 0, err
		}
	}
	return true, innodb.PageLSN(page), nil
}

// readGroup reads every range of g into its place in buf, up to readDepth reads at once.
func (c *pageCopier) readGroup(ctx context.Context, f *os.File, g []pageRange, buf []byte) error {
	size := g[0].file.pageSize
	read := func(r pageRange, dst []byte) error {
		if err := c.limit.wait(ctx, len(dst)); err != nil {
			return err
		}
		n, err := f.ReadAt(dst, int64(r.first)*int64(size))
		c.readBytes.Add(uint64(n))
		c.readPages.Add(r.count)
		if err != nil && n < len(dst) {
			return fmt.Errorf("reading %s pages %d..%d: %w", r.file.rel, r.first, r.first+r.count-1, err)
		}
		return nil
	}
	if len(g) == 1 {
		return read(g[0], buf)
	}
	sem := make(chan struct{}, readDepth)
	errs := make(chan error, len(g))
	at := 0
	for _, r := range g {
		dst := buf[at : at+int(r.count)*size]
		at += len(dst)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- read(r, dst)
		}()
	}
	var first error
	for range g {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *pageCopier) raiseMaxLSN(lsn uint64) {
	for {
		cur := c.maxPageLSN.Load()
		if lsn <= cur || c.maxPageLSN.CompareAndSwap(cur, lsn) {
			return
		}
	}
}

// emitPages sends pages nums (ascending) of file as one PageBatch: a plain one when they are
// contiguous, else one with a page-number list (stream format 3).
func (c *pageCopier) emitPages(ctx context.Context, file *tablespaceFile, nums []uint32, data []byte) error {
	batch := &shared.PageBatch{FileIndex: file.index, FirstPage: uint64(nums[0]), Data: data}
	if uint64(nums[len(nums)-1]-nums[0]) != uint64(len(nums)-1) {
		batch.PageNumbers = slices.Clip(nums)
	}
	c.pages.Add(uint64(len(nums)))
	c.bytes.Add(uint64(len(data)))
	c.records.Add(1)
	return c.emit(ctx, &shared.Record{Pages: batch})
}

func (c *pageCopier) progress(ctx context.Context) error {
	pages, bytes := c.readPages.Load(), c.readBytes.Load()
	if c.batches.Add(1)%progressEvery != 0 {
		return nil
	}
	return c.emit(ctx, &shared.Record{Progress: &shared.Progress{Phase: "pages",
		PagesDone: pages, PagesTotal: max(pages, c.totalPages), BytesDone: bytes, BytesTotal: max(bytes, c.totalBytes)}})
}

// progressEvery is how many page batches (about 1 MiB each) pass between progress records.
const progressEvery = 16

// reread reads one page again until it validates: a page read while InnoDB writes it can be
// torn, and a torn page in a backup makes recovery hang.
func (c *pageCopier) reread(ctx context.Context, f *os.File, file *tablespaceFile, pageNo uint64, page []byte, zip bool, first error) error {
	last := first
	for try := 0; try < rereadTries; try++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(rereadPause):
		}
		c.rereads.Add(1)
		if err := c.limit.wait(ctx, len(page)); err != nil {
			return err
		}
		if _, err := f.ReadAt(page, int64(pageNo)*int64(file.pageSize)); err != nil {
			return fmt.Errorf("re-reading %s page %d: %w", file.rel, pageNo, err)
		}
		c.readBytes.Add(uint64(len(page)))
		if innodb.IsZeroPage(page) {
			return nil
		}
		if last = validatePage(page, zip, file); last == nil {
			return nil
		}
	}
	return fmt.Errorf("%s page %d (space %d) fails its checksum after %d re-reads: %v; the file is damaged on disk — run CHECK TABLE on the server and repair it before backing up",
		file.rel, pageNo, file.page0.SpaceID, rereadTries, last)
}

// validatePage checks a page as InnoDB does on read: the pages of an encrypted tablespace are
// decrypted with its key first (a copy, the page itself is sent as read), since their checksum
// covers the plaintext and a torn read only shows once decrypted.
func validatePage(page []byte, zip bool, file *tablespaceFile) error {
	if file.key == nil {
		return innodb.ValidatePage(page, zip)
	}
	_, err := innodb.EncryptedPageChecksumKind(page, zip, file.key)
	return err
}
