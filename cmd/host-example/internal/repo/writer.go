package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

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
	w, err := l.newBlobWriter(idx)
	if err != nil {
		own.Unlock()
		return nil, err
	}
	w.id, w.pm, w.lock = NewID(), NewPageMap(), own
	if w.pipe, err = startStorePipeline(w, compressors); err != nil {
		own.Unlock()
		return nil, err
	}
	return w, nil
}

// newBlobWriter returns a writer of new blobs into packs, with the repository's compression.
func (l *Local) newBlobWriter(idx *Index) (*localWriter, error) {
	enc, err := newBlobEncoder(l.Compression())
	if err != nil {
		return nil, err
	}
	return &localWriter{repo: l, idx: idx, fresh: map[ID]uint32{}, pendingRefs: map[ID]int64{}, enc: enc}, nil
}

// compressors is the number of goroutines that hash and compress a stream's payloads.
var compressors = min(runtime.GOMAXPROCS(0), 4)

type localWriter struct {
	repo *Local
	id   string
	idx  *Index
	lock *Lock // taken by NewStream, or nil
	pipe *storePipeline

	enc   *blobEncoder // for blobs the writer's own goroutine stores (record-list chunks)
	comp  []byte
	pack  *packWriter
	packs []indexPack // finished packs, moved into data/
	// fresh holds the blobs this writer stores: their compressed length once stored, 0 while
	// a pipeline worker that claimed them compresses them. One map serves both, under
	// freshMu (workers claim while the committer stores): it grows by one entry per new
	// blob of the backup.
	freshMu sync.Mutex
	fresh   map[ID]uint32
	// pendingRefs counts references to blobs a later record of the stream stores (a worker
	// of that record claimed them first): their length is counted once they are stored.
	pendingRefs map[ID]int64
	pm          *PageMap
	chunk       treeChunker
	tree        []ID

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

// Append maps the record and hands it to the pipeline, which stores it in order; an error
// the pipeline met storing an earlier record is returned here (or by Commit).
func (w *localWriter) Append(rec *shared.Record) error { return w.AppendSummed(rec, nil) }

// AppendSummed is Append for a PageBatch whose pages' SHA-256 sums (shared.PageSum, which
// are their blob IDs) the caller computed already, to verify the stream digest
// (shared.PagesSum): the pipeline takes them as the IDs instead of hashing every page again.
// sums must be the sums of rec's pages cut at its file's page size, in order; the writer
// keeps the slice. Sums that do not fit the batch (another count) are ignored.
func (w *localWriter) AppendSummed(rec *shared.Record, sums [][sha256.Size]byte) error {
	if w.done {
		return errors.New("stream is already closed")
	}
	if w.failed != nil {
		return w.failed
	}
	if err := w.pipe.failure(); err != nil {
		return w.fail(err)
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
		return w.fail(fmt.Errorf("the stream cannot be mapped: %w", err))
	}
	var data []byte
	var piece uint32
	typ := BlobData
	if hasPayload(rec) {
		data = payloadOf(rec)
		if rec.Pages != nil {
			typ, piece = BlobPage, w.pm.File(rec.Pages.FileIndex).PageSize
		} else {
			piece = uint32(min(len(data), maxDataBlob))
		}
	}
	if rec.Pages == nil || piece == 0 || len(sums) != (len(data)+int(piece)-1)/int(piece) {
		sums = nil
	}
	w.pipe.add(rec, typ, data, piece, sums)
	return nil
}

func (w *localWriter) fail(err error) error {
	w.failed = fmt.Errorf("storing the stream in %s: %w", w.repo.dir, err)
	if errors.Is(err, errCrashed) {
		w.crashed()
	}
	return w.failed
}

// savePieces stores data cut into pieces of piece bytes on the caller's goroutine, each blob
// unless the repository or this writer has it already, and returns their IDs (the archive's
// segments; streams go through the pipeline).
func (w *localWriter) savePieces(t BlobType, data []byte, piece int) ([]ID, error) {
	var ids []ID
	for off := 0; off < len(data); off += piece {
		id, err := w.save(t, data[off:min(off+piece, len(data))])
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// has reports whether the repository or this backup stores the blob id.
func (w *localWriter) has(id ID) bool {
	if _, ok := w.freshLength(id); ok {
		return true
	}
	return w.idx.Has(id)
}

// ref counts one reference of the record list to the blob id in stored_bytes.
func (w *localWriter) ref(id ID) {
	n, mine := w.freshLength(id)
	if !mine {
		n, _ = w.idx.Length(id)
	}
	if n > 0 {
		w.stored += int64(n)
	} else {
		w.pendingRefs[id]++ // claimed by a later record, stored with it
	}
}

// freshLength returns the length of a blob this writer stored (0 while it is claimed and not
// stored yet), and whether the writer has it at all.
func (w *localWriter) freshLength(id ID) (uint32, bool) {
	w.freshMu.Lock()
	defer w.freshMu.Unlock()
	n, ok := w.fresh[id]
	return n, ok
}

// claim reports whether no one claimed the new blob id yet, and claims it for the caller.
func (w *localWriter) claim(id ID) bool {
	w.freshMu.Lock()
	defer w.freshMu.Unlock()
	if _, ok := w.fresh[id]; ok {
		return false
	}
	w.fresh[id] = 0
	return true
}

// save stores one blob unless the repository or this backup has it already.
func (w *localWriter) save(t BlobType, data []byte) (ID, error) {
	id := Hash(data)
	if !w.has(id) {
		w.comp = w.enc.encode(w.comp[:0], data)
		if err := w.store(t, id, w.comp, len(data)); err != nil {
			return id, err
		}
	}
	w.ref(id)
	return id, nil
}

// store appends a new blob's stored form to the current pack (comp is copied).
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
	w.freshMu.Lock()
	w.fresh[id] = n
	w.freshMu.Unlock()
	w.added += int64(n)
	if refs := w.pendingRefs[id]; refs > 0 {
		w.stored += refs * int64(n)
		delete(w.pendingRefs, id)
	}
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
	if err := w.pipe.finish(); err != nil {
		w.fail(err)
		w.Abort()
		return w.failed
	}
	if len(w.pendingRefs) > 0 {
		w.Abort()
		return fmt.Errorf("snapshot %s is not recorded: its record list refers to %d blob(s) the backup never stored", w.id, len(w.pendingRefs))
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
	if w.pipe != nil {
		w.pipe.stop()
		w.pipe.finish()
	}
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
	if w.pipe != nil {
		w.pipe.stop()
		w.pipe.finish()
	}
	if w.pack != nil && w.pack.f != nil {
		w.pack.f.Close()
	}
	w.lock.Unlock()
}
