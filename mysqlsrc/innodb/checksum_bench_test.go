package innodb_test

import (
	"encoding/binary"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// benchPage returns a page of size bytes with pseudo-random contents, a FIL header and a valid
// checksum (zip: the ROW_FORMAT=COMPRESSED checksum).
func benchPage(size int, zip bool) []byte {
	p := make([]byte, size)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i+8 <= size; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(p[i:], x)
	}
	binary.BigEndian.PutUint32(p[4:], 42)         // page number
	binary.BigEndian.PutUint64(p[16:], 123456789) // FIL_PAGE_LSN
	binary.BigEndian.PutUint16(p[24:], 17855)     // FIL_PAGE_INDEX
	binary.BigEndian.PutUint32(p[34:], 7)         // space id
	if zip {
		innodb.SetZipPageChecksum(p)
	} else {
		innodb.SetPageChecksum(p)
	}
	return p
}

// BenchmarkPageChecksum16K computes the CRC-32C page checksum of a 16 KiB page.
func BenchmarkPageChecksum16K(b *testing.B) {
	p := benchPage(16384, false)
	b.SetBytes(int64(len(p)))
	var sum uint32
	for b.Loop() {
		sum ^= innodb.PageChecksum(p)
	}
	_ = sum
}

// BenchmarkValidatePage16K is what a backup does to every page it copies: the zero-page test,
// the checksum and both stored copies, and the trailer's LSN.
func BenchmarkValidatePage16K(b *testing.B) {
	p := benchPage(16384, false)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := innodb.ValidatePage(p, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateZipPage8K validates an 8 KiB ROW_FORMAT=COMPRESSED page.
func BenchmarkValidateZipPage8K(b *testing.B) {
	p := benchPage(8192, true)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := innodb.ValidatePage(p, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIsZeroPage16K scans an all-zero 16 KiB page (allocated, never written): the
// longest the zero test takes.
func BenchmarkIsZeroPage16K(b *testing.B) {
	p := make([]byte, 16384)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if !innodb.IsZeroPage(p) {
			b.Fatal("not zero")
		}
	}
}
