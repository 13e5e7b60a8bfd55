package innodb

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// Transparent page compression (CREATE TABLE … COMPRESSION='zlib'|'lz4'): the server compresses
// a page of a file-per-table tablespace on its way to disk, after computing the checksum of the
// uncompressed page, and punches a hole over the unused tail. Such a page keeps its FIL header
// but carries type FIL_PAGE_COMPRESSED and the compression metadata in bytes 26..33:
//
//	offset size field
//	24     2    page type: 14 (FIL_PAGE_COMPRESSED)
//	26     1    version: 1 or 2
//	27     1    algorithm: 1 zlib, 2 lz4
//	28     2    the original page type
//	30     2    original size: the page size minus the 38-byte FIL header
//	32     2    compressed size
//	38     …    the compressed bytes of the original page from offset 38 on (trailer included)
//
// The rest of the page is zeros (a hole in the file). Reading reverses it: decompress into
// offset 38, restore the page type, and check the result like any page.
const (
	pageTypeCompressed = 14 // FIL_PAGE_COMPRESSED

	compVersion      = filPageFlushLSN     // u8
	compAlgorithm    = filPageFlushLSN + 1 // u8
	compOriginalType = filPageFlushLSN + 2 // u16
	compOriginalSize = filPageFlushLSN + 4 // u16
	compSize         = filPageFlushLSN + 6 // u16

	compAlgorithmZlib = 1
	compAlgorithmLZ4  = 2
)

// Page types of encrypted pages. Their contents cannot be checked without the tablespace key.
const (
	pageTypeEncrypted              = 15 // FIL_PAGE_ENCRYPTED
	pageTypeCompressedAndEncrypted = 16 // FIL_PAGE_COMPRESSED_AND_ENCRYPTED
	pageTypeEncryptedRTree         = 17 // FIL_PAGE_ENCRYPTED_RTREE
)

// IsEncryptedPageType reports whether t is one of the encrypted page types.
func IsEncryptedPageType(t uint16) bool {
	return t == pageTypeEncrypted || t == pageTypeCompressedAndEncrypted || t == pageTypeEncryptedRTree
}

// IsPageCompressed reports whether p (a whole page) was written by transparent page
// compression: its type is FIL_PAGE_COMPRESSED.
func IsPageCompressed(p []byte) bool { return PageType(p) == pageTypeCompressed }

// CompressedPageEnd returns the end of the compressed payload of a FIL_PAGE_COMPRESSED page:
// the FIL header plus the compressed size. Every byte from there to the end of the page is
// unused (zeros the server leaves as a hole). ok is false for any other page, or when the
// recorded size does not fit the page.
func CompressedPageEnd(p []byte) (end int, ok bool) {
	if len(p) < filHeaderSize || !IsPageCompressed(p) {
		return 0, false
	}
	end = filHeaderSize + int(be.Uint16(p[compSize:]))
	return end, end <= len(p)
}

// decompressPage returns the page p held before transparent compression, as the server sees
// it after reading: the FIL header kept (bytes 26..33 still hold the compression metadata,
// which no checksum covers), the original type restored and the decompressed bytes from
// offset 38 on. The result has len(p) bytes: a page decompresses to its own page size.
func decompressPage(p []byte) ([]byte, error) {
	version, algorithm := p[compVersion], p[compAlgorithm]
	original, size := int(be.Uint16(p[compOriginalSize:])), int(be.Uint16(p[compSize:]))
	switch {
	case version != 1 && version != 2:
		return nil, fmt.Errorf("compressed page header version %d (want 1 or 2)", version)
	case original != len(p)-filHeaderSize:
		return nil, fmt.Errorf("compressed page header original size %d (want %d for a %d-byte page)", original, len(p)-filHeaderSize, len(p))
	case size == 0 || filHeaderSize+size > len(p):
		return nil, fmt.Errorf("compressed page header compressed size %d does not fit a %d-byte page", size, len(p))
	}
	src := p[filHeaderSize : filHeaderSize+size]
	out := make([]byte, len(p))
	copy(out, p[:filHeaderSize])
	be.PutUint16(out[filPageType:], be.Uint16(p[compOriginalType:]))
	dst := out[filHeaderSize:]
	switch algorithm {
	case compAlgorithmZlib:
		r, err := zlib.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("zlib-compressed page: %w", err)
		}
		if _, err := io.ReadFull(r, dst); err != nil {
			return nil, fmt.Errorf("zlib-compressed page does not decompress to %d bytes: %w", len(dst), err)
		}
		// The stream must end exactly here, with its adler32 checked: Close does not check it,
		// one more Read does.
		if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			return nil, fmt.Errorf("zlib-compressed page: data after %d bytes or a bad stream end (%v)", len(dst), err)
		}
	case compAlgorithmLZ4:
		n, err := lz4.UncompressBlock(src, dst)
		if err != nil {
			return nil, fmt.Errorf("lz4-compressed page: %w", err)
		}
		if n != len(dst) {
			return nil, fmt.Errorf("lz4-compressed page decompresses to %d bytes, want %d", n, len(dst))
		}
	default:
		return nil, fmt.Errorf("compressed page header algorithm %d (want 1 zlib or 2 lz4)", algorithm)
	}
	return out, nil
}
