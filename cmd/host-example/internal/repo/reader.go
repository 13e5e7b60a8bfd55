package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pagetrack/pagetrack/shared"
)

// restoreReaders is the number of goroutines reading blobs for a restore.
const restoreReaders = 4

// maxCoalesce bounds one read of adjacent blobs from a pack.
const maxCoalesce = 4 << 20

// blobReader reads blobs from pack files. It is used by one goroutine at a time; it keeps the
// pack files it read from open until close.
type blobReader struct {
	dir   string
	idx   *Index
	dec   *zstd.Decoder
	files map[int32]*os.File
	buf   []byte
	stats ReadStats
}

func newBlobReader(dir string, idx *Index) (*blobReader, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlobRaw))
	if err != nil {
		return nil, err
	}
	return &blobReader{dir: dir, idx: idx, dec: dec, files: map[int32]*os.File{}}, nil
}

func (r *blobReader) close() {
	for _, f := range r.files {
		f.Close()
	}
	r.files = nil
	r.dec.Close()
}

func (r *blobReader) pack(n int32) (*os.File, error) {
	if f := r.files[n]; f != nil {
		return f, nil
	}
	if len(r.files) >= 64 {
		for k, f := range r.files {
			f.Close()
			delete(r.files, k)
		}
	}
	p := r.idx.packs[n]
	f, err := os.Open(packPath(r.dir, p.id))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: pack %s is missing", ErrCorrupt, describePack(p.id))
		}
		return nil, err
	}
	r.files[n] = f
	return f, nil
}

// read returns the content of the blobs entries (index entry numbers), checked against their
// IDs. Blobs that lie back to back in one pack are read at once. On error, failed is the
// position in entries of the blob at fault.
func (r *blobReader) read(entries []int32, out [][]byte) (failed int, err error) {
	for k := 0; k < len(entries); {
		first := r.idx.entries[entries[k]]
		end := k + 1
		span := uint64(first.length)
		for end < len(entries) {
			e := r.idx.entries[entries[end]]
			prev := r.idx.entries[entries[end-1]]
			if e.pack != first.pack || e.offset != prev.offset+prev.length || span+uint64(e.length) > maxCoalesce {
				break
			}
			span += uint64(e.length)
			end++
		}
		f, err := r.pack(first.pack)
		if err != nil {
			return k, err
		}
		if cap(r.buf) < int(span) {
			r.buf = make([]byte, span)
		}
		buf := r.buf[:span]
		if _, err := f.ReadAt(buf, int64(first.offset)); err != nil {
			if errors.Is(err, io.EOF) {
				return k, fmt.Errorf("%w: pack %s ends before blob %s (offset %d): it is shorter than its index says", ErrCorrupt, describePack(r.idx.packs[first.pack].id), first.id.Short(), first.offset)
			}
			return k, fmt.Errorf("reading pack %s: %w", describePack(r.idx.packs[first.pack].id), err)
		}
		r.stats.PackReads++
		r.stats.PackBytes += span
		for off := uint64(0); k < end; k++ {
			e := r.idx.entries[entries[k]]
			data, err := r.decode(e, buf[off:off+uint64(e.length)])
			if err != nil {
				return k, err
			}
			off += uint64(e.length)
			out[k] = data
		}
	}
	return -1, nil
}

// decode decompresses one blob and checks it against its ID.
func (r *blobReader) decode(e blobEntry, comp []byte) ([]byte, error) {
	where := func() string {
		return fmt.Sprintf("blob %s in pack %s at offset %d", e.id.Short(), describePack(r.idx.packs[e.pack].id), e.offset)
	}
	data, err := r.dec.DecodeAll(comp, make([]byte, 0, e.raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not decompress: %v", ErrCorrupt, where(), err)
	}
	if len(data) != int(e.raw) || Hash(data) != e.id {
		return nil, fmt.Errorf("%w: %s: its content does not match its SHA-256", ErrCorrupt, where())
	}
	r.stats.RawBytes += uint64(len(data))
	switch e.typ {
	case BlobTree:
		r.stats.TreeBlobs++
	case BlobPage:
		r.stats.PageBlobs++
	default:
		r.stats.DataBlobs++
	}
	return data, nil
}

// readOne reads one blob by ID.
func (r *blobReader) readOne(id ID) ([]byte, error) {
	n := r.idx.lookup(id)
	if n < 0 {
		return nil, fmt.Errorf("%w: blob %s is missing from the index", ErrCorrupt, id.Short())
	}
	out := make([][]byte, 1)
	if _, err := r.read([]int32{n}, out); err != nil {
		return nil, err
	}
	return out[0], nil
}

// readTree reads the record list of snap: the content of its tree blobs, in order. It checks
// snap's metadata against the list's header and trailer (verifyRecordList).
func (r *blobReader) readTree(snap *Snapshot) ([][]byte, error) {
	if len(snap.Tree) == 0 {
		return nil, &DamageError{Snapshot: snap.ID, What: "its record list", Err: fmt.Errorf("%w: its metadata names no record-list blob", ErrCorrupt)}
	}
	out := make([][]byte, len(snap.Tree))
	for i, id := range snap.Tree {
		b, err := r.readOne(id)
		if err != nil {
			return nil, &DamageError{Snapshot: snap.ID, What: fmt.Sprintf("its record list (blob %d of %d)", i+1, len(snap.Tree)), Err: err}
		}
		out[i] = b
	}
	if err := verifyRecordList(snap, out[0], out[len(out)-1]); err != nil {
		return nil, err
	}
	return out, nil
}

// eachItem calls fn with every item of a record list.
func eachItem(snap string, tree [][]byte, fn func(*item) error) error {
	for i, b := range tree {
		tr := treeReader{b: b}
		for {
			it, err := tr.next()
			if err != nil {
				return &DamageError{Snapshot: snap, What: fmt.Sprintf("its record list (blob %d of %d)", i+1, len(tree)), Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
			}
			if it == nil {
				break
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// job is one record of a stream being read: its payload is the concatenation of blobs.
type job struct {
	rec   *shared.Record
	ids   []ID
	blobs []int32 // index entry numbers; -1 for a blob the index lacks
	size  uint64
	// describe names blob k's data for a DamageError: the snapshot whose record list refers
	// to it and what it is.
	describe func(k int) (snapshot, what string)
	done     chan struct{}
	err      error
}

// pipeline reads the records a producer describes with restoreReaders goroutines and hands
// them out in order.
type pipeline struct {
	ctx    context.Context
	cancel context.CancelFunc
	order  chan *job
	work   chan *job
	wg     sync.WaitGroup

	mu    sync.Mutex
	stats ReadStats

	err  error // sticky
	eof  bool
	once sync.Once
}

// startPipeline runs produce in a goroutine; produce calls emit with each record in order and
// stops when emit returns false.
func startPipeline(ctx context.Context, dir string, idx *Index, produce func(p *pipeline, emit func(*job) bool) error) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	p := &pipeline{ctx: ctx, cancel: cancel, order: make(chan *job, 4*restoreReaders), work: make(chan *job, restoreReaders)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.work)
		defer close(p.order)
		emit := func(j *job) bool {
			j.done = make(chan struct{})
			if len(j.blobs) == 0 {
				close(j.done)
			}
			select {
			case p.order <- j:
			case <-ctx.Done():
				return false
			}
			if len(j.blobs) > 0 {
				select {
				case p.work <- j:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}
		if err := produce(p, emit); err != nil {
			j := &job{err: err, done: make(chan struct{})}
			close(j.done)
			select {
			case p.order <- j:
			case <-ctx.Done():
			}
		}
	}()
	for i := 0; i < restoreReaders; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			r, err := newBlobReader(dir, idx)
			for j := range p.work {
				switch {
				case err != nil:
					j.err = err
				case ctx.Err() != nil:
					j.err = ctx.Err()
				default:
					j.err = r.fill(j)
				}
				close(j.done)
			}
			if r != nil {
				p.mu.Lock()
				p.stats.Add(r.stats)
				p.mu.Unlock()
				r.close()
			}
		}()
	}
	return p
}

// fill reads a job's blobs into its record's payload.
func (r *blobReader) fill(j *job) error {
	data := make([]byte, 0, j.size)
	parts := make([][]byte, len(j.blobs))
	// A blob the record holds twice (pages of zeros) is read once.
	var seen map[int32]int
	var todo []int32
	var at []int
	for k, n := range j.blobs {
		if n < 0 {
			snap, what := j.describe(k)
			return &DamageError{Snapshot: snap, What: what, Err: fmt.Errorf("%w: blob %s is missing from the index", ErrCorrupt, j.ids[k].Short())}
		}
		if _, ok := seen[n]; ok {
			continue
		}
		if seen == nil {
			seen = map[int32]int{}
		}
		seen[n] = k
		todo = append(todo, n)
		at = append(at, k)
	}
	out := make([][]byte, len(todo))
	if failed, err := r.read(todo, out); err != nil {
		snap, what := j.describe(at[failed])
		return &DamageError{Snapshot: snap, What: what, Err: err}
	}
	for i, k := range at {
		parts[k] = out[i]
	}
	for k, n := range j.blobs {
		if parts[k] == nil {
			parts[k] = parts[seen[n]]
		}
		data = append(data, parts[k]...)
	}
	if uint64(len(data)) != j.size {
		snap, what := j.describe(0)
		return &DamageError{Snapshot: snap, What: what, Err: fmt.Errorf("%w: its blobs hold %d bytes, the record list says %d", ErrCorrupt, len(data), j.size)}
	}
	setPayload(j.rec, data)
	return nil
}

// Next returns the next record in order.
func (p *pipeline) Next() (*shared.Record, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.eof {
		return nil, io.EOF
	}
	j, ok := <-p.order
	if !ok {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			return nil, err
		}
		p.eof = true
		return nil, io.EOF
	}
	select {
	case <-j.done:
	case <-p.ctx.Done():
		p.err = p.ctx.Err()
		return nil, p.err
	}
	if j.err != nil {
		p.err = j.err
		p.cancel()
		return nil, j.err
	}
	return j.rec, nil
}

// Close stops the readers and waits for them.
func (p *pipeline) Close() error {
	p.once.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
	return nil
}

// addStats adds what the producer read itself.
func (p *pipeline) addStats(s ReadStats) {
	p.mu.Lock()
	p.stats.Add(s)
	p.mu.Unlock()
}

// Stats is what the pipeline read so far (the readers' share once they are done).
func (p *pipeline) Stats() ReadStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// snapshot reads REPO/snapshots/ID.json.
func (l *Local) snapshot(id string) (*Snapshot, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%q is not a snapshot id", id)
	}
	data, err := os.ReadFile(l.snapshotPath(id))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no snapshot %s in %s", id, l.dir)
		}
		return nil, err
	}
	s, err := DecodeSnapshotFile(id, data)
	if err != nil {
		return nil, BadSnapshot{ID: id, Path: l.snapshotPath(id), Reason: fmt.Sprintf("its file %s: %v", l.snapshotPath(id), err)}
	}
	return s, nil
}

// OpenStream reads the snapshot's stream back as it was stored: its record list, each
// payload read from its blobs.
func (l *Local) OpenStream(ctx context.Context, id string) (StreamReader, error) {
	snap, err := l.snapshot(id)
	if err != nil {
		return nil, err
	}
	return l.OpenSnapshot(ctx, snap)
}

// OpenSnapshot is OpenStream for a snapshot already read.
func (l *Local) OpenSnapshot(ctx context.Context, snap *Snapshot) (StreamReader, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	return startPipeline(ctx, l.dir, idx, func(p *pipeline, emit func(*job) bool) error {
		r, err := newBlobReader(l.dir, idx)
		if err != nil {
			return err
		}
		defer func() {
			p.addStats(r.stats)
			r.close()
		}()
		// The metadata is checked against the record list's header and trailer before any
		// record is handed out.
		if err := r.verifyEnds(snap); err != nil {
			return err
		}
		files := map[uint32]*shared.Tablespace{}
		stop := errors.New("stop")
		// One record-list blob at a time: memory stays bounded whatever the snapshot's size.
		for i, id := range snap.Tree {
			b, err := r.readOne(id)
			if err != nil {
				return &DamageError{Snapshot: snap.ID, What: fmt.Sprintf("its record list (blob %d of %d)", i+1, len(snap.Tree)), Err: err}
			}
			err = eachItem(snap.ID, [][]byte{b}, func(it *item) error {
				if t := it.rec.Tablespace; t != nil {
					files[t.FileIndex] = t
				}
				j := &job{rec: it.rec, size: it.size, ids: it.blobs}
				for _, id := range it.blobs {
					j.blobs = append(j.blobs, idx.lookup(id))
				}
				path := filePath(it, files)
				j.describe = func(k int) (string, string) { return snap.ID, describeItem(it, k, path) }
				if !emit(j) {
					return stop
				}
				return nil
			})
			if err == stop {
				return nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	}), nil
}

// filePath is the path of the file a page batch item belongs to ("" for other items).
func filePath(it *item, files map[uint32]*shared.Tablespace) string {
	b := it.rec.Pages
	if b == nil {
		return ""
	}
	if t := files[b.FileIndex]; t != nil {
		return t.Path
	}
	return fmt.Sprintf("file index %d", b.FileIndex)
}

// batchPage is the page number of page k of b (a format 3 batch may list them), -1 when b
// has no page k.
func batchPage(b *shared.PageBatch, k int) int64 {
	if b.PageNumbers != nil && (k < 0 || k >= len(b.PageNumbers)) {
		return -1
	}
	return int64(b.PageNo(k))
}

// describeItem names the data of blob k of it; path is its file's (see filePath).
func describeItem(it *item, k int, path string) string {
	off := uint64(k) * uint64(it.piece)
	switch r := it.rec; {
	case r.Pages != nil:
		return fmt.Sprintf("%s page %d", path, batchPage(r.Pages, k))
	case r.Redo != nil:
		return fmt.Sprintf("redo at LSN %d", r.Redo.StartLSN+off)
	case r.Binlog != nil:
		return fmt.Sprintf("binlog %s at offset %d", r.Binlog.Name, r.Binlog.Offset+off)
	case r.File != nil:
		return fmt.Sprintf("file %s at offset %d", r.File.Path, r.File.Offset+off)
	}
	return "a record"
}

// PageMap builds the page map of snapshot id from its record list.
func (l *Local) PageMap(ctx context.Context, id string) (*PageMap, error) {
	snap, err := l.snapshot(id)
	if err != nil {
		return nil, err
	}
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, err
	}
	defer r.close()
	tree, err := r.readTree(snap)
	if err != nil {
		return nil, err
	}
	m := NewPageMap()
	err = eachItem(id, tree, func(it *item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if it.rec.Pages != nil {
			err = m.addBatch(it.rec.Pages, it.size)
		} else {
			err = m.Add(it.rec)
		}
		if err != nil {
			return &DamageError{Snapshot: id, What: "its record list", Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Locate says where the blob id is stored: its pack file, the offset and the compressed
// length (for diagnostics and tests).
func (l *Local) Locate(id ID) (path string, offset, length int64, err error) {
	idx, err := l.Index()
	if err != nil {
		return "", 0, 0, err
	}
	e := idx.lookup(id)
	if e < 0 {
		return "", 0, 0, fmt.Errorf("blob %s is not in the index", id.Short())
	}
	be := idx.entries[e]
	return packPath(l.dir, idx.packs[be.pack].id), int64(be.offset), int64(be.length), nil
}
