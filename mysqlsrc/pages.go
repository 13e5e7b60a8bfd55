package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// Torn reads are rare (seen only with innodb_flush_method=fsync, and one re-read fixed each);
// a page that stays invalid after this many re-reads is really damaged.
const (
	rereadTries = 200
	rereadPause = 5 * time.Millisecond
)

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
	keys       *backupKeys // checks that copied page 0s name only keys the Header lists
	totalPages uint64      // for progress records
	totalBytes uint64
	batches    atomic.Uint64
	maxPageLSN atomic.Uint64
	pages      atomic.Uint64
	bytes      atomic.Uint64
	rereads    atomic.Uint64
	readBytes  atomic.Uint64
	readPages  atomic.Uint64
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

// copyRanges copies ranges with parallelism workers.
func (c *pageCopier) copyRanges(ctx context.Context, ranges []pageRange, parallelism int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan pageRange)
	var wg sync.WaitGroup
	for range parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files := map[string]*os.File{}
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			for r := range work {
				f := files[r.file.abs]
				if f == nil {
					var err error
					if f, err = os.Open(r.file.abs); err != nil {
						cancel(fmt.Errorf("opening %s: %w", r.file.rel, err))
						continue
					}
					files[r.file.abs] = f
				}
				if err := c.copyRange(ctx, f, r); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, r := range ranges {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

func (c *pageCopier) copyRange(ctx context.Context, f *os.File, r pageRange) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	size := r.file.pageSize
	buf := make([]byte, int(r.count)*size)
	off := int64(r.first) * int64(size)
	n, err := f.ReadAt(buf, off)
	c.readBytes.Add(uint64(n))
	c.readPages.Add(r.count)
	if err != nil && n < len(buf) {
		return fmt.Errorf("reading %s pages %d..%d: %w", r.file.rel, r.first, r.first+r.count-1, err)
	}
	zip := r.file.page0.Flags.ZipSize() != 0
	var maxLSN uint64
	var kept []bool // nil: every page is sent
	if r.keep != nil {
		kept = make([]bool, r.count)
	}
	for i := range int(r.count) {
		page := buf[i*size : (i+1)*size]
		pageNo := r.first + uint64(i)
		if kept != nil {
			if kept[i] = r.keep(pageNo, page); !kept[i] {
				continue // read through, not sent: no need to validate it
			}
		}
		if innodb.IsZeroPage(page) {
			continue
		}
		if err := validatePage(page, zip, r.file); err != nil {
			if errors.Is(err, innodb.ErrEncryptedPage) { // re-reading cannot help; not damage either
				return fmt.Errorf("%s page %d (space %d) is encrypted, but its page 0 was not (encrypted since discovery?); take the backup again", r.file.rel, pageNo, r.file.page0.SpaceID)
			}
			if err := c.reread(ctx, f, r.file, pageNo, page, zip, err); err != nil {
				return err
			}
			if kept != nil {
				kept[i] = r.keep(pageNo, page) // decided again on the good copy
			}
		}
		if pageNo == 0 && r.file.key != nil {
			if err := c.keys.checkPage0Key(page, r.file.rel); err != nil {
				return err
			}
		}
		maxLSN = max(maxLSN, innodb.PageLSN(page))
	}
	for {
		cur := c.maxPageLSN.Load()
		if maxLSN <= cur || c.maxPageLSN.CompareAndSwap(cur, maxLSN) {
			break
		}
	}
	for i := 0; i < int(r.count); {
		if kept != nil && !kept[i] {
			i++
			continue
		}
		j := i + 1
		for kept != nil && j < int(r.count) && kept[j] {
			j++
		}
		if kept == nil {
			j = int(r.count)
		}
		c.pages.Add(uint64(j - i))
		c.bytes.Add(uint64((j - i) * size))
		batch := &shared.PageBatch{FileIndex: r.file.index, FirstPage: r.first + uint64(i), Data: buf[i*size : j*size]}
		if err := c.emit(ctx, &shared.Record{Pages: batch}); err != nil {
			return err
		}
		i = j
	}
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
