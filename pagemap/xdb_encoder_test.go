package pagemap

import "encoding/binary"

// A test-only encoder for XtraDB changed-page bitmap files, written from the layout in doc.go.

// xdbBlock describes one bitmap block.
type xdbBlock struct {
	last             bool
	startLSN, endLSN uint64
	space, first     uint32
	pages            []uint32 // page numbers in [first, first+BitmapBlockPages)
}

// encode returns the block's 4096 bytes with a valid checksum.
func (b xdbBlock) encode() []byte {
	blk := make([]byte, BitmapBlockSize)
	if b.last {
		binary.BigEndian.PutUint32(blk[xdbIsLast:], 1)
	}
	binary.BigEndian.PutUint64(blk[xdbStartLSN:], b.startLSN)
	binary.BigEndian.PutUint64(blk[xdbEndLSN:], b.endLSN)
	binary.BigEndian.PutUint32(blk[xdbSpace:], b.space)
	binary.BigEndian.PutUint32(blk[xdbFirstPage:], b.first)
	for _, p := range b.pages {
		i := p - b.first
		blk[xdbBitmap+i/8] |= 1 << (i % 8)
	}
	setBlockChecksum(blk)
	return blk
}

func setBlockChecksum(blk []byte) {
	binary.BigEndian.PutUint32(blk[xdbChecksum:], BitmapChecksum(blk))
}

// fixChecksums gives every whole block of data a valid checksum, in place.
func fixChecksums(data []byte) []byte {
	for off := 0; off+BitmapBlockSize <= len(data); off += BitmapBlockSize {
		setBlockChecksum(data[off : off+BitmapBlockSize])
	}
	return data
}

// runBlocks splits set into the blocks of one run for [startLSN, endLSN), in the order XtraDB
// writes them: ascending (space, first page), the last one flagged.
func runBlocks(set *PageSet, startLSN, endLSN uint64) []xdbBlock {
	var blocks []xdbBlock
	set.Each(func(space, page uint32) bool {
		first := page / BitmapBlockPages * BitmapBlockPages
		if n := len(blocks); n == 0 || blocks[n-1].space != space || blocks[n-1].first != first {
			blocks = append(blocks, xdbBlock{startLSN: startLSN, endLSN: endLSN, space: space, first: first})
		}
		b := &blocks[len(blocks)-1]
		b.pages = append(b.pages, page)
		return true
	})
	if n := len(blocks); n > 0 {
		blocks[n-1].last = true
	}
	return blocks
}

// appendRun appends the encoded run of set for [startLSN, endLSN) to data.
func appendRun(data []byte, set *PageSet, startLSN, endLSN uint64) []byte {
	for _, b := range runBlocks(set, startLSN, endLSN) {
		data = append(data, b.encode()...)
	}
	return data
}

// xdbRun is one run to encode.
type xdbRun struct {
	start, end uint64
	pages      *PageSet
}

// encodeRuns encodes runs in order.
func encodeRuns(runs ...xdbRun) []byte {
	var data []byte
	for _, r := range runs {
		data = appendRun(data, r.pages, r.start, r.end)
	}
	return data
}

// bitsOf returns every (space, page) whose bit is set in a whole block of data, checksum or
// not: an upper bound for what a reader may add.
func bitsOf(data []byte) *PageSet {
	s := NewPageSet()
	for off := 0; off+BitmapBlockSize <= len(data); off += BitmapBlockSize {
		blk := data[off : off+BitmapBlockSize]
		space := binary.BigEndian.Uint32(blk[xdbSpace:])
		first := uint64(binary.BigEndian.Uint32(blk[xdbFirstPage:]))
		for i := 0; i < xdbBitmapBytes; i++ {
			c := blk[xdbBitmap+i]
			for bit := 0; c != 0; bit, c = bit+1, c>>1 {
				if p := first + uint64(i*8+bit); c&1 != 0 && p <= 0xFFFFFFFF {
					s.Add(space, uint32(p))
				}
			}
		}
	}
	return s
}

// Compact fuzz inputs. A bitmap stream is mostly zeros, and the fuzzer mutates and minimizes
// inputs byte by byte, so 4 KiB blocks would make it crawl. A compact input describes each block
// in 48 bytes instead, expanded by expandCompact:
//
//	compact  block
//	0..31    0..31      header
//	32..39   32..39     the first 64 bitmap bits
//	40..47   4080..4087 the last 64 bitmap bits
//	(the checksum field, 4092..4095, is left zero: the fuzz target tries both the expanded
//	stream as is and with every checksum fixed)
//
// A trailing partial chunk of n bytes becomes a truncated block of n*85 bytes.
const compactChunk = 48

func expandCompact(c []byte) []byte {
	var out []byte
	for len(c) > 0 {
		n := min(len(c), compactChunk)
		blk := make([]byte, BitmapBlockSize)
		chunk := c[:n]
		copy(blk[:40], chunk)
		if n > 40 {
			copy(blk[xdbBitmapEnd-8:xdbBitmapEnd], chunk[40:])
		}
		if n < compactChunk {
			blk = blk[:n*85]
		}
		out = append(out, blk...)
		c = c[n:]
	}
	return out
}

// compactOf is the inverse of expandCompact for whole blocks whose bitmap bits all lie in its
// first and last 64 bits; it is used to make seeds.
func compactOf(data []byte) []byte {
	var c []byte
	for off := 0; off+BitmapBlockSize <= len(data); off += BitmapBlockSize {
		blk := data[off : off+BitmapBlockSize]
		c = append(c, blk[:40]...)
		c = append(c, blk[xdbBitmapEnd-8:xdbBitmapEnd]...)
	}
	return c
}
