package innodb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// castagnoli is the CRC-32C table used by every InnoDB checksum (pages and redo). The standard
// library returns its hardware-accelerated table for this polynomial.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var be = binary.BigEndian

// Offsets in the FIL header (38 bytes at the start of every page) and the FIL trailer (last 8
// bytes of an uncompressed page).
const (
	filPageChecksum = 0  // u32 checksum of the page
	filPageOffset   = 4  // u32 page number inside its tablespace
	filPageLSN      = 16 // u64 LSN of the newest modification written to the page
	filPageType     = 24 // u16 page type
	filPageFlushLSN = 26 // u64, meaningful only on page 0 of the system tablespace
	filPageSpaceID  = 34 // u32 space id
	filHeaderSize   = 38 // end of the FIL header
	filTrailerSize  = 8  // u32 copy of the checksum, then the low 32 bits of FIL_PAGE_LSN
)

// Page sizes InnoDB can use: logical (uncompressed) pages are 4 KiB..64 KiB, compressed pages
// of ROW_FORMAT=COMPRESSED tables are 1 KiB..16 KiB, always powers of two.
const (
	minLogicalPageSize = 4 << 10
	maxLogicalPageSize = 64 << 10
	minZipPageSize     = 1 << 10
	maxZipPageSize     = 16 << 10
)

func isPowerOfTwoIn(n, lo, hi int) bool { return n >= lo && n <= hi && n&(n-1) == 0 }

// zeroChunk is compared against pages in chunks; bytes.Equal is vectorised, a byte loop is not.
var zeroChunk [4096]byte

// IsZeroPage reports whether every byte of p is zero: InnoDB leaves pages it has allocated but
// never written as zeros, and such pages carry no checksum.
func IsZeroPage(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroChunk))
		if !bytes.Equal(p[:n], zeroChunk[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// The field accessors below need at least a FIL header (38 bytes); a shorter slice panics like
// any out-of-range slice index.

// PageLSN returns FIL_PAGE_LSN, the LSN of the newest change written to the page.
func PageLSN(p []byte) uint64 { return be.Uint64(p[filPageLSN:]) }

// PageSpaceID returns FIL_PAGE_SPACE_ID.
func PageSpaceID(p []byte) uint32 { return be.Uint32(p[filPageSpaceID:]) }

// PageNumber returns FIL_PAGE_OFFSET, the page's number inside its tablespace.
func PageNumber(p []byte) uint32 { return be.Uint32(p[filPageOffset:]) }

// PageType returns FIL_PAGE_TYPE.
func PageType(p []byte) uint16 { return be.Uint16(p[filPageType:]) }

// PageChecksum computes the crc32 checksum of an uncompressed page of len(p) bytes. It skips the
// stored checksum itself, the flush LSN and space id (bytes 26..37, which InnoDB may rewrite
// without recomputing the checksum) and the trailer.
func PageChecksum(p []byte) uint32 {
	return crc32c(p[filPageOffset:filPageFlushLSN]) ^ crc32c(p[filHeaderSize:len(p)-filTrailerSize])
}

// ZipPageChecksum computes the crc32 checksum of a ROW_FORMAT=COMPRESSED page (len(p) is the zip
// size). It skips the stored checksum, FIL_PAGE_LSN and bytes 26..33.
func ZipPageChecksum(p []byte) uint32 {
	return crc32c(p[filPageOffset:filPageLSN]) ^ crc32c(p[filPageType:filPageFlushLSN]) ^ crc32c(p[filPageSpaceID:])
}

// ValidatePage checks one physical page. zip=true for ROW_FORMAT=COMPRESSED files (the page
// length is the zip size, no trailer). An all-zero page is valid. For an uncompressed page the
// stored checksum at p[0:4] and at p[len-8:len-4] must both equal PageChecksum, and
// p[len-4:len] must equal the low 32 bits of PageLSN. For a zip page p[0:4] must equal
// ZipPageChecksum. The length must be a page size InnoDB supports (4 KiB..64 KiB uncompressed,
// 1 KiB..16 KiB compressed, powers of two).
//
// A failure on a page read from a live server usually means a torn read: read it again.
func ValidatePage(p []byte, zip bool) error {
	if err := checkPageLength(len(p), zip); err != nil {
		return err
	}
	if IsZeroPage(p) {
		return nil
	}
	if zip {
		return validateZipPage(p)
	}
	return validateUncompressedPage(p)
}

func checkPageLength(n int, zip bool) error {
	if zip {
		if !isPowerOfTwoIn(n, minZipPageSize, maxZipPageSize) {
			return fmt.Errorf("compressed page length %d is not a zip size (1024..16384, a power of two)", n)
		}
		return nil
	}
	if !isPowerOfTwoIn(n, minLogicalPageSize, maxLogicalPageSize) {
		return fmt.Errorf("page length %d is not a page size (4096..65536, a power of two)", n)
	}
	return nil
}

func validateUncompressedPage(p []byte) error {
	computed := PageChecksum(p)
	if stored := be.Uint32(p[filPageChecksum:]); stored != computed {
		return fmt.Errorf("page %d: header checksum 0x%08x != computed 0x%08x", PageNumber(p), stored, computed)
	}
	trailer := p[len(p)-filTrailerSize:]
	if stored := be.Uint32(trailer); stored != computed {
		return fmt.Errorf("page %d: trailer checksum 0x%08x != computed 0x%08x", PageNumber(p), stored, computed)
	}
	// The checksum does not cover the LSN's copy in the trailer, so this is the only check that
	// catches a page whose tail was written at a different time from its head.
	if low, lsn := be.Uint32(trailer[4:]), PageLSN(p); low != uint32(lsn) {
		return fmt.Errorf("page %d: trailer LSN low 32 bits 0x%08x != FIL_PAGE_LSN %d (low 0x%08x)", PageNumber(p), low, lsn, uint32(lsn))
	}
	return nil
}

func validateZipPage(p []byte) error {
	computed := ZipPageChecksum(p)
	if stored := be.Uint32(p[filPageChecksum:]); stored != computed {
		return fmt.Errorf("page %d: zip checksum 0x%08x != computed 0x%08x", PageNumber(p), stored, computed)
	}
	return nil
}

// SetPageChecksum writes the checksum into the header and trailer of an uncompressed page, and
// the low 32 bits of FIL_PAGE_LSN into the trailer, so that ValidatePage accepts it. It is meant
// for building test pages and fuzz seeds.
func SetPageChecksum(p []byte) {
	trailer := p[len(p)-filTrailerSize:]
	be.PutUint32(trailer[4:], uint32(PageLSN(p)))
	c := PageChecksum(p)
	be.PutUint32(p[filPageChecksum:], c)
	be.PutUint32(trailer, c)
}

// SetZipPageChecksum writes the checksum of a ROW_FORMAT=COMPRESSED page (len(p) = zip size).
func SetZipPageChecksum(p []byte) {
	be.PutUint32(p[filPageChecksum:], ZipPageChecksum(p))
}
