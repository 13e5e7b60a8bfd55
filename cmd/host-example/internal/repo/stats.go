package repo

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// Stats describes what a repository stores.
type Stats struct {
	Snapshots int `json:"snapshots"`
	// Packs and PackBytes are the pack files on disk: what the repository stores.
	Packs     int   `json:"packs"`
	PackBytes int64 `json:"pack_bytes"`
	// IndexFiles and IndexBytes are the index files.
	IndexFiles int   `json:"index_files"`
	IndexBytes int64 `json:"index_bytes"`
	// Blobs is the number of distinct blobs; BlobBytes their compressed size, RawBytes their
	// size uncompressed.
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blob_bytes"`
	RawBytes  int64 `json:"raw_bytes"`
	// LogicalBytes is the sum of the snapshots' logical sizes: what storing each stream
	// uncompressed would take.
	LogicalBytes int64 `json:"logical_bytes"`
	// Compression is the repository's setting for new blobs.
	Compression Compression `json:"compression"`
	// IndexMemory is what the in-memory index of this repository takes (every blob location
	// and the bucket table); IndexBytesPerBlob that per blob location. Every backup, restore,
	// check and prune holds it: it is the host's memory that grows with the repository.
	IndexMemory       int64 `json:"index_memory"`
	IndexBytesPerBlob int   `json:"index_bytes_per_blob"`
	// DedupRatio is LogicalBytes / PackBytes (deduplication and compression together).
	DedupRatio float64 `json:"dedup_ratio"`
	// PerSnapshot, oldest first.
	PerSnapshot []SnapshotStats `json:"per_snapshot"`
}

// SnapshotStats is one snapshot's share.
type SnapshotStats struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	Source       string    `json:"source"`
	Kind         string    `json:"kind"`
	Parent       string    `json:"parent"`
	LogicalBytes int64     `json:"logical_bytes"`
	StoredBytes  int64     `json:"stored_bytes"`
	// AddedBytes is what the backup added to the repository when it was taken.
	AddedBytes int64 `json:"added_bytes"`
}

// Stats reads the metadata, the index and the sizes of the files; it reads no blob.
func (l *Local) Stats(ctx context.Context) (*Stats, error) {
	snaps, err := l.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	packs, err := listPacks(l.dir)
	if err != nil {
		return nil, err
	}
	st := &Stats{Snapshots: len(snaps), Packs: len(packs), IndexFiles: len(idx.Files), Blobs: idx.Blobs(),
		Compression: l.Compression(), IndexMemory: idx.memory(), IndexBytesPerBlob: bytesPerEntry}
	for _, size := range packs {
		st.PackBytes += size
	}
	for _, f := range idx.Files {
		if fi, err := os.Stat(filepath.Join(l.dir, indexDir, f.String())); err == nil {
			st.IndexBytes += fi.Size()
		}
	}
	for e, be := range idx.entries {
		if !idx.first(int32(e)) {
			continue
		}
		st.BlobBytes += int64(be.length)
		st.RawBytes += int64(be.raw)
	}
	for _, s := range snaps {
		st.LogicalBytes += s.LogicalBytes
		st.PerSnapshot = append(st.PerSnapshot, SnapshotStats{ID: s.ID, Time: s.Time, Source: s.Source, Kind: s.Kind, Parent: s.Parent,
			LogicalBytes: s.LogicalBytes, StoredBytes: s.StoredBytes, AddedBytes: s.AddedBytes})
	}
	if st.PackBytes > 0 {
		st.DedupRatio = float64(st.LogicalBytes) / float64(st.PackBytes)
	}
	return st, nil
}
