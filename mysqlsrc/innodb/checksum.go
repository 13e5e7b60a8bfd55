package innodb

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// The checksum formulas InnoDB accepts when it reads a page, whatever innodb_checksum_algorithm
// says (the setting chooses what the server writes; on read every formula below is accepted,
// the strict_* settings only add a warning).

// noChecksumMagic is what innodb_checksum_algorithm=none writes in place of a checksum
// (BUF_NO_CHECKSUM_MAGIC).
const noChecksumMagic = 0xDEADBEEF

// crc32cLegacyBigEndian is the CRC-32C that MySQL's software implementation computed on
// big-endian machines before 5.7: bytes up to the first 8-byte aligned address one at a time,
// then each aligned 8-byte word with its bytes in reverse order, then the tail one at a time.
// Pages sit 8-byte aligned in the buffer pool, so alignment is counted from the start of the
// page: at says where b starts inside its page.
func crc32cLegacyBigEndian(b []byte, at int) uint32 {
	crc := uint32(0)
	head := min((8-at%8)%8, len(b))
	crc = crc32Update(crc, b[:head])
	b = b[head:]
	var word [8]byte
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(word[:], bits.ReverseBytes64(binary.LittleEndian.Uint64(b)))
		crc = crc32Update(crc, word[:])
		b = b[8:]
	}
	return crc32Update(crc, b)
}

// pageCRC32Legacy is PageChecksum with the legacy big-endian CRC-32C.
func pageCRC32Legacy(p []byte) uint32 {
	return crc32cLegacyBigEndian(p[filPageOffset:filPageFlushLSN], filPageOffset) ^
		crc32cLegacyBigEndian(p[filHeaderSize:len(p)-filTrailerSize], filHeaderSize)
}

// InnoDB's fold hash (ut_fold_binary), computed in 64-bit arithmetic as on every 64-bit server.
const (
	foldMask1 = 1463735687 // UT_HASH_RANDOM_MASK
	foldMask2 = 1653893711 // UT_HASH_RANDOM_MASK2
)

func foldPair(n1, n2 uint64) uint64 {
	return ((((n1 ^ n2 ^ foldMask2) << 8) + n1) ^ foldMask1) + n2
}

func foldBinary(b []byte) uint64 {
	var fold uint64
	for _, c := range b {
		fold = foldPair(fold, uint64(c))
	}
	return fold
}

// innodbNewChecksum is the legacy innodb_checksum_algorithm=innodb checksum stored at offset 0:
// the fold of the same bytes crc32 covers, truncated to 32 bits.
func innodbNewChecksum(p []byte) uint32 {
	return uint32(foldBinary(p[filPageOffset:filPageFlushLSN]) + foldBinary(p[filHeaderSize:len(p)-filTrailerSize]))
}

// innodbOldChecksum is the legacy checksum stored in the trailer: the fold of bytes 0..25,
// which include the new checksum.
func innodbOldChecksum(p []byte) uint32 { return uint32(foldBinary(p[:filPageFlushLSN])) }

// zipCRC32Legacy is ZipPageChecksum with the legacy big-endian CRC-32C.
func zipCRC32Legacy(p []byte) uint32 {
	return crc32cLegacyBigEndian(p[filPageOffset:filPageLSN], filPageOffset) ^
		crc32cLegacyBigEndian(p[filPageType:filPageFlushLSN], filPageType) ^
		crc32cLegacyBigEndian(p[filPageSpaceID:], filPageSpaceID)
}

// zipAdler32 is the innodb-algorithm checksum of a ROW_FORMAT=COMPRESSED page: zlib's
// adler32 started from 0 (not from 1, adler32's usual start) over the bytes the crc32 variant
// covers.
func zipAdler32(p []byte) uint32 {
	const mod = 65521
	var a, b uint32
	for _, part := range [][]byte{p[filPageOffset:filPageLSN], p[filPageType:filPageFlushLSN], p[filPageSpaceID:]} {
		for len(part) > 0 {
			n := min(len(part), 5552) // the longest run whose sums cannot overflow 32 bits
			for _, c := range part[:n] {
				a += uint32(c)
				b += a
			}
			a %= mod
			b %= mod
			part = part[n:]
		}
	}
	return b<<16 | a
}

// ChecksumKind names the formula a page's checksum matched.
type ChecksumKind uint8

// The formulas InnoDB accepts on read.
const (
	ChecksumNone           ChecksumKind = iota // the page is all zeros (never written)
	ChecksumCRC32                              // innodb_checksum_algorithm=crc32, the default
	ChecksumCRC32BigEndian                     // crc32 written by a big-endian server before 5.7
	ChecksumInnoDB                             // innodb_checksum_algorithm=innodb (legacy fold / adler32)
	ChecksumNoneMagic                          // innodb_checksum_algorithm=none: 0xDEADBEEF
	checksumKinds
)

var checksumKindNames = [...]string{"zero page", "crc32", "crc32 (legacy big-endian)", "innodb", "none (0xDEADBEEF)"}

func (k ChecksumKind) String() string {
	if k < checksumKinds {
		return checksumKindNames[k]
	}
	return "unknown"
}

// crc32Update continues a CRC-32C: crc32Update(crc32c(a), b) == crc32c(a+b).
func crc32Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }
