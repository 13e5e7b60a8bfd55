package repo

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Compression is how a writer compresses the blobs it stores, REPO/config.json's
// "compression". Every choice writes a zstd frame with its content checksum, so readers
// need not know which one wrote a blob: CompressionOff writes frames of raw blocks (no
// compression work, only the frame's checksum), CompressionFast frames of raw blocks and
// RLE blocks for the runs of one byte (an InnoDB page's free space: runframe.go), and the
// zstd levels fall back to a raw frame for a blob that does not shrink by rawUnlessSaves
// (random row data, already compressed pages), which costs the same to store and less to
// read.
type Compression string

// The compression settings.
const (
	CompressionOff     Compression = "off"
	CompressionFast    Compression = "fast"    // run-length frames (runframe.go), no entropy coding
	CompressionDefault Compression = "default" // zstd's default level
	CompressionBetter  Compression = "better"  // zstd's "better compression" level
)

// DefaultCompression is the setting of a repository whose config names none. Measured on
// the pages of a workload server (BenchmarkCompressInnoDB; see doc.go, "Compression"):
// run-length frames keep most of zstd's saving on InnoDB pages for a tenth of its CPU.
const DefaultCompression = CompressionFast

// rawUnlessSaves: a compressed blob is stored as raw blocks unless compression saves at
// least 1/rawUnlessSaves of its size.
const rawUnlessSaves = 16

// Compressions lists the settings, for messages.
var Compressions = []Compression{CompressionOff, CompressionFast, CompressionDefault, CompressionBetter}

// ParseCompression reads a compression setting; "" is DefaultCompression.
func ParseCompression(s string) (Compression, error) {
	if s == "" {
		return DefaultCompression, nil
	}
	for _, c := range Compressions {
		if string(c) == strings.ToLower(s) {
			return c, nil
		}
	}
	names := make([]string, len(Compressions))
	for i, c := range Compressions {
		names[i] = string(c)
	}
	return "", fmt.Errorf("compression %q is not known; choose one of %s", s, strings.Join(names, ", "))
}

func (c Compression) zstdLevel() (zstd.EncoderLevel, bool) {
	switch c {
	case CompressionDefault:
		return zstd.SpeedDefault, true
	case CompressionBetter:
		return zstd.SpeedBetterCompression, true
	}
	return 0, false
}

// blobEncoder turns a blob's content into the bytes stored in a pack. One goroutine uses it
// at a time; the zstd encoder and its tables are reused from blob to blob.
type blobEncoder struct {
	enc  *zstd.Encoder // nil: CompressionOff or CompressionFast
	runs bool          // CompressionFast: run-length frames
}

func newBlobEncoder(c Compression) (*blobEncoder, error) {
	level, ok := c.zstdLevel()
	if !ok {
		if c == CompressionFast {
			return &blobEncoder{runs: true}, nil
		}
		if c != CompressionOff {
			return nil, fmt.Errorf("compression %q is not known", c)
		}
		return &blobEncoder{}, nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	return &blobEncoder{enc: enc}, nil
}

// encode appends src's stored form to dst: a zstd frame, compressed if that saves enough.
func (e *blobEncoder) encode(dst, src []byte) []byte {
	if e.runs {
		return appendRunFrame(dst, src)
	}
	if e.enc != nil {
		at := len(dst)
		dst = e.enc.EncodeAll(src, dst)
		if saved := len(src) - (len(dst) - at); saved >= len(src)/rawUnlessSaves && saved > 0 {
			return dst
		}
		dst = dst[:at]
	}
	return appendRawFrame(dst, src)
}

// zstd's frame format (RFC 8878) for a frame of raw blocks.
const (
	zstdMagic = 0xFD2FB528
	// Frame header descriptor: content size in 4 bytes (flag 2), single segment, content
	// checksum, no dictionary.
	zstdRawFrameDescriptor = 2<<6 | 1<<5 | 1<<2
	zstdMaxBlock           = 128 << 10
	zstdBlockRaw           = 0
)

// appendRawFrame appends a zstd frame holding src in raw blocks, with its content checksum
// (the low 32 bits of XXH64): any zstd decoder reads it, and checks it, as it reads a
// compressed frame.
func appendRawFrame(dst, src []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, zstdMagic)
	dst = append(dst, zstdRawFrameDescriptor)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(src)))
	sum := uint32(xxh64(src))
	for rest, first := src, true; first || len(rest) > 0; first = false {
		n := min(len(rest), zstdMaxBlock)
		h := uint32(n)<<3 | zstdBlockRaw<<1
		if n == len(rest) {
			h |= 1 // last block
		}
		dst = append(dst, byte(h), byte(h>>8), byte(h>>16))
		dst = append(dst, rest[:n]...)
		rest = rest[n:]
	}
	return binary.LittleEndian.AppendUint32(dst, sum)
}
