package repo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// PageMap says what one stored stream holds of each InnoDB file, so that a restore can plan
// which pages to take from which snapshot of a chain without reading any stream.
type PageMap struct {
	// Files are the stream's files in the order their first Tablespace record came, each
	// as its last Tablespace record describes it.
	Files []MapFile
	// Pages holds, keyed by FileIndex, the pages the stream's PageBatch records carry.
	Pages *pagemap.PageSet
	// DuplicatePages counts pages the stream carries more than once (a later copy of a page
	// overwrites the earlier one on restore).
	DuplicatePages uint64

	byIndex map[uint32]int
	byPath  map[string]int
}

// MapFile is one file of a PageMap: the fields of its last Tablespace record.
type MapFile struct {
	FileIndex   uint32 `json:"index"`
	Path        string `json:"path"`
	SpaceID     uint32 `json:"space_id"`
	Flags       uint32 `json:"flags"`
	PageSize    uint32 `json:"page_size"`
	ZipSize     uint32 `json:"zip_size"`
	SizePages   uint64 `json:"size_pages"`
	Incremental bool   `json:"incremental"`
}

// Tablespace returns f as a Tablespace record.
func (f *MapFile) Tablespace() *shared.Tablespace {
	return &shared.Tablespace{
		FileIndex: f.FileIndex, Path: f.Path, SpaceID: f.SpaceID, Flags: f.Flags,
		PageSize: f.PageSize, ZipSize: f.ZipSize, SizePages: f.SizePages, Incremental: f.Incremental,
	}
}

// NewPageMap returns an empty map.
func NewPageMap() *PageMap {
	return &PageMap{Pages: pagemap.NewPageSet(), byIndex: map[uint32]int{}, byPath: map[string]int{}}
}

// File returns the file with FileIndex index, or nil.
func (m *PageMap) File(index uint32) *MapFile {
	if i, ok := m.byIndex[index]; ok {
		return &m.Files[i]
	}
	return nil
}

// Lookup returns the file at path, or nil.
func (m *PageMap) Lookup(path string) *MapFile {
	if i, ok := m.byPath[path]; ok {
		return &m.Files[i]
	}
	return nil
}

// HasIncremental reports whether any file of the map holds only changed pages.
func (m *PageMap) HasIncremental() bool {
	for _, f := range m.Files {
		if f.Incremental {
			return true
		}
	}
	return false
}

// Equal reports whether m and o describe the same stream content.
func (m *PageMap) Equal(o *PageMap) bool {
	if len(m.Files) != len(o.Files) || m.DuplicatePages != o.DuplicatePages {
		return false
	}
	for i := range m.Files {
		if m.Files[i] != o.Files[i] {
			return false
		}
	}
	return m.Pages.Equal(o.Pages)
}

// Add folds one record of a stream into the map. It refuses what would make the map (or a
// restore) ambiguous: pages of an unannounced file or not a whole number of its pages, page
// numbers beyond 2^32, a file index that changes path or page size, two file indexes with
// one path.
func (m *PageMap) Add(rec *shared.Record) error {
	switch {
	case rec.Tablespace != nil:
		t := rec.Tablespace
		if t.PageSize == 0 {
			return fmt.Errorf("tablespace record %d (%s) has page size 0", t.FileIndex, t.Path)
		}
		f := MapFile{
			FileIndex: t.FileIndex, Path: t.Path, SpaceID: t.SpaceID, Flags: t.Flags,
			PageSize: t.PageSize, ZipSize: t.ZipSize, SizePages: t.SizePages, Incremental: t.Incremental,
		}
		if i, ok := m.byIndex[t.FileIndex]; ok {
			old := &m.Files[i]
			if old.Path != t.Path || old.PageSize != t.PageSize {
				return fmt.Errorf("tablespace record %d changes path or page size (%s, %d bytes → %s, %d bytes)", t.FileIndex, old.Path, old.PageSize, t.Path, t.PageSize)
			}
			*old = f
			return nil
		}
		if i, ok := m.byPath[t.Path]; ok {
			return fmt.Errorf("tablespace records %d and %d both name %s", m.Files[i].FileIndex, t.FileIndex, t.Path)
		}
		m.byIndex[t.FileIndex] = len(m.Files)
		m.byPath[t.Path] = len(m.Files)
		m.Files = append(m.Files, f)
	case rec.Pages != nil:
		p := rec.Pages
		f := m.File(p.FileIndex)
		if f == nil {
			return fmt.Errorf("page batch for file %d, which no tablespace record announced", p.FileIndex)
		}
		size := uint64(f.PageSize)
		if uint64(len(p.Data))%size != 0 {
			return fmt.Errorf("page batch for %s at page %d is %d bytes, not a whole number of %d-byte pages", f.Path, p.FirstPage, len(p.Data), size)
		}
		n := uint64(len(p.Data)) / size
		if n == 0 {
			return nil
		}
		if p.FirstPage+n > math.MaxUint32 || p.FirstPage+n < p.FirstPage {
			return fmt.Errorf("page batch for %s reaches page %d, beyond the 2^32 pages a tablespace can have", f.Path, p.FirstPage+n-1)
		}
		before := m.Pages.SpaceLen(p.FileIndex)
		m.Pages.AddRange(p.FileIndex, uint32(p.FirstPage), uint32(p.FirstPage+n))
		m.DuplicatePages += n - (m.Pages.SpaceLen(p.FileIndex) - before)
	}
	return nil
}

// The page map file, REPO/streams/ID.map:
//
//	magic    8 bytes  "PGTKPMAP"
//	version  u32      1
//	length   u32      length of the file list
//	files    JSON     {"files": [MapFile…], "duplicate_pages": N}
//	length   u64      length of the page set
//	pages    bytes    pagemap.PageSet.MarshalBinary, keyed by FileIndex
//	crc      u32      CRC-32C (Castagnoli) of everything before it
//
// Integers are big-endian.
const (
	mapMagic   = "PGTKPMAP"
	mapVersion = 1
)

type mapFileList struct {
	Files          []MapFile `json:"files"`
	DuplicatePages uint64    `json:"duplicate_pages"`
}

// MarshalBinary encodes m as the page map file.
func (m *PageMap) MarshalBinary() ([]byte, error) {
	files := m.Files
	if files == nil {
		files = []MapFile{}
	}
	list, err := json.Marshal(mapFileList{Files: files, DuplicatePages: m.DuplicatePages})
	if err != nil {
		return nil, err
	}
	set, err := m.Pages.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(mapMagic)+4+4+len(list)+8+len(set)+4)
	b = append(b, mapMagic...)
	b = binary.BigEndian.AppendUint32(b, mapVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
	b = append(b, list...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(set)))
	b = append(b, set...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalPageMap decodes a page map file.
func UnmarshalPageMap(b []byte) (*PageMap, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: page map: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < len(mapMagic)+4+4+8+4 {
		return nil, bad("%d bytes is too short", len(b))
	}
	if !bytes.Equal(b[:len(mapMagic)], []byte(mapMagic)) {
		return nil, bad("bad magic")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, bad("fails its checksum (crc32c %08x, stored %08x)", got, sum)
	}
	if v := binary.BigEndian.Uint32(body[len(mapMagic):]); v != mapVersion {
		return nil, fmt.Errorf("page map format %d is not one this host-example reads (%d); use a newer host-example", v, mapVersion)
	}
	rest := body[len(mapMagic)+4:]
	n := uint64(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if n > uint64(len(rest)) {
		return nil, bad("file list length %d overruns the map", n)
	}
	var list mapFileList
	if err := json.Unmarshal(rest[:n], &list); err != nil {
		return nil, bad("file list does not parse: %v", err)
	}
	rest = rest[n:]
	if len(rest) < 8 {
		return nil, bad("truncated before the page set")
	}
	n = binary.BigEndian.Uint64(rest)
	rest = rest[8:]
	if n != uint64(len(rest)) {
		return nil, bad("page set length %d, %d bytes left", n, len(rest))
	}
	m := NewPageMap()
	if err := m.Pages.UnmarshalBinary(rest); err != nil {
		return nil, bad("%v", err)
	}
	for _, f := range list.Files {
		if _, dup := m.byIndex[f.FileIndex]; dup {
			return nil, bad("file index %d listed twice", f.FileIndex)
		}
		if _, dup := m.byPath[f.Path]; dup {
			return nil, bad("path %s listed twice", f.Path)
		}
		if f.PageSize == 0 {
			return nil, bad("file %s has page size 0", f.Path)
		}
		m.byIndex[f.FileIndex] = len(m.Files)
		m.byPath[f.Path] = len(m.Files)
		m.Files = append(m.Files, f)
	}
	for _, space := range m.Pages.Spaces() {
		if m.File(space) == nil {
			return nil, bad("pages of file index %d, which the file list lacks", space)
		}
	}
	m.DuplicatePages = list.DuplicatePages
	return m, nil
}
