package repo

import (
	"fmt"
	"math"

	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// PageMap says what one stream holds of each InnoDB file: its files and the pages of each. A
// StreamWriter builds it as records arrive; Repository.PageMap builds it from a stored record
// list. Its size follows the pages that arrived (ranges in a pagemap.PageSet), never a
// Tablespace's claimed SizePages.
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

// NewPageMap returns an empty map.
func NewPageMap() *PageMap {
	return &PageMap{Pages: pagemap.NewPageSet(), byIndex: map[uint32]int{}}
}

// File returns the file with FileIndex index, or nil.
func (m *PageMap) File(index uint32) *MapFile {
	if i, ok := m.byIndex[index]; ok {
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

// Add folds one record of a stream into the map. The stream's rules (tablespaces before their
// pages, whole pages inside the declared size, one path per file index) are the stream
// kernel's: a StreamWriter receives only records a shared.StreamChecker accepted. Add
// refuses only what it could not represent (pages of a file it was not told about, a file
// without a page size), so a damaged record list read back from disk is an error, not a
// panic. The map grows with the pages that arrived, never with a claimed size.
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
			m.Files[i] = f
			return nil
		}
		m.byIndex[t.FileIndex] = len(m.Files)
		m.Files = append(m.Files, f)
	case rec.Pages != nil:
		return m.addBatch(rec.Pages, uint64(len(rec.Pages.Data)))
	}
	return nil
}

// addBatch folds in page batch b of dataLen bytes (its Data may be left out).
func (m *PageMap) addBatch(b *shared.PageBatch, dataLen uint64) error {
	index, first := b.FileIndex, b.FirstPage
	f := m.File(index)
	if f == nil {
		return fmt.Errorf("page batch for file %d, which no tablespace record announced", index)
	}
	n := dataLen / uint64(f.PageSize)
	if b.PageNumbers != nil { // a format 3 batch of listed pages
		if uint64(len(b.PageNumbers)) != n {
			return fmt.Errorf("page batch for %s lists %d pages for %d pages of data", f.Path, len(b.PageNumbers), n)
		}
		before := m.Pages.SpaceLen(index)
		for _, p := range b.PageNumbers {
			m.Pages.AddRange(index, p, p+1)
		}
		m.DuplicatePages += n - (m.Pages.SpaceLen(index) - before)
		return nil
	}
	if first+n > math.MaxUint32 || first+n < first {
		return fmt.Errorf("page batch for %s reaches page %d, beyond the 2^32 pages a tablespace can have", f.Path, first+n-1)
	}
	before := m.Pages.SpaceLen(index)
	m.Pages.AddRange(index, uint32(first), uint32(first+n))
	m.DuplicatePages += n - (m.Pages.SpaceLen(index) - before)
	return nil
}
