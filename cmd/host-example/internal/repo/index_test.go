package repo

import (
	"encoding/binary"
	"math/rand"
	"path/filepath"
	"runtime"
	"testing"
)

// syntheticPacks returns packs of 1024 page blobs each, n blobs in all, with random IDs.
func syntheticPacks(n int, seed int64) []indexPack {
	rng := rand.New(rand.NewSource(seed))
	var packs []indexPack
	for left := n; left > 0; left -= 1024 {
		var p indexPack
		rng.Read(p.ID[:])
		for k := 0; k < min(left, 1024); k++ {
			var e packEntry
			rng.Read(e.ID[:])
			e.Type, e.Offset, e.Length, e.Raw = BlobPage, uint32(packHeadLen+k*12000), 12000, 16384
			p.Entries = append(p.Entries, e)
		}
		p.Size = int64(packHeadLen + len(p.Entries)*12000 + 4096)
		packs = append(packs, p)
	}
	return packs
}

// TestIndexLookup: every listed blob is found at its first listing (a blob two index files
// list is read from the file read first), absent IDs are not found, and each pack's entries
// come back in the pack's order.
func TestIndexLookup(t *testing.T) {
	dir := newRepo(t).Location()
	a, b := syntheticPacks(5000, 1), syntheticPacks(300, 2)
	dup := b[0].Entries[7].ID
	a[1].Entries[3].ID = dup // stored by two backups at once
	fa, _ := writeIndexFile(dir, a)
	fb, _ := writeIndexFile(dir, b)
	idx, problems, err := loadIndex(dir)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	if idx.Blobs() != 5300-1 || len(idx.entries) != 5300 {
		t.Fatalf("%d blobs in %d entries, want 5299 in 5300", idx.Blobs(), len(idx.entries))
	}
	for _, packs := range [][]indexPack{a, b} {
		for _, p := range packs {
			for _, e := range p.Entries {
				n := idx.lookup(e.ID)
				if n < 0 || idx.entries[n].id != e.ID || !idx.first(n) {
					t.Fatalf("blob %s: entry %d", e.ID.Short(), n)
				}
			}
		}
	}
	firstFile := fa
	if filepath.Base(fb.String()) < filepath.Base(fa.String()) {
		firstFile = fb
	}
	if got := idx.packs[idx.entries[idx.lookup(dup)].pack].file; got != firstFile {
		t.Errorf("the duplicated blob is read from index file %s, want the first read, %s", got.Short(), firstFile.Short())
	}
	var absent ID
	for i := 0; i < 1000; i++ {
		binary.BigEndian.PutUint64(absent[:], uint64(i)*0x9e3779b97f4a7c15)
		if idx.Has(absent) {
			t.Fatalf("absent blob %s found", absent.Short())
		}
	}
	for p, es := range idx.packEntries() {
		for k := 1; k < len(es); k++ {
			if idx.entries[es[k-1]].offset >= idx.entries[es[k]].offset {
				t.Fatalf("pack %d: entries out of the pack's order", p)
			}
		}
	}
}

// BenchmarkIndexMemory: the heap a loaded index takes per blob, and per TiB of 16 KiB pages
// (one blob per page: 64 Mi blobs), and the time of a lookup.
func BenchmarkIndexMemory(b *testing.B) {
	const blobs = 1 << 20
	dir := filepath.Join(b.TempDir(), "repo")
	Init(dir)
	packs := syntheticPacks(blobs, 3)
	writeIndexFile(dir, packs)
	var ids []ID
	for _, p := range packs[:64] {
		for _, e := range p.Entries {
			ids = append(ids, e.ID)
		}
	}
	packs = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	idx, _, err := loadIndex(dir)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perBlob := float64(after.HeapAlloc-before.HeapAlloc) / blobs
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if !idx.Has(ids[n%len(ids)]) {
			b.Fatal("listed blob not found")
		}
	}
	runtime.KeepAlive(idx)
	b.ReportMetric(perBlob, "heap-B/blob")
	b.ReportMetric(perBlob*(1<<40/16384)/(1<<30), "GiB/TiB")
}
