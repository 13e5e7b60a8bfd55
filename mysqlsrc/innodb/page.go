package innodb

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// ErrEncryptedPage is returned for pages of an encrypted tablespace, whose checksum cannot be
// checked without the tablespace key. Re-reading does not help: refuse the tablespace.
var ErrEncryptedPage = errors.New("the page is encrypted")

// ValidatePage checks one physical page as InnoDB checks it on read, whatever
// innodb_checksum_algorithm the server runs with. zip=true for ROW_FORMAT=COMPRESSED files
// (the page length is the zip size, no trailer). The length must be a page size InnoDB supports
// (4 KiB..64 KiB uncompressed, 1 KiB..16 KiB compressed, powers of two). See PageChecksumKind
// for what is accepted.
//
// A failure on a page read from a live server usually means a torn read: read it again.
// Pages of encrypted tablespaces fail with ErrEncryptedPage.
func ValidatePage(p []byte, zip bool) error {
	_, err := PageChecksumKind(p, zip)
	return err
}

// PageChecksumKind checks one physical page (see ValidatePage) and says which formula its
// checksum matched. An all-zero page is valid (ChecksumNone).
//
// An uncompressed page must first carry the low 32 bits of FIL_PAGE_LSN again in its trailer
// (a page whose head and tail were written at different times fails here, whatever its
// checksum); then its stored checksums must match one of: crc32 (both fields equal
// PageChecksum), the none magic 0xDEADBEEF in both fields, the legacy innodb pair (the fold
// checksum at 0, the old fold of bytes 0..25 or the LSN's high half in the trailer), or the
// legacy big-endian crc32. A page of transparent compression (FIL_PAGE_COMPRESSED) is
// decompressed first and the result checked the same way.
//
// A ROW_FORMAT=COMPRESSED page has no trailer; its checksum at 0 must match ZipPageChecksum,
// its legacy big-endian variant, the innodb adler32 or the none magic.
//
// Stricter than InnoDB in one place: InnoDB also accepts a checksum of 0 at offset 0 with the
// old trailer checksum (pages written before MySQL 4.0.14), which covers only the first 26
// bytes; such a page could hide a torn read, so it is refused.
func PageChecksumKind(p []byte, zip bool) (ChecksumKind, error) {
	if err := checkPageLength(len(p), zip); err != nil {
		return 0, err
	}
	if IsZeroPage(p) {
		return ChecksumNone, nil
	}
	if t := PageType(p); IsEncryptedPageType(t) {
		return 0, fmt.Errorf("page %d (type %d): %w", PageNumber(p), t, ErrEncryptedPage)
	}
	if zip {
		return zipChecksumKind(p)
	}
	if IsPageCompressed(p) {
		d, err := decompressPage(p)
		if err != nil {
			return 0, fmt.Errorf("page %d: %w", PageNumber(p), err)
		}
		p = d
	}
	return uncompressedChecksumKind(p)
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

func uncompressedChecksumKind(p []byte) (ChecksumKind, error) {
	trailer := p[len(p)-filTrailerSize:]
	// No checksum covers the LSN's copy in the trailer, and the none algorithm covers nothing
	// at all, so this is the check that catches a page whose tail was written at a different
	// time from its head.
	if low, lsn := be.Uint32(trailer[4:]), PageLSN(p); low != uint32(lsn) {
		return 0, fmt.Errorf("page %d: trailer LSN low 32 bits 0x%08x != FIL_PAGE_LSN %d (low 0x%08x)", PageNumber(p), low, lsn, uint32(lsn))
	}
	field1, field2 := be.Uint32(p[filPageChecksum:]), be.Uint32(trailer)
	if field1 == 0 && field2 == 0 && PageLSN(p) == 0 {
		// InnoDB's empty page: zeros except bytes 26..33, which page compression may set.
		if IsZeroPage(p[:filPageFlushLSN]) && IsZeroPage(p[filPageSpaceID:]) {
			return ChecksumNone, nil
		}
		return 0, fmt.Errorf("page %d: checksums and LSN are zero but the page is not empty", PageNumber(p))
	}
	crc := PageChecksum(p)
	switch {
	case field1 == field2 && field1 == crc:
		return ChecksumCRC32, nil
	case field1 == field2 && field1 == noChecksumMagic:
		return ChecksumNoneMagic, nil
	case field1 != 0 && field1 == innodbNewChecksum(p) && (field2 == innodbOldChecksum(p) || field2 == be.Uint32(p[filPageLSN:])):
		return ChecksumInnoDB, nil
	case field1 == field2 && field1 == pageCRC32Legacy(p):
		return ChecksumCRC32BigEndian, nil
	}
	return 0, fmt.Errorf("page %d: checksums 0x%08x (header) and 0x%08x (trailer) match no InnoDB algorithm (crc32 0x%08x, innodb 0x%08x/0x%08x, none 0x%08x)",
		PageNumber(p), field1, field2, crc, innodbNewChecksum(p), innodbOldChecksum(p), uint32(noChecksumMagic))
}

func zipChecksumKind(p []byte) (ChecksumKind, error) {
	stored := be.Uint32(p[filPageChecksum:])
	crc := ZipPageChecksum(p)
	switch {
	case stored == crc:
		return ChecksumCRC32, nil
	case stored == noChecksumMagic:
		return ChecksumNoneMagic, nil
	case stored == zipAdler32(p):
		return ChecksumInnoDB, nil
	case stored == zipCRC32Legacy(p):
		return ChecksumCRC32BigEndian, nil
	}
	return 0, fmt.Errorf("page %d: zip checksum 0x%08x matches no InnoDB algorithm (crc32 0x%08x, innodb 0x%08x, none 0x%08x)",
		PageNumber(p), stored, crc, zipAdler32(p), uint32(noChecksumMagic))
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
