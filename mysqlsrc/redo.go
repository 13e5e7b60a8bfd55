package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/shared"
)

// redoFollower copies the redo log from a start LSN onwards while the server writes it. The
// redo lives in a ring of #innodb_redo/#ib_redo<N> files that the server recycles (renames to
// _tmp and reuses), so the follower must stay ahead of the checkpoint: if a block it still
// needs has been overwritten, the backup cannot be made consistent and fails (overrun).
//
// A block is taken only when its checksum, block number and epoch all match the LSN it is read
// for; anything else is not written yet, torn, or stale data from a recycled file. Whole
// blocks go to a spool file; the live tail block (data_len < 512) is kept aside and re-read
// until it fills or covers the end point.
type redoFollower struct {
	dir      string
	log      hclog.Logger
	capacity int64
	// delay slows every read; only the overrun test sets it (PAGETRACK_TEST_REDO_DELAY).
	delay time.Duration

	spool    *os.File
	startLSN uint64 // block-aligned LSN of the spool's first byte
	mu       sync.Mutex
	cond     *sync.Cond
	next     uint64 // LSN of the first block not yet in the spool
	tail     []byte // the live block at next, if one was seen (validated), else nil
	tailLen  uint16 // its data_len
	// key decrypts encrypted blocks for checking (they are spooled as read); nil when the redo
	// log carries no encryption information. encryption is its header block, for the Header.
	key        *innodb.TablespaceKey
	encryption []byte
	err        error
	stopped    bool
	files      []redoFile
	cur        *openRedoFile
	blockBuf   []byte
	rescans    int
	polls      int
	blocksOut  uint64
}

type redoFile struct {
	id    uint64
	path  string
	start uint64 // LSN at file offset 2048
	end   uint64 // exclusive
}

type openRedoFile struct {
	redoFile
	f *os.File
}

var redoFileName = regexp.MustCompile(`^#ib_redo(\d+)$`)

// ErrRedoOverrun means the server recycled redo the backup still needed.
var ErrRedoOverrun = errors.New("redo log overrun")

const redoReadChunk = 64 << 10

func startRedoFollower(ctx context.Context, log hclog.Logger, datadir, spoolDir string, checkpoint uint64, capacity int64, keys *backupKeys) (*redoFollower, error) {
	spool, err := os.CreateTemp(spoolDir, "pagetrack-redo-*.spool")
	if err != nil {
		return nil, fmt.Errorf("creating the redo spool in %s (set spool_dir to a writable directory): %w", spoolDir, err)
	}
	os.Remove(spool.Name()) // unlinked: nothing is left behind whatever happens
	start := checkpoint / innodb.RedoBlockSize * innodb.RedoBlockSize
	r := &redoFollower{
		dir: filepath.Join(datadir, "#innodb_redo"), log: log, capacity: capacity,
		spool: spool, startLSN: start, next: start, blockBuf: make([]byte, redoReadChunk),
	}
	if d := os.Getenv("PAGETRACK_TEST_REDO_DELAY"); d != "" {
		if r.delay, err = time.ParseDuration(d); err != nil {
			spool.Close()
			return nil, fmt.Errorf("PAGETRACK_TEST_REDO_DELAY=%q: %w", d, err)
		}
	}
	r.cond = sync.NewCond(&r.mu)
	if err := r.readEncryption(keys); err != nil {
		spool.Close()
		return nil, err
	}
	// The first read happens before returning, so that a checkpoint whose redo is already gone
	// fails at once.
	if err := r.step(); err != nil {
		spool.Close()
		return nil, err
	}
	go r.run(ctx)
	return r, nil
}

func (r *redoFollower) run(ctx context.Context) {
	idle := time.NewTicker(time.Millisecond)
	defer idle.Stop()
	for {
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped {
			return
		}
		before := r.position()
		if err := r.step(); err != nil {
			r.fail(err)
			return
		}
		if r.position() != before {
			continue
		}
		r.polls++
		select {
		case <-ctx.Done():
			r.fail(ctx.Err())
			return
		case <-idle.C:
		}
	}
}

func (r *redoFollower) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cond.Broadcast()
}

// position is the captured end: the next block's LSN plus what the tail block holds.
func (r *redoFollower) position() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.capturedLocked()
}

func (r *redoFollower) capturedLocked() uint64 {
	if r.tail != nil {
		return r.next + uint64(r.tailLen)
	}
	return r.next
}

// step reads as many new blocks as the log has now.
func (r *redoFollower) step() error {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if r.cur == nil || r.next >= r.cur.end {
		ok, err := r.openFileFor(r.next)
		if err != nil || !ok {
			return err
		}
	}
	n := min(uint64(len(r.blockBuf)), r.cur.end-r.next)
	buf := r.blockBuf[:n]
	got, err := r.cur.f.ReadAt(buf, int64(innodb.RedoDataOffset+r.next-r.cur.start))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading redo file %s: %w", r.cur.path, err)
	}
	buf = buf[:got/innodb.RedoBlockSize*innodb.RedoBlockSize]
	var full []byte
	var tail []byte
	var tailLen uint16
	lsn := r.next
	for off := 0; off < len(buf); off += innodb.RedoBlockSize {
		block := buf[off : off+innodb.RedoBlockSize]
		h, err := r.checkBlock(block, lsn)
		if errors.Is(err, errRedoUnreadable) {
			return err
		}
		if err != nil {
			break // not written yet, torn, or recycled: decided below
		}
		if h.DataLen < innodb.RedoBlockSize {
			tail, tailLen = append([]byte(nil), block...), h.DataLen
			break
		}
		lsn += innodb.RedoBlockSize
	}
	full = buf[:lsn-r.next]
	if len(full) > 0 {
		if _, err := r.spool.Write(full); err != nil {
			return fmt.Errorf("writing the redo spool: %w", err)
		}
	}
	r.mu.Lock()
	r.next = lsn
	if tail != nil || len(full) > 0 {
		r.tail, r.tailLen = tail, tailLen
	}
	r.blocksOut += uint64(len(full) / innodb.RedoBlockSize)
	r.mu.Unlock()
	if len(full) > 0 || tail != nil {
		r.cond.Broadcast()
		return nil
	}
	// Nothing valid at next: the file may have been recycled under us.
	return r.checkRecycled()
}

// errRedoUnreadable marks a block the follower can never check, as opposed to one not written
// yet: waiting would never end.
var errRedoUnreadable = errors.New("redo block cannot be checked")

// checkBlock checks the block read for lsn; an encrypted one is checked decrypted.
func (r *redoFollower) checkBlock(block []byte, lsn uint64) (innodb.RedoBlockHeader, error) {
	if !innodb.RedoBlockEncrypted(block) {
		return innodb.CheckRedoBlockAt(block, lsn)
	}
	if r.key == nil {
		if _, err := innodb.CheckRedoBlockAt(block, lsn); errors.Is(err, innodb.ErrBlockMismatch) {
			return innodb.RedoBlockHeader{}, err // stale: not the block for lsn anyway
		}
		return innodb.RedoBlockHeader{}, fmt.Errorf("%w: the redo block at LSN %d is encrypted, but the redo files carried no encryption information when the backup started", errRedoUnreadable, lsn)
	}
	plain, err := innodb.DecryptRedoBlock(block, r.key)
	if err != nil {
		return innodb.RedoBlockHeader{}, err
	}
	return innodb.CheckRedoBlockAt(plain, lsn)
}

// readEncryption reads the redo log's encryption information and unseals the redo key. The
// server keeps the record in the file holding the checkpoint (re-sealed there at a rotation)
// and writes it into each file the checkpoint moves into; consumed files keep theirs until
// recycled, sealed with the master key of their time (measured: see doc.go). Every record seals
// the same redo key; the one sealed with the newest master key is used and shipped, so a restore
// needs only that key.
func (r *redoFollower) readEncryption(keys *backupKeys) error {
	if err := r.scan(); err != nil {
		return err
	}
	var newest string
	var newestID uint32
	for _, f := range r.files {
		id, ok, err := redoMasterKeyID(f.path)
		if err != nil {
			return err
		}
		if ok && (newest == "" || id > newestID) {
			newest, newestID = f.path, id
		}
	}
	if newest == "" {
		return nil
	}
	block, key, err := keys.redoEncryption(newest)
	if err != nil {
		return err
	}
	r.encryption, r.key = block, key
	r.log.Debug("redo encryption information", "file", filepath.Base(newest), "master_key_id", newestID)
	return nil
}

// redoMasterKeyID reads which master key seals the encryption record of a redo file, if it
// has one. A file recycled since the scan has none.
func redoMasterKeyID(path string) (uint32, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	head := make([]byte, 1024+innodb.RedoBlockSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return 0, false, fmt.Errorf("reading the head of %s: %w", path, err)
	}
	info, err := innodb.ParseRedoEncryptionInfo(head)
	if errors.Is(err, innodb.ErrNoEncryptionInfo) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("redo log %s: %w", filepath.Base(path), err)
	}
	return info.MasterKeyID, true, nil
}

// checkRecycled re-reads the open file's header: a new start LSN means the server reused the
// file, so the directory is rescanned (which reports an overrun if next is gone).
func (r *redoFollower) checkRecycled() error {
	head := make([]byte, innodb.RedoBlockSize)
	if _, err := r.cur.f.ReadAt(head, 0); err == nil {
		if h, err := innodb.ParseRedoFileHeader(head); err == nil && h.StartLSN == r.cur.start {
			return nil // same file; the block is simply not written yet
		}
	}
	r.cur.f.Close()
	r.cur = nil
	_, err := r.openFileFor(r.next)
	return err
}

// openFileFor finds and opens the file holding lsn. It returns false when no file holds it yet.
func (r *redoFollower) openFileFor(lsn uint64) (bool, error) {
	if r.cur != nil {
		r.cur.f.Close()
		r.cur = nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 1 || r.files == nil {
			if err := r.scan(); err != nil {
				return false, err
			}
		}
		if len(r.files) > 0 && lsn < r.files[0].start {
			return false, r.overrun(lsn)
		}
		for _, rf := range r.files {
			if lsn < rf.start || lsn >= rf.end {
				continue
			}
			f, err := os.Open(rf.path)
			if err != nil {
				break // renamed away since the scan: rescan
			}
			head := make([]byte, innodb.RedoBlockSize)
			if _, err := f.ReadAt(head, 0); err != nil {
				f.Close()
				break
			}
			if h, err := innodb.ParseRedoFileHeader(head); err != nil || h.StartLSN != rf.start {
				f.Close()
				break // reused since the scan: rescan
			}
			r.cur = &openRedoFile{redoFile: rf, f: f}
			return true, nil
		}
	}
	return false, nil
}

func (r *redoFollower) overrun(lsn uint64) error {
	return fmt.Errorf("%w: the server recycled the redo log past LSN %d before the backup copied it (oldest redo now starts at LSN %d; innodb_redo_log_capacity is %d bytes). Raise innodb_redo_log_capacity, or take the backup when the write load is lower; this backup is not usable",
		ErrRedoOverrun, lsn, r.files[0].start, r.capacity)
}

// scan lists the redo files in use with their LSN ranges, oldest first.
func (r *redoFollower) scan() error {
	r.rescans++
	var files []redoFile
	err := forEachRedoFile(r.dir, innodb.RedoBlockSize, func(id uint64, path string, size int64, head []byte) {
		h, err := innodb.ParseRedoFileHeader(head)
		if err != nil {
			return // being rewritten
		}
		files = append(files, redoFile{id: id, path: path, start: h.StartLSN, end: h.StartLSN + uint64(size) - innodb.RedoDataOffset})
	})
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].start < files[j].start })
	r.files = files
	return nil
}

// forEachRedoFile calls fn with the id, path, size and first headLen bytes of every #ib_redoN
// file in dir (head is reused between calls). A file the server recycles or rewrites while it
// is read is left out: the callers rescan.
func forEachRedoFile(dir string, headLen int, fn func(id uint64, path string, size int64, head []byte)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	head := make([]byte, headLen)
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
		fn(id, path, st.Size(), head)
	}
	return nil
}

// waitFor blocks until the captured redo reaches end, the follower fails or ctx ends.
func (r *redoFollower) waitFor(ctx context.Context, end uint64) error {
	stop := context.AfterFunc(ctx, func() { r.cond.Broadcast() })
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.capturedLocked() < end {
		if r.err != nil {
			return r.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.cond.Wait()
	}
	return nil
}

// stop ends following. After stop the spool and tail can be read.
func (r *redoFollower) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// close releases the spool and the open redo file.
func (r *redoFollower) close() {
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spool.Close()
}

// emit sends the captured redo from the start block through the block that holds end, in
// records of at most MaxPayloadBytes. It must run after waitFor(end) and stop.
func (r *redoFollower) emit(ctx context.Context, end uint64, send func(context.Context, *shared.Record) error) (uint64, error) {
	r.mu.Lock()
	next, tail := r.next, r.tail
	r.mu.Unlock()
	last := end / innodb.RedoBlockSize * innodb.RedoBlockSize // the block holding end
	spooled := min(next, last+innodb.RedoBlockSize) - r.startLSN
	chunk := uint64(shared.MaxPayloadBytes / innodb.RedoBlockSize * innodb.RedoBlockSize)
	var sent uint64
	for off := uint64(0); off < spooled; off += chunk {
		n := min(chunk, spooled-off)
		buf := make([]byte, n)
		if _, err := r.spool.ReadAt(buf, int64(off)); err != nil {
			return sent, fmt.Errorf("reading the redo spool: %w", err)
		}
		if err := send(ctx, &shared.Record{Redo: &shared.RedoSegment{StartLSN: r.startLSN + off, Data: buf}}); err != nil {
			return sent, err
		}
		sent += n
	}
	if next <= last { // the block holding end is the live tail
		if tail == nil {
			return sent, fmt.Errorf("internal error: redo block at LSN %d holding the end point %d was not captured", last, end)
		}
		if err := send(ctx, &shared.Record{Redo: &shared.RedoSegment{StartLSN: next, Data: tail}}); err != nil {
			return sent, err
		}
		sent += uint64(len(tail))
	}
	r.log.Debug("redo follower done", "blocks", r.blocksOut, "rescans", r.rescans, "polls", r.polls, "bytes", exact(sent))
	return sent, nil
}
