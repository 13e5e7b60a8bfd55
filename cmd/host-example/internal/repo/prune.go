package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// PruneReport says what Prune did (or, dry, would do).
type PruneReport struct {
	DryRun bool `json:"dry_run"`
	// Blobs kept and removed; BytesRemoved their compressed size.
	BlobsKept    int   `json:"blobs_kept"`
	BlobsRemoved int   `json:"blobs_removed"`
	BytesRemoved int64 `json:"bytes_removed"`
	// Packs: kept as they are, rewritten (their used blobs copied into new packs), deleted
	// (no used blob), written (new), and found on disk but in no index (deleted too).
	PacksKept      int `json:"packs_kept"`
	PacksRewritten int `json:"packs_rewritten"`
	PacksDeleted   int `json:"packs_deleted"`
	PacksWritten   int `json:"packs_written"`
	PacksUnindexed int `json:"packs_unindexed"`
	// PackBytesBefore and After are the pack files' total size.
	PackBytesBefore int64 `json:"pack_bytes_before"`
	PackBytesAfter  int64 `json:"pack_bytes_after"`
	// IndexFiles replaced by one new index file (0 when the index did not change).
	IndexFilesReplaced int `json:"index_files_replaced"`
	// TmpFiles removed from tmp/.
	TmpFiles int `json:"tmp_files"`
}

// Prune removes every blob no snapshot refers to. It needs an exclusive lock (Lock). The
// order keeps the repository whole at every instant: new packs (the used blobs of partly
// used packs, each read and checked) first, then one new index file listing every pack that
// stays, then the old index files are deleted, and only then the packs that are no longer
// listed. An interruption leaves at most packs no index lists, or a blob listed twice, both
// harmless; the next prune finishes the job.
//
// Snapshots named in without count as gone (a dry run of forget --prune has not removed
// them).
func (l *Local) Prune(ctx context.Context, dryRun bool, without ...string) (*PruneReport, error) {
	if !dryRun && !l.holdsExclusive() {
		return nil, errors.New("prune needs an exclusive lock on the repository")
	}
	rep := &PruneReport{DryRun: dryRun}
	idx, problems, err := loadIndex(l.dir)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nothing was pruned: %v; run `host-example check` first", problems[0])
	}
	// A snapshot file that does not verify may still refer to blobs: nothing is pruned until
	// it is repaired or set aside.
	snaps, bad, err := l.ScanSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if err := RefuseUnverified(l.dir, bad); err != nil {
		return nil, err
	}
	snaps = slices.DeleteFunc(snaps, func(s *Snapshot) bool { return slices.Contains(without, s.ID) })
	used := map[ID]bool{}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for _, s := range snaps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, id := range s.Tree {
			used[id] = true
		}
		tree, err := r.readTree(s)
		if err == nil {
			err = eachItem(s.ID, tree, func(it *item) error {
				for _, id := range it.blobs {
					used[id] = true
				}
				return nil
			})
		}
		if err != nil {
			return nil, fmt.Errorf("nothing was pruned: %w; run `host-example check`", err)
		}
	}
	if err := l.archiveBlobs(ctx, used); err != nil {
		return nil, err
	}
	for id := range used {
		if !idx.Has(id) {
			return nil, fmt.Errorf("nothing was pruned: blob %s, which a snapshot refers to, is missing from the index; run `host-example check`", id.Short())
		}
	}

	onDisk, err := listPacks(l.dir)
	if err != nil {
		return nil, err
	}
	for _, size := range onDisk {
		rep.PackBytesBefore += size
	}
	byPack := idx.packEntries()
	var keep []indexPack
	var rewrite, drop []int32
	for pos, p := range idx.packs {
		var n int
		for _, e := range byPack[pos] {
			be := idx.entries[e]
			if used[be.id] && idx.first(e) {
				n++
			}
		}
		switch {
		case n == len(byPack[pos]):
			ip := indexPack{ID: p.id, Size: p.size}
			for _, e := range byPack[pos] {
				be := idx.entries[e]
				ip.Entries = append(ip.Entries, packEntry{Type: be.typ, ID: be.id, Offset: be.offset, Length: be.length, Raw: be.raw})
			}
			keep = append(keep, ip)
		case n == 0:
			drop = append(drop, int32(pos))
		default:
			rewrite = append(rewrite, int32(pos))
		}
		if n < len(byPack[pos]) {
			if _, ok := onDisk[p.id]; !ok || onDisk[p.id] != p.size {
				if n > 0 {
					return nil, fmt.Errorf("nothing was pruned: pack %s, which holds blobs snapshots need, is missing or of the wrong size; run `host-example check`", describePack(p.id))
				}
			}
		}
	}
	for e, be := range idx.entries {
		if used[be.id] && idx.first(int32(e)) {
			rep.BlobsKept++
		} else {
			rep.BlobsRemoved++
			rep.BytesRemoved += int64(be.length)
		}
	}
	var unindexed []ID
	for id := range onDisk {
		if _, ok := idx.packPos[id]; !ok {
			unindexed = append(unindexed, id)
		}
	}
	tmp, err := listTmp(l.dir)
	if err != nil {
		return nil, err
	}
	rep.PacksKept, rep.PacksRewritten, rep.PacksDeleted, rep.PacksUnindexed = len(keep), len(rewrite), len(drop), len(unindexed)
	rep.TmpFiles = len(tmp)
	changed := len(rewrite) > 0 || len(drop) > 0
	if changed || len(idx.Files) > 1 {
		rep.IndexFilesReplaced = len(idx.Files)
	}
	if dryRun {
		rep.PackBytesAfter = rep.PackBytesBefore
		for _, pos := range append(append([]int32(nil), rewrite...), drop...) {
			rep.PackBytesAfter -= idx.packs[pos].size
		}
		for _, id := range unindexed {
			rep.PackBytesAfter -= onDisk[id]
		}
		for _, pos := range rewrite {
			for _, e := range byPack[pos] {
				if be := idx.entries[e]; used[be.id] && idx.first(e) {
					rep.PackBytesAfter += int64(be.length)
				}
			}
		}
		return rep, nil
	}

	// 1. New packs with the used blobs of the partly used ones.
	written, err := l.copyBlobs(ctx, r, idx, rewrite, byPack, used)
	if err != nil {
		return nil, err
	}
	rep.PacksWritten = len(written)
	if crash("prune-packs-written") {
		return nil, errCrashed
	}
	// 2. One index file for every pack that stays.
	if rep.IndexFilesReplaced > 0 {
		newIndex, err := writeIndexFile(l.dir, append(keep, written...))
		if err != nil {
			return nil, err
		}
		if crash("prune-index-written") {
			return nil, errCrashed
		}
		// 3. The old index files.
		for _, f := range idx.Files {
			if f == newIndex {
				continue
			}
			if err := os.Remove(filepath.Join(l.dir, indexDir, f.String())); err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("removing index file %s: %w", f, err)
			}
		}
		if err := syncDir(filepath.Join(l.dir, indexDir)); err != nil {
			return nil, err
		}
		if crash("prune-old-index-removed") {
			return nil, errCrashed
		}
	}
	// 4. Packs no index lists any more.
	var gone []ID
	for _, pos := range append(append([]int32(nil), rewrite...), drop...) {
		gone = append(gone, idx.packs[pos].id)
	}
	gone = append(gone, unindexed...)
	listed := map[ID]bool{}
	for _, p := range append(keep, written...) {
		listed[p.ID] = true
	}
	dirs := map[string]bool{}
	for _, id := range gone {
		if listed[id] {
			continue
		}
		path := packPath(l.dir, id)
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("removing pack %s: %w", describePack(id), err)
		}
		dirs[filepath.Dir(path)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return nil, err
		}
	}
	// 5. Leftovers of interrupted commands.
	for _, f := range tmp {
		os.RemoveAll(f)
	}
	l.dropIndex()
	after, err := listPacks(l.dir)
	if err != nil {
		return nil, err
	}
	for _, size := range after {
		rep.PackBytesAfter += size
	}
	return rep, nil
}

// copyBlobs copies the used blobs of the packs rewrite into new packs, each blob checked on
// the way, and returns the new packs. On error the new packs are removed.
func (l *Local) copyBlobs(ctx context.Context, r *blobReader, idx *Index, rewrite []int32, byPack [][]int32, used map[ID]bool) (out []indexPack, err error) {
	var pw *packWriter
	defer func() {
		if err != nil {
			if pw != nil {
				pw.discard()
			}
			if !errors.Is(err, errCrashed) {
				for _, p := range out {
					os.Remove(packPath(l.dir, p.ID))
				}
			}
		}
	}()
	finish := func() error {
		id, size, err := pw.finish()
		if err != nil {
			pw = nil
			return err
		}
		out = append(out, indexPack{ID: id, Size: size, Entries: pw.entries})
		pw = nil
		return nil
	}
	for _, pos := range rewrite {
		f, err := os.Open(packPath(l.dir, idx.packs[pos].id))
		if err != nil {
			return out, fmt.Errorf("nothing was pruned: %w", err)
		}
		for _, e := range byPack[pos] {
			be := idx.entries[e]
			if !used[be.id] || !idx.first(e) {
				continue
			}
			if err := ctx.Err(); err != nil {
				f.Close()
				return out, err
			}
			comp := make([]byte, be.length)
			if _, err := f.ReadAt(comp, int64(be.offset)); err != nil {
				f.Close()
				return out, fmt.Errorf("nothing was pruned: reading blob %s from pack %s: %w", be.id.Short(), describePack(idx.packs[pos].id), err)
			}
			if _, err := r.decode(be, comp); err != nil {
				f.Close()
				return out, fmt.Errorf("nothing was pruned: a blob a snapshot needs is damaged: %w; run `host-example check --read-data`", err)
			}
			if pw == nil {
				if pw, err = newPackWriter(l.dir); err != nil {
					f.Close()
					return out, err
				}
			}
			if _, err := pw.add(be.typ, be.id, comp, int(be.raw)); err != nil {
				f.Close()
				return out, err
			}
			if pw.full() {
				if err := finish(); err != nil {
					f.Close()
					return out, err
				}
			}
		}
		f.Close()
	}
	if pw != nil {
		if err := finish(); err != nil {
			return out, err
		}
	}
	return out, nil
}
