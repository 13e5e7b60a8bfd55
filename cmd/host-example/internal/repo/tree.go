package repo

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/pagetrack/pagetrack/shared"
)

// A snapshot's record list is its stream with every payload replaced by the IDs of the
// blobs holding it (see doc.go):
//
//	item     head length u32, head, then for PageBatch, RedoSegment, BinlogChunk and
//	         FileChunk records: payload length u64, piece length u32, n × blob ID
//	head     shared.AppendRecord of the record with its payload emptied
//
// n = ceil(payload length / piece length), 0 for an empty payload. A page batch's pieces are
// its pages (piece length = the file's page size); any other payload is one piece, or pieces
// of maxDataBlob bytes when longer. The list is cut into tree blobs at item boundaries.
const (
	// maxDataBlob bounds the blobs a redo, binlog or file payload is cut into.
	maxDataBlob = 1 << 20
	// Tree blobs are cut after an item whose FNV-1a hash is 0 modulo treeCutMod, once they
	// hold treeMin bytes, and always once they hold treeMax: a cut depends on the item alone,
	// so the record lists of two backups of the same data share their tree blobs after the
	// first items that differ.
	treeMin    = 8 << 10
	treeMax    = 1 << 20
	treeCutMod = 16
)

// item is one record of a record list.
type item struct {
	// rec is the record, its payload (Data) left empty.
	rec *shared.Record
	// size is the payload's length; piece the length of each blob but the last.
	size  uint64
	piece uint32
	blobs []ID
}

func hasPayload(r *shared.Record) bool {
	return r.Pages != nil || r.Redo != nil || r.Binlog != nil || r.File != nil
}

func payloadOf(r *shared.Record) []byte {
	switch {
	case r.Pages != nil:
		return r.Pages.Data
	case r.Redo != nil:
		return r.Redo.Data
	case r.Binlog != nil:
		return r.Binlog.Data
	case r.File != nil:
		return r.File.Data
	}
	return nil
}

// withoutPayload returns a shallow copy of r with its payload empty.
func withoutPayload(r *shared.Record) *shared.Record {
	switch {
	case r.Pages != nil:
		p := *r.Pages
		p.Data = nil
		return &shared.Record{Pages: &p}
	case r.Redo != nil:
		p := *r.Redo
		p.Data = nil
		return &shared.Record{Redo: &p}
	case r.Binlog != nil:
		p := *r.Binlog
		p.Data = nil
		return &shared.Record{Binlog: &p}
	case r.File != nil:
		p := *r.File
		p.Data = nil
		return &shared.Record{File: &p}
	}
	return r
}

// setPayload sets r's payload (r is an item's record, not shared).
func setPayload(r *shared.Record, data []byte) {
	switch {
	case r.Pages != nil:
		r.Pages.Data = data
	case r.Redo != nil:
		r.Redo.Data = data
	case r.Binlog != nil:
		r.Binlog.Data = data
	case r.File != nil:
		r.File.Data = data
	}
}

// appendItem encodes rec (whose payload is described by size, piece and blobs) onto b.
func appendItem(b []byte, rec *shared.Record, size uint64, piece uint32, blobs []ID) []byte {
	b = appendItemHead(b, rec, size, piece)
	for _, id := range blobs {
		b = append(b, id[:]...)
	}
	return b
}

// appendItemHead appends rec's item up to its blob IDs.
func appendItemHead(b []byte, rec *shared.Record, size uint64, piece uint32) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	b = shared.AppendRecord(b, withoutPayload(rec))
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	if !hasPayload(rec) {
		return b
	}
	b = binary.BigEndian.AppendUint64(b, size)
	return binary.BigEndian.AppendUint32(b, piece)
}

// pieces is the number of blobs a payload of size bytes in pieces of piece bytes takes.
func pieces(size uint64, piece uint32) uint64 {
	if size == 0 {
		return 0
	}
	return (size + uint64(piece) - 1) / uint64(piece)
}

// treeReader decodes the items of one tree blob.
type treeReader struct {
	b   []byte
	off int
}

// next returns the next item, or nil at the end.
func (t *treeReader) next() (*item, error) {
	if t.off == len(t.b) {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("record list item at byte %d: %s", t.off, fmt.Sprintf(format, args...))
	}
	rest := t.b[t.off:]
	if len(rest) < 4 {
		return nil, bad("truncated")
	}
	n := int(binary.BigEndian.Uint32(rest))
	if n < 1 || n > len(rest)-4 {
		return nil, bad("head length %d overruns the list", n)
	}
	rec, err := shared.DecodeRecord(rest[4 : 4+n])
	if err != nil {
		return nil, bad("%v", err)
	}
	if rec.Progress != nil {
		return nil, bad("a progress record")
	}
	it := &item{rec: rec}
	used := 4 + n
	if hasPayload(rec) {
		setPayload(rec, nil)
		if len(rest) < used+12 {
			return nil, bad("truncated payload reference")
		}
		it.size = binary.BigEndian.Uint64(rest[used:])
		it.piece = binary.BigEndian.Uint32(rest[used+8:])
		used += 12
		if it.size > 0 && it.piece == 0 {
			return nil, bad("piece length 0")
		}
		k := pieces(it.size, it.piece)
		if k > uint64(len(rest)-used)/32 {
			return nil, bad("%d blob IDs overrun the list", k)
		}
		it.blobs = make([]ID, k)
		for i := range it.blobs {
			copy(it.blobs[i][:], rest[used:])
			used += 32
		}
	}
	t.off += used
	return it, nil
}

// pieceLen is the length of blob i of it.
func (it *item) pieceLen(i int) uint64 {
	if i < len(it.blobs)-1 {
		return uint64(it.piece)
	}
	return it.size - uint64(it.piece)*uint64(len(it.blobs)-1)
}

// treeChunker cuts a record list into tree blobs.
type treeChunker struct {
	cur []byte
}

// add appends one encoded item; it returns a finished tree blob, or nil.
func (c *treeChunker) add(enc []byte) []byte {
	c.cur = append(c.cur, enc...)
	if len(c.cur) >= treeMax || (len(c.cur) >= treeMin && cutAfter(enc)) {
		return c.flush()
	}
	return nil
}

func (c *treeChunker) flush() []byte {
	if len(c.cur) == 0 {
		return nil
	}
	out := c.cur
	c.cur = nil
	return out
}

func cutAfter(enc []byte) bool {
	h := fnv.New64a()
	h.Write(enc)
	return h.Sum64()%treeCutMod == 0
}
