package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pagetrack/pagetrack/shared"
)

// NewStream starts storing a new snapshot. It reads the index first (to store only blobs the
// repository lacks) and, unless this Local already holds a lock, takes a shared lock that
// Commit or Abort releases.
func (l *Local) NewStream(ctx context.Context) (StreamWriter, error) {
	var own *Lock
	if !l.holdsLock() {
		lk, err := l.Lock(ctx, false, "backup")
		if err != nil {
			return nil, err
		}
		own = lk
	}
	idx, err := l.Index()
	if err != nil {
		own.Unlock()
		return nil, err
	}
	w := &localWriter{repo: l, id: NewID(), idx: idx, fresh: map[ID]uint32{}, pm: NewPageMap(), lock: own}
	for i := 0; i < compressors; i++ {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			own.Unlock()
			return nil, err
		}
		w.encs = append(w.encs, enc)
	}
	return w, nil
}

// compressors is the number of goroutines that compress the new pages of one batch.
var compressors = min(runtime.GOMAXPROCS(0), 4)

type localWriter struct {
	repo *Local
	id   string
	idx  *Index
	lock *Lock // taken by NewStream, or nil

	encs  []*zstd.Encoder // one per compressor
	comp  []byte
	ibuf  []byte
	pack  *packWriter
	packs []indexPack   // finished packs, moved into data/
	fresh map[ID]uint32 // blobs this backup stored: compressed length
	pm    *PageMap
	chunk treeChunker
	tree  []ID

	stored, added, logical int64

	// header and trailer are copies of the stream's, which Commit checks the metadata against.
	header  *shared.Header
	trailer *shared.Trailer

	failed    error // a write failed: the stream cannot be committed
	published bool  // the index file is written: the packs are no longer this writer's alone
	done      bool  // committed, aborted or crashed
}

func (w *localWriter) ID() string { return w.id }

func (w *localWriter) PageMap() *PageMap { return w.pm }

func (w *localWriter) Append(rec *shared.Record) error {
	if w.done {
		return errors.New("stream is already closed")
	}
	if w.failed != nil {
		return w.failed
	}
	if rec.Progress != nil {
		return nil
	}
	if h := rec.Header; h != nil {
		c := *h
		w.header = &c
	}
	if t := rec.Trailer; t != nil {
		c := *t
		c.Digest, c.SourceState = bytes.Clone(t.Digest), bytes.Clone(t.SourceState)
		w.trailer = &c
	}
	if err := w.pm.Add(rec); err != nil {
		return fmt.Errorf("the stream cannot be mapped: %w", err)
	}
	var blobs []ID
	var size uint64
	var piece uint32
	if hasPayload(rec) {
		data := payloadOf(rec)
		size = uint64(len(data))
		typ := BlobData
		if rec.Pages != nil {
			typ, piece = BlobPage, w.pm.File(rec.Pages.FileIndex).PageSize
		} else {
			piece = uint32(min(len(data), maxDataBlob))
		}
		var err error
		if blobs, err = w.savePieces(typ, data, int(piece)); err != nil {
			return w.fail(err)
		}
		w.logical += int64(size)
	}
	w.ibuf = appendItem(w.ibuf[:0], rec, size, piece, blobs)
	w.logical += int64(len(w.ibuf))
	if chunk := w.chunk.add(w.ibuf); chunk != nil {
		if err := w.saveTree(chunk); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

func (w *localWriter) fail(err error) error {
	w.failed = fmt.Errorf("storing the stream in %s: %w", w.repo.dir, err)
	if errors.Is(err, errCrashed) {
		w.crashed()
	}
	return w.failed
}

// savePieces stores data cut into pieces of piece bytes, each blob unless the repository or
// this backup has it already, and returns their IDs. The new blobs are compressed in
// parallel; they are stored in order.
func (w *localWriter) savePieces(t BlobType, data []byte, piece int) ([]ID, error) {
	if len(data) == 0 {
		return nil, nil
	}
	n := (len(data) + piece - 1) / piece
	ids := make([]ID, n)
	var todo []int // pieces to store: new, and first of their content in data
	pending := map[ID]bool{}
	for k := range ids {
		p := data[k*piece : min((k+1)*piece, len(data))]
		ids[k] = Hash(p)
		if w.has(ids[k]) || pending[ids[k]] {
			continue
		}
		pending[ids[k]] = true
		todo = append(todo, k)
	}
	comp := make([][]byte, len(todo))
	var wg sync.WaitGroup
	workers := min(len(w.encs), len(todo))
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(todo); i += workers {
				k := todo[i]
				comp[i] = w.encs[g].EncodeAll(data[k*piece:min((k+1)*piece, len(data))], nil)
			}
		}(g)
	}
	wg.Wait()
	for i, k := range todo {
		if err := w.store(t, ids[k], comp[i], min(piece, len(data)-k*piece)); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		w.stored += int64(w.length(id))
	}
	return ids, nil
}

// has reports whether the repository or this backup stores the blob id.
func (w *localWriter) has(id ID) bool {
	if _, ok := w.fresh[id]; ok {
		return true
	}
	return w.idx.lookup(id) >= 0
}

// length is the compressed length of a stored blob.
func (w *localWriter) length(id ID) uint32 {
	if n, ok := w.fresh[id]; ok {
		return n
	}
	return w.idx.entries[w.idx.lookup(id)].length
}

// save stores one blob unless the repository or this backup has it already.
func (w *localWriter) save(t BlobType, data []byte) (ID, error) {
	id := Hash(data)
	if !w.has(id) {
		w.comp = w.encs[0].EncodeAll(data, w.comp[:0])
		if err := w.store(t, id, w.comp, len(data)); err != nil {
			return id, err
		}
	}
	w.stored += int64(w.length(id))
	return id, nil
}

// store appends a new compressed blob to the current pack (comp is copied).
func (w *localWriter) store(t BlobType, id ID, comp []byte, raw int) error {
	if w.pack == nil {
		p, err := newPackWriter(w.repo.dir)
		if err != nil {
			return err
		}
		w.pack = p
	}
	if _, err := w.pack.add(t, id, comp, raw); err != nil {
		return err
	}
	n := uint32(len(comp))
	w.fresh[id] = n
	w.added += int64(n)
	if w.pack.full() {
		return w.finishPack()
	}
	return nil
}

func (w *localWriter) saveTree(chunk []byte) error {
	id, err := w.save(BlobTree, chunk)
	if err != nil {
		return err
	}
	w.tree = append(w.tree, id)
	return nil
}

func (w *localWriter) finishPack() error {
	p := w.pack
	w.pack = nil
	id, size, err := p.finish()
	if err != nil {
		return err
	}
	w.packs = append(w.packs, indexPack{ID: id, Size: size, Entries: p.entries})
	if crash("pack-stored") {
		return errCrashed
	}
	return nil
}

// Commit stores what is left (the last record-list blob, the last pack), then the index file
// of this backup's packs, and last the snapshot metadata.
func (w *localWriter) Commit(snap *Snapshot) (err error) {
	if w.done {
		return errors.New("stream is already closed")
	}
	if w.failed != nil {
		w.Abort()
		return w.failed
	}
	defer func() {
		switch {
		case errors.Is(err, errCrashed):
			w.crashed()
		case err != nil:
			w.Abort()
		}
	}()
	if snap.ID != w.id {
		return fmt.Errorf("snapshot id %q does not match stream id %q", snap.ID, w.id)
	}
	// Metadata that disagrees with its stream is never recorded: restore and check would
	// call it damage.
	if w.header == nil || w.trailer == nil {
		return errors.New("the stream lacks its header or its trailer: it cannot be recorded")
	}
	if err := VerifyStreamFields(snap, w.header, w.trailer); err != nil {
		return fmt.Errorf("snapshot %s is not recorded: %w", w.id, err)
	}
	if chunk := w.chunk.flush(); chunk != nil {
		if err := w.saveTree(chunk); err != nil {
			return err
		}
	}
	if len(w.tree) == 0 {
		return errors.New("the stream holds no record")
	}
	if w.pack != nil {
		if err := w.finishPack(); err != nil {
			return err
		}
	}
	if crash("packs-stored") {
		return errCrashed
	}
	var indexID ID
	if len(w.packs) > 0 {
		if indexID, err = writeIndexFile(w.repo.dir, w.packs); err != nil {
			if !errors.Is(err, errCrashed) {
				// Renamed into place before the error (a directory sync that failed)?
				_, serr := os.Stat(filepath.Join(w.repo.dir, indexDir, indexID.String()))
				w.published = serr == nil
			}
			return err
		}
		w.published = true
		if crash("index-stored") {
			return errCrashed
		}
	}

	snap.Tree = w.tree
	snap.StoredBytes, snap.AddedBytes, snap.LogicalBytes = w.stored, w.added, w.logical
	if err := w.repo.writeSnapshotFile(snap); err != nil {
		return fmt.Errorf("recording snapshot %s: %w", w.id, err)
	}
	w.done = true
	if len(w.packs) > 0 {
		w.repo.addToIndex(indexID, w.packs)
	}
	w.lock.Unlock()
	return nil
}

// Abort removes what the writer stored, unless its index file may be written: then its packs
// stay (unreferenced, `forget --prune` removes them), because another backup that read that
// index may already refer to their blobs.
func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.lock.Unlock()
	if w.pack != nil {
		w.pack.discard()
		w.pack = nil
	}
	if w.published {
		return nil
	}
	var first error
	for _, p := range w.packs {
		if err := os.Remove(packPath(w.repo.dir, p.ID)); err != nil && !os.IsNotExist(err) && first == nil {
			first = fmt.Errorf("removing pack %s: %w", describePack(p.ID), err)
		}
	}
	return first
}

// crashed leaves everything as a killed process would; only the lock is released, so that
// tests can go on in the same process.
func (w *localWriter) crashed() {
	w.done = true
	if w.pack != nil && w.pack.f != nil {
		w.pack.f.Close()
	}
	w.lock.Unlock()
}
