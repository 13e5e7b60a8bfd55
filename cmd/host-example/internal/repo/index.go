package repo

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// The index file, REPO/index/ID (ID = SHA-256 of the file):
//
//	magic    8 bytes  "PGTKINDX"
//	version  u32      1
//	packs    u32      number of packs
//	pack*    id [32], size u64, count u32, count × entry (as in the pack header)
//	crc      u32      CRC-32C (Castagnoli) of everything before it
const (
	indexMagic   = "PGTKINDX"
	indexVersion = 1
)

// indexPack is one pack as an index file lists it.
type indexPack struct {
	ID      ID
	Size    int64
	Entries []packEntry
}

func encodeIndex(packs []indexPack) []byte {
	n := len(indexMagic) + 8 + 4
	for _, p := range packs {
		n += 32 + 8 + 4 + len(p.Entries)*packEntryLen
	}
	b := make([]byte, 0, n)
	b = append(b, indexMagic...)
	b = binary.BigEndian.AppendUint32(b, indexVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(packs)))
	for _, p := range packs {
		b = append(b, p.ID[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Size))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Entries)))
		for _, e := range p.Entries {
			b = appendEntry(b, e)
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeIndex(b []byte) ([]indexPack, error) {
	if len(b) < len(indexMagic)+4+4+4 {
		return nil, fmt.Errorf("%d bytes is too short", len(b))
	}
	if !bytes.Equal(b[:len(indexMagic)], []byte(indexMagic)) {
		return nil, errors.New("bad magic")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("fails its checksum (crc32c %08x, stored %08x)", got, sum)
	}
	if v := binary.BigEndian.Uint32(body[len(indexMagic):]); v != indexVersion {
		return nil, fmt.Errorf("index format %d, this host-example reads %d", v, indexVersion)
	}
	rest := body[len(indexMagic)+4:]
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	var packs []indexPack
	for i := uint32(0); i < n; i++ {
		if len(rest) < 32+8+4 {
			return nil, errors.New("truncated pack list")
		}
		var p indexPack
		copy(p.ID[:], rest)
		p.Size = int64(binary.BigEndian.Uint64(rest[32:]))
		count := int(binary.BigEndian.Uint32(rest[40:]))
		rest = rest[44:]
		if count < 0 || count > len(rest)/packEntryLen {
			return nil, fmt.Errorf("pack %s lists %d blobs, more than the file holds", p.ID.Short(), count)
		}
		p.Entries = make([]packEntry, count)
		for k := range p.Entries {
			p.Entries[k] = decodeEntry(rest[k*packEntryLen:])
			if e := p.Entries[k]; uint64(e.Offset)+uint64(e.Length) > uint64(p.Size) || !e.Type.valid() {
				return nil, fmt.Errorf("pack %s: blob %s lies outside the pack or has an unknown type", p.ID.Short(), e.ID.Short())
			}
		}
		rest = rest[count*packEntryLen:]
		packs = append(packs, p)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the pack list", len(rest))
	}
	return packs, nil
}

// Index is every index file of a repository, in memory: where each blob is. It is compact
// (see doc.go, "Memory"): one fixed-size entry per blob location, sorted by blob ID, found by
// a table of the ID's first 16 bits and a binary search in its bucket, without a map. It is
// not changed once built (a commit makes the Local read it again), so any number of
// goroutines may use it.
type Index struct {
	// Files are the index files read (their IDs).
	Files []ID
	packs []packInfo
	// entries holds every blob location, duplicates included (a blob stored by two
	// concurrent backups), sorted by ID; equal IDs stay in the order they were listed, and
	// the first is the one read.
	entries []blobEntry
	// bucket[b] is the first entry whose ID begins with the 16 bits b; bucket[65536] is
	// len(entries).
	bucket  []int32
	blobs   int // distinct IDs
	packPos map[ID]int32
}

type packInfo struct {
	id   ID
	size int64
	// file is the index file that lists the pack (the first, if several do).
	file ID
}

// blobEntry is one blob location.
type blobEntry struct {
	id     ID
	pack   int32
	offset uint32
	length uint32
	raw    uint32
	typ    BlobType
}

func newIndex() *Index {
	return &Index{packPos: map[ID]int32{}}
}

// bytesPerEntry is what one blob location takes in memory (an entry and no more: the bucket
// table and the pack list are per repository and per pack).
const bytesPerEntry = int(unsafe.Sizeof(blobEntry{}))

// memory is what the index's entries and bucket table take.
func (idx *Index) memory() int64 {
	return int64(cap(idx.entries))*int64(bytesPerEntry) + int64(cap(idx.bucket))*4
}

// build sorts the entries and makes the bucket table, once every pack is added.
func (idx *Index) build() {
	slices.SortStableFunc(idx.entries, func(a, b blobEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
	idx.bucket = make([]int32, 1<<16+1)
	idx.blobs = 0
	b := 0
	for n, e := range idx.entries {
		for p := int(e.id[0])<<8 | int(e.id[1]); b <= p; b++ {
			idx.bucket[b] = int32(n)
		}
		if n == 0 || idx.entries[n-1].id != e.id {
			idx.blobs++
		}
	}
	for ; b <= 1<<16; b++ {
		idx.bucket[b] = int32(len(idx.entries))
	}
}

// IndexProblem is an index file that could not be used.
type IndexProblem struct {
	File string
	Err  error
}

func (p IndexProblem) Error() string {
	return fmt.Sprintf("index file %s is damaged: %v", p.File, p.Err)
}

// loadIndex reads every file of REPO/index. Damaged files are left out and returned as
// problems.
func loadIndex(dir string) (*Index, []IndexProblem, error) {
	idx := newIndex()
	entries, err := os.ReadDir(filepath.Join(dir, indexDir))
	if err != nil {
		return nil, nil, fmt.Errorf("listing the index: %w", err)
	}
	// The entries are allocated once: a file of n bytes lists at most n/packEntryLen blobs.
	var most int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			most += fi.Size() / packEntryLen
		}
	}
	idx.entries = make([]blobEntry, 0, most)
	var problems []IndexProblem
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, indexDir, e.Name())
		id, err := ParseID(e.Name())
		if err != nil {
			problems = append(problems, IndexProblem{File: path, Err: errors.New("its name is not an ID")})
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading index file %s: %w", path, err)
		}
		if Hash(b) != id {
			problems = append(problems, IndexProblem{File: path, Err: errors.New("its content does not match its name (SHA-256)")})
			continue
		}
		packs, err := decodeIndex(b)
		if err != nil {
			problems = append(problems, IndexProblem{File: path, Err: err})
			continue
		}
		idx.Files = append(idx.Files, id)
		for _, p := range packs {
			idx.addPack(p, id)
		}
	}
	idx.build()
	return idx, problems, nil
}

func (idx *Index) addPack(p indexPack, file ID) {
	pos, ok := idx.packPos[p.ID]
	if ok {
		return // listed by two index files (a prune that stopped half-way): same pack, same blobs
	}
	pos = int32(len(idx.packs))
	idx.packs = append(idx.packs, packInfo{id: p.ID, size: p.Size, file: file})
	idx.packPos[p.ID] = pos
	for _, e := range p.Entries {
		idx.entries = append(idx.entries, blobEntry{id: e.ID, pack: pos, offset: e.Offset, length: e.Length, raw: e.Raw, typ: e.Type})
	}
}

// lookup returns the entry number of a blob (its first listing), or -1.
func (idx *Index) lookup(id ID) int32 {
	if len(idx.entries) == 0 {
		return -1
	}
	b := int(id[0])<<8 | int(id[1])
	lo, hi := int(idx.bucket[b]), int(idx.bucket[b+1])
	for lo < hi { // the first entry not below id
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(idx.entries[mid].id[:], id[:]) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(idx.entries) && idx.entries[lo].id == id {
		return int32(lo)
	}
	return -1
}

// first reports whether entry n is the first listing of its blob (the one read).
func (idx *Index) first(n int32) bool { return n == 0 || idx.entries[n-1].id != idx.entries[n].id }

// Has reports whether the index lists the blob.
func (idx *Index) Has(id ID) bool { return idx.lookup(id) >= 0 }

// Length returns the stored (compressed) length of a blob.
func (idx *Index) Length(id ID) (uint32, bool) {
	n := idx.lookup(id)
	if n < 0 {
		return 0, false
	}
	return idx.entries[n].length, true
}

// Blobs is the number of distinct blobs.
func (idx *Index) Blobs() int { return idx.blobs }

// Packs is the number of packs.
func (idx *Index) Packs() int { return len(idx.packs) }

// packEntries returns the entries of each pack, in pack order, as the pack lists them (by
// offset).
func (idx *Index) packEntries() [][]int32 {
	out := make([][]int32, len(idx.packs))
	for n, e := range idx.entries {
		out[e.pack] = append(out[e.pack], int32(n))
	}
	for _, es := range out {
		slices.SortFunc(es, func(a, b int32) int { return cmp.Compare(idx.entries[a].offset, idx.entries[b].offset) })
	}
	return out
}

// writeIndexFile writes packs as a new index file and returns its ID. It is written to tmp,
// synced, renamed into REPO/index and the directory synced.
func writeIndexFile(dir string, packs []indexPack) (ID, error) {
	sort.Slice(packs, func(i, j int) bool { return bytes.Compare(packs[i].ID[:], packs[j].ID[:]) < 0 })
	b := encodeIndex(packs)
	id := Hash(b)
	tmp := filepath.Join(dir, tmpDir, "index-"+randomHex(8)+partialExt)
	if err := writeFileAtomic(tmp, filepath.Join(dir, indexDir, id.String()), b); err != nil {
		return id, fmt.Errorf("writing index file: %w", err)
	}
	return id, nil
}

// describePack names a pack in messages: its short ID and path below the repository.
func describePack(id ID) string {
	s := id.String()
	return strings.Join([]string{dataDir, s[:2], s}, "/")
}
