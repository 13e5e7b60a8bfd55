package streamtest

import (
	"fmt"
	"slices"

	"github.com/pagetrack/pagetrack/shared"
)

// The sizes and offsets of the forgeries the issue names.
const (
	pagesMaxUint32 = 1<<32 - 1
	pages2to29     = 1 << 29
	pages2to50     = 1 << 50
	offset2to43    = 1 << 43
)

// Cases is the corpus. Names are stable: tests may list them.
func Cases() []Case {
	return []Case{
		{"SizePages=4294967295", claimSize(pagesMaxUint32)},
		{"SizePages=2^29", claimSize(pages2to29)},
		{"SizePages=2^50", sizeBeyondLimit},
		{"FirstPage beyond SizePages", firstPageBeyondSize},
		{"page batch far beyond what arrived", pageFarAhead},
		{"page batch removed", pageBatchRemoved},
		{"duplicated page batch", duplicatedBatch},
		{"partial page", partialPage},
		{"reordered: pages before their tablespace", pagesBeforeTablespace},
		{"file offset 2^43", fileOffset},
		{"binlog offset 2^43", binlogOffset},
		{"binlog removed", binlogRemoved},
		{"binlog renamed", binlogRenamed},
		{"binlog without base name", binlogWithoutBasename},
		{"missing header", missingHeader},
		{"second header", secondHeader},
		{"unknown stream format", headerField(func(h *shared.Header) { h.StreamFormat = 99 }, "stream format 99 is not one this version reads")},
		{"page size not InnoDB's", headerField(func(h *shared.Header) { h.PageSize = 12345 }, "page size 12345 is not one InnoDB allows")},
		{"master keys not sorted", headerField(func(h *shared.Header) { h.MasterKeys = []string{"b", "a"} }, `master keys are not sorted without repeats ("a" after "b")`)},
		{"master key not printable", headerField(func(h *shared.Header) { h.MasterKeys = []string{"a\nb"} }, "is not a printable ASCII keyring id")},
		{"redo encryption block size", headerField(func(h *shared.Header) { h.RedoEncryption = make([]byte, 100) }, "the redo encryption block is 100 bytes, not 512")},
		{"missing trailer", missingTrailer},
		{"record after trailer", recordAfterTrailer},
		{"empty record", emptyRecord},
		{"redo gap", redoGap},
		{"redo cut short", redoCutShort},
		{"escaping path", tablespacePath("../escape.ibd", `names the path "../escape.ibd", which escapes the datadir`)},
		{"absolute path", tablespacePath("/etc/evil.ibd", `names the absolute path "/etc/evil.ibd"`)},
		{"unclean path", tablespacePath("a/../../escape.ibd", `names the path "a/../../escape.ibd", which is not in clean form`)},
		{"reserved path", reservedPath},
		{"path named twice", pathNamedTwice},
		{"wrong physical page size", wrongPageSize},
		{"incremental file in a full backup", incrementalInFull},
		{"trailer tablespaces", trailerCount("tablespaces", func(t *shared.Trailer) *uint64 { return &t.Tablespaces })},
		{"trailer pages", trailerCount("pages", func(t *shared.Trailer) *uint64 { return &t.Pages })},
		{"trailer page bytes", trailerCount("page bytes", func(t *shared.Trailer) *uint64 { return &t.PageBytes })},
		{"trailer redo bytes", trailerCount("redo bytes", func(t *shared.Trailer) *uint64 { return &t.RedoBytes })},
		{"trailer binlog bytes", trailerCount("binlog bytes", func(t *shared.Trailer) *uint64 { return &t.BinlogBytes })},
		{"trailer files", trailerCount("files", func(t *shared.Trailer) *uint64 { return &t.Files })},
		{"trailer binlog position", binlogPosition},
		{"trailer checkpoint", trailerCheckpoint},
		{"page LSN beyond end", maxPageLSN},
		{"trailer record count", recordCount},
		{"digest", digest},
		{"page list not increasing", listedBatch(func(p *shared.PageBatch) { p.PageNumbers[1] = p.PageNumbers[0] }, "page numbers are strictly increasing")},
		{"page list count", listedBatch(func(p *shared.PageBatch) { p.PageNumbers = p.PageNumbers[:1] }, "lists 1 page numbers for ")},
		{"page list beyond SizePages", listedBatch(func(p *shared.PageBatch) { p.PageNumbers[len(p.PageNumbers)-1] = 1 << 30 }, "lists page 1073741824, beyond the")},
		{"page list FirstPage", listedBatch(func(p *shared.PageBatch) { p.FirstPage = uint64(p.PageNumbers[0]) + 1 }, ", but its list starts at ")},
		{"page list in format 2", pageListInFormat2},
	}
}

// listedBatch forges a page batch with a page-number list: the first one with two or more
// pages listed, else (a stream of contiguous batches) the first batch of two or more pages of
// a format 3 stream, given the list of its own pages first.
func listedBatch(forge func(*shared.PageBatch), rule string) func([]*shared.Record) ([]*shared.Record, string, bool) {
	return func(recs []*shared.Record) ([]*shared.Record, string, bool) {
		i, ok := listable(recs)
		if !ok {
			return nil, "", false
		}
		out := edit(recs, func(r *shared.Record) {
			listPages(recs, r.Pages)
			forge(r.Pages)
		}, i)
		return Reseal(out), rule, true
	}
}

// listable finds the batch listedBatch forges.
func listable(recs []*shared.Record) (int, bool) {
	h := find(recs, shared.RecordHeader)
	if len(h) == 0 || recs[h[0]].Header.StreamFormat < 3 {
		return 0, false
	}
	batches := find(recs, shared.RecordPages)
	for _, i := range batches {
		if len(recs[i].Pages.PageNumbers) >= 2 {
			return i, true
		}
	}
	for _, i := range batches {
		if p := recs[i].Pages; p.PageNumbers == nil && len(p.Data) >= 2*pageSizeOf(recs, p.FileIndex) {
			return i, true
		}
	}
	return 0, false
}

// listPages gives a contiguous batch (a copy) the list of its own pages; a listed one gets a
// copy of its list.
func listPages(recs []*shared.Record, p *shared.PageBatch) {
	if p.PageNumbers != nil {
		p.PageNumbers = slices.Clone(p.PageNumbers)
		return
	}
	for k := range len(p.Data) / pageSizeOf(recs, p.FileIndex) {
		p.PageNumbers = append(p.PageNumbers, uint32(p.FirstPage)+uint32(k))
	}
}

func pageSizeOf(recs []*shared.Record, index uint32) int {
	for _, i := range find(recs, shared.RecordTablespace) {
		if t := recs[i].Tablespace; t.FileIndex == index {
			return int(t.PageSize)
		}
	}
	return 1 << 30
}

func pageListInFormat2(recs []*shared.Record) ([]*shared.Record, string, bool) {
	i, ok := listable(recs)
	if !ok {
		return nil, "", false
	}
	h := find(recs, shared.RecordHeader)[0]
	out := edit(recs, func(r *shared.Record) { r.Header.StreamFormat = 2 }, h)
	out = edit(out, func(r *shared.Record) { listPages(recs, r.Pages) }, i)
	return Reseal(out), "a page batch with a page-number list in a format 2 stream", true
}

func claimSize(n uint64) func([]*shared.Record) ([]*shared.Record, string, bool) {
	return func(recs []*shared.Record) ([]*shared.Record, string, bool) {
		_, ts, batches, ok := wholeFile(recs)
		if !ok {
			return nil, "", false
		}
		var arrived uint64
		for _, i := range batches {
			arrived += uint64(len(recs[i].Pages.Data)) / uint64(recs[ts[0]].Tablespace.PageSize)
		}
		out := edit(recs, func(r *shared.Record) { r.Tablespace.SizePages = n }, ts...)
		return Reseal(out), fmt.Sprintf("tablespace %s declares %d pages, %d arrived", recs[ts[0]].Tablespace.Path, n, arrived), true
	}
}

func sizeBeyondLimit(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, _, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	out := edit(recs, func(r *shared.Record) { r.Tablespace.SizePages = pages2to50 }, ts...)
	return Reseal(out), fmt.Sprintf("tablespace %s claims %d pages, beyond the 4294967295 a tablespace can have", recs[ts[0]].Tablespace.Path, uint64(pages2to50)), true
}

func firstPageBeyondSize(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, batches, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	size := recs[ts[0]].Tablespace.PageSize
	out := edit(recs, func(r *shared.Record) { r.Tablespace.SizePages = 7 }, ts...)
	out = edit(out, func(r *shared.Record) { r.Pages.FirstPage, r.Pages.Data = 100, r.Pages.Data[:size] }, batches[0])
	return Reseal(out), fmt.Sprintf("page batch for %s holds pages 100..100, beyond the 7 pages its Tablespace declares", recs[ts[0]].Tablespace.Path), true
}

func pageFarAhead(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, batches, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	out := edit(recs, func(r *shared.Record) { r.Tablespace.SizePages = pagesMaxUint32 }, ts...)
	out = edit(out, func(r *shared.Record) { r.Pages.FirstPage = 1 << 31 }, batches[0])
	return Reseal(out), fmt.Sprintf("page batch for %s starts at page 2147483648, but only 0 pages of the file arrived so far", recs[ts[0]].Tablespace.Path), true
}

func pageBatchRemoved(recs []*shared.Record) ([]*shared.Record, string, bool) {
	batches := find(recs, shared.RecordPages)
	t, _ := trailer(recs)
	if len(batches) == 0 || t == nil {
		return nil, "", false
	}
	last := batches[len(batches)-1]
	var size uint32
	for _, i := range find(recs[:last], shared.RecordTablespace) {
		if recs[i].Tablespace.FileIndex == recs[last].Pages.FileIndex {
			size = recs[i].Tablespace.PageSize
		}
	}
	if size == 0 {
		return nil, "", false
	}
	n := uint64(len(recs[last].Pages.Data)) / uint64(size)
	return Reseal(remove(recs, last)), fmt.Sprintf("the Trailer counts %d pages, %d arrived", t.Pages, t.Pages-n), true
}

func duplicatedBatch(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, batches, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	b := recs[batches[0]].Pages
	n := uint64(len(b.Data)) / uint64(recs[ts[0]].Tablespace.PageSize)
	out := insert(recs, batches[0]+1, Clone(recs[batches[0]]))
	return Reseal(out), fmt.Sprintf("page batch for %s holds pages %d..%d, some of which arrived already", recs[ts[0]].Tablespace.Path, b.FirstPage, b.FirstPage+n-1), true
}

func partialPage(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, batches, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	n := len(recs[batches[0]].Pages.Data) - 1
	out := edit(recs, func(r *shared.Record) { r.Pages.Data = r.Pages.Data[:n] }, batches[0])
	return Reseal(out), fmt.Sprintf("page batch for %s is %d bytes, not a whole, non-zero number of %d-byte pages", recs[ts[0]].Tablespace.Path, n, recs[ts[0]].Tablespace.PageSize), true
}

func pagesBeforeTablespace(recs []*shared.Record) ([]*shared.Record, string, bool) {
	index, ts, batches, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	out := insert(remove(recs, batches[0]), ts[0], recs[batches[0]])
	return Reseal(out), fmt.Sprintf("page batch for file %d, which no earlier Tablespace record announced", index), true
}

func fileOffset(recs []*shared.Record) ([]*shared.Record, string, bool) {
	files := find(recs, shared.RecordFile)
	if len(files) == 0 {
		return nil, "", false
	}
	out := edit(recs, func(r *shared.Record) { r.File.Offset = offset2to43 }, files[0])
	return Reseal(out), fmt.Sprintf("file chunk of %s at offset %d, but 0 bytes of it arrived so far", recs[files[0]].File.Path, uint64(offset2to43)), true
}

// binlogOffset moves the last binlog chunk to offset 2^43 (splitting a lone chunk in two
// first, since a first chunk at an offset is what a binlog delta looks like).
func binlogOffset(recs []*shared.Record) ([]*shared.Record, string, bool) {
	chunks := find(recs, shared.RecordBinlog)
	if len(chunks) == 0 || (len(chunks) == 1 && len(recs[chunks[0]].Binlog.Data) < 2) {
		return nil, "", false
	}
	out := edit(recs, func(*shared.Record) {}, chunks...)
	if len(chunks) == 1 {
		b := out[chunks[0]].Binlog
		half := len(b.Data) / 2
		second := &shared.Record{Binlog: &shared.BinlogChunk{Name: b.Name, Offset: b.Offset + uint64(half), Data: b.Data[half:]}}
		b.Data = b.Data[:half]
		out = slices.Insert(out, chunks[0]+1, second)
		chunks = append(chunks, chunks[0]+1)
	}
	last := out[chunks[len(chunks)-1]].Binlog
	end := last.Offset
	last.Offset = offset2to43
	return Reseal(out), fmt.Sprintf("binlog chunk of %s at offset %d, but the chunks so far end at %d", last.Name, uint64(offset2to43), end), true
}

func binlogRemoved(recs []*shared.Record) ([]*shared.Record, string, bool) {
	chunks := find(recs, shared.RecordBinlog)
	t, _ := trailer(recs)
	if len(chunks) == 0 || t == nil {
		return nil, "", false
	}
	return Reseal(remove(recs, chunks...)), fmt.Sprintf("the Trailer names binlog %s up to position %d, but no binlog chunk arrived", t.BinlogFile, t.BinlogPos), true
}

func binlogRenamed(recs []*shared.Record) ([]*shared.Record, string, bool) {
	chunks := find(recs, shared.RecordBinlog)
	t, _ := trailer(recs)
	if len(chunks) == 0 || t == nil {
		return nil, "", false
	}
	out := edit(recs, func(r *shared.Record) { r.Binlog.Name = "binlog.999999" }, chunks...)
	return Reseal(out), fmt.Sprintf("the Trailer names binlog %s, but the chunks are of binlog.999999", t.BinlogFile), true
}

func binlogWithoutBasename(recs []*shared.Record) ([]*shared.Record, string, bool) {
	if len(find(recs, shared.RecordBinlog)) == 0 {
		return nil, "", false
	}
	return headerField(func(h *shared.Header) { h.BinlogBasename = "" }, "a binlog chunk in a stream whose Header names no binlog base name")(recs)
}

func missingHeader(recs []*shared.Record) ([]*shared.Record, string, bool) {
	h := find(recs, shared.RecordHeader)
	if len(h) == 0 {
		return nil, "", false
	}
	return Reseal(remove(recs, h[0])), "the stream does not start with a Header", true
}

func secondHeader(recs []*shared.Record) ([]*shared.Record, string, bool) {
	h := find(recs, shared.RecordHeader)
	if len(h) == 0 {
		return nil, "", false
	}
	return Reseal(insert(recs, h[0]+1, Clone(recs[h[0]]))), "a second Header; a stream has exactly one", true
}

func headerField(f func(*shared.Header), want string) func([]*shared.Record) ([]*shared.Record, string, bool) {
	return func(recs []*shared.Record) ([]*shared.Record, string, bool) {
		h := find(recs, shared.RecordHeader)
		if len(h) == 0 {
			return nil, "", false
		}
		return Reseal(edit(recs, func(r *shared.Record) { f(r.Header) }, h[0])), want, true
	}
}

func missingTrailer(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, i := trailer(recs)
	if i < 0 {
		return nil, "", false
	}
	return remove(recs, i), shared.ErrNoTrailer.Error(), true
}

func recordAfterTrailer(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, i := trailer(recs)
	ts := find(recs, shared.RecordTablespace)
	if i < 0 || len(ts) == 0 {
		return nil, "", false
	}
	return insert(recs, i+1, Clone(recs[ts[0]])), "the record follows the Trailer; nothing may follow it", true
}

func emptyRecord(recs []*shared.Record) ([]*shared.Record, string, bool) {
	if len(recs) < 2 {
		return nil, "", false
	}
	return insert(recs, 1, &shared.Record{}), "a record has exactly one field set; this one has none or several", true
}

func redoGap(recs []*shared.Record) ([]*shared.Record, string, bool) {
	redo := find(recs, shared.RecordRedo)
	if len(redo) == 0 {
		return nil, "", false
	}
	start := recs[redo[0]].Redo.StartLSN
	out := edit(recs, func(r *shared.Record) { r.Redo.StartLSN += shared.RedoBlockSize }, redo[0])
	return Reseal(out), fmt.Sprintf("redo segment starts at LSN %d, expected %d", start+shared.RedoBlockSize, start), true
}

func redoCutShort(recs []*shared.Record) ([]*shared.Record, string, bool) {
	redo := find(recs, shared.RecordRedo)
	if len(redo) == 0 {
		return nil, "", false
	}
	last := recs[redo[len(redo)-1]].Redo
	return Reseal(remove(recs, redo[len(redo)-1])), fmt.Sprintf("to %d, but the end point", last.StartLSN), true
}

func tablespacePath(p, want string) func([]*shared.Record) ([]*shared.Record, string, bool) {
	return func(recs []*shared.Record) ([]*shared.Record, string, bool) {
		_, ts, _, ok := wholeFile(recs)
		if !ok {
			return nil, "", false
		}
		return Reseal(edit(recs, func(r *shared.Record) { r.Tablespace.Path = p }, ts...)), want, true
	}
}

func reservedPath(recs []*shared.Record) ([]*shared.Record, string, bool) {
	files := find(recs, shared.RecordFile)
	if len(files) == 0 {
		return nil, "", false
	}
	const p = "#innodb_redo/#ib_redo0"
	out := edit(recs, func(r *shared.Record) { r.File.Path = p }, files[0])
	return Reseal(out), "names " + p + ", which a restore writes itself", true
}

func pathNamedTwice(recs []*shared.Record) ([]*shared.Record, string, bool) {
	index, ts, _, ok := wholeFile(recs)
	files := indexFiles(recs)
	if !ok || len(files) == 0 || files[0] < ts[0] {
		return nil, "", false
	}
	p := recs[ts[0]].Tablespace.Path
	out := edit(recs, func(r *shared.Record) { r.File.Path = p }, files[0])
	return Reseal(out), fmt.Sprintf("file chunk names %s, which tablespace %d already names", p, index), true
}

func indexFiles(recs []*shared.Record) []int { return find(recs, shared.RecordFile) }

func wrongPageSize(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, _, ok := wholeFile(recs)
	if !ok {
		return nil, "", false
	}
	t := recs[ts[0]].Tablespace
	out := edit(recs, func(r *shared.Record) { r.Tablespace.PageSize *= 2 }, ts...)
	return Reseal(out), fmt.Sprintf("tablespace %s: page size %d is not", t.Path, t.PageSize*2), true
}

func incrementalInFull(recs []*shared.Record) ([]*shared.Record, string, bool) {
	_, ts, _, ok := wholeFile(recs)
	t, _ := trailer(recs)
	if !ok || t == nil || t.Kind != shared.KindFull {
		return nil, "", false
	}
	out := edit(recs, func(r *shared.Record) { r.Tablespace.Incremental = true }, ts...)
	// A store refuses it at the Trailer (a full backup …), a restore at the Tablespace.
	return Reseal(out), "holds only the changed pages of", true
}

// trailerEdit forges the Trailer and reseals.
func trailerEdit(recs []*shared.Record, f func(*shared.Trailer)) ([]*shared.Record, bool) {
	_, i := trailer(recs)
	if i < 0 {
		return nil, false
	}
	return Reseal(edit(recs, func(r *shared.Record) { f(r.Trailer) }, i)), true
}

func trailerCount(what string, field func(*shared.Trailer) *uint64) func([]*shared.Record) ([]*shared.Record, string, bool) {
	return func(recs []*shared.Record) ([]*shared.Record, string, bool) {
		var declared uint64
		out, ok := trailerEdit(recs, func(t *shared.Trailer) { *field(t)++; declared = *field(t) })
		return out, fmt.Sprintf("the Trailer counts %d %s, %d arrived", declared, what, declared-1), ok
	}
}

func binlogPosition(recs []*shared.Record) ([]*shared.Record, string, bool) {
	t, _ := trailer(recs)
	if t == nil || t.BinlogFile == "" {
		return nil, "", false
	}
	var pos uint64
	out, ok := trailerEdit(recs, func(t *shared.Trailer) { t.BinlogPos++; pos = t.BinlogPos })
	return out, fmt.Sprintf("the Trailer's binlog position is %d, but the chunks of %s end at %d", pos, t.BinlogFile, pos-1), ok
}

func trailerCheckpoint(recs []*shared.Record) ([]*shared.Record, string, bool) {
	out, ok := trailerEdit(recs, func(t *shared.Trailer) { t.CheckpointLSN++ })
	return out, "the Trailer's checkpoint LSN", ok
}

func maxPageLSN(recs []*shared.Record) ([]*shared.Record, string, bool) {
	out, ok := trailerEdit(recs, func(t *shared.Trailer) { t.MaxPageLSN = t.EndLSN + 1 })
	return out, "beyond its end point", ok
}

func recordCount(recs []*shared.Record) ([]*shared.Record, string, bool) {
	out, ok := trailerEdit(recs, func(*shared.Trailer) {})
	if !ok {
		return nil, "", false
	}
	_, i := trailer(out)
	t := *out[i].Trailer
	t.Records++
	out[i] = &shared.Record{Trailer: &t}
	return out, fmt.Sprintf("the Trailer counts %d records, %d arrived", t.Records, t.Records-1), true
}

func digest(recs []*shared.Record) ([]*shared.Record, string, bool) {
	out, ok := trailerEdit(recs, func(*shared.Trailer) {})
	if !ok {
		return nil, "", false
	}
	_, i := trailer(out)
	t := *out[i].Trailer
	t.Digest = append([]byte(nil), t.Digest...)
	t.Digest[0] ^= 0xff
	out[i] = &shared.Record{Trailer: &t}
	return out, fmt.Sprintf("the digest does not match the %d records", t.Records), true
}
