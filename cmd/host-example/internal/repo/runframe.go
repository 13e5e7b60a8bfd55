package repo

import (
	"encoding/binary"
	"math/bits"
)

// Run-length frames: the cheap compression of CompressionFast. InnoDB pages shrink mostly by
// their free space, long runs of one byte (zeros, mostly); a zstd frame may hold RLE blocks
// (one byte and a repeat count) beside Raw blocks, so a frame of both is valid zstd that any
// decoder reads and checks by its content checksum, like every other stored form. Finding the
// runs costs one pass over 8-byte words, a fraction of an entropy coder's work.

const (
	zstdBlockRLE = 1
	// minRun is the shortest run written as an RLE block: a run ends one block and starts
	// two (7 bytes of headers and the byte), so shorter runs save little and cost blocks.
	minRun = 64
	// broadcast spreads a byte over the 8 bytes of a word.
	broadcast = 0x0101010101010101
)

// appendRunFrame appends a zstd frame holding src as Raw blocks and, for every run of at
// least minRun equal bytes, an RLE block, with its content checksum.
func appendRunFrame(dst, src []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, zstdMagic)
	dst = append(dst, zstdRawFrameDescriptor)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(src)))
	sum := uint32(xxh64(src))
	lit := 0 // start of the bytes not yet written
	for at := 0; at < len(src); {
		start, end := nextRun(src, at)
		if start == end {
			break
		}
		dst = appendRawBlocks(dst, src[lit:start], false)
		for start < end { // an RLE block regenerates at most zstdMaxBlock bytes
			n := min(end-start, zstdMaxBlock)
			dst = appendBlockHeader(dst, zstdBlockRLE, n, start+n == len(src))
			dst = append(dst, src[start])
			start += n
		}
		lit, at = end, end
	}
	if lit < len(src) || len(src) == 0 {
		dst = appendRawBlocks(dst, src[lit:], true)
	}
	return binary.LittleEndian.AppendUint32(dst, sum)
}

// nextRun finds the first run of at least minRun equal bytes at or after from, as
// [start, end); start == end when there is none. It tests 8-byte words: a run that long
// covers whole words that are one byte repeated.
func nextRun(src []byte, from int) (int, int) {
	for i := from; i+8 <= len(src); i += 8 {
		w := binary.LittleEndian.Uint64(src[i:])
		if w != (w&0xff)*broadcast {
			continue
		}
		b := src[i]
		start := i
		for start > from && src[start-1] == b {
			start--
		}
		end := i + 8
		want := uint64(b) * broadcast
		for end+8 <= len(src) {
			if x := binary.LittleEndian.Uint64(src[end:]) ^ want; x != 0 {
				end += bits.TrailingZeros64(x) / 8
				break
			}
			end += 8
		}
		for end < len(src) && src[end] == b {
			end++
		}
		if end-start >= minRun {
			return start, end
		}
		i = end - 8 // the loop goes on at the run's end (end ≥ i+8: it makes progress)
	}
	return len(src), len(src)
}

// appendRawBlocks appends b as Raw blocks (one empty block when b is empty and last).
func appendRawBlocks(dst, b []byte, last bool) []byte {
	for first := true; first || len(b) > 0; first = false {
		if len(b) == 0 && !last {
			break
		}
		n := min(len(b), zstdMaxBlock)
		dst = appendBlockHeader(dst, zstdBlockRaw, n, last && n == len(b))
		dst = append(dst, b[:n]...)
		b = b[n:]
	}
	return dst
}

// appendBlockHeader appends a zstd block header: last flag, type and size (for an RLE block
// the number of bytes it regenerates).
func appendBlockHeader(dst []byte, typ, size int, last bool) []byte {
	h := uint32(size)<<3 | uint32(typ)<<1
	if last {
		h |= 1
	}
	return append(dst, byte(h), byte(h>>8), byte(h>>16))
}
