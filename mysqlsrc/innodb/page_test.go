package innodb

import (
	"bytes"
	"fmt"
	"testing"
)

func TestIsZeroPage(t *testing.T) {
	withByte := func(n, at int) []byte {
		p := make([]byte, n)
		p[at] = 1
		return p
	}
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"empty", nil, true},
		{"zero 16K", make([]byte, 16384), true},
		{"zero odd length", make([]byte, 4097), true},
		{"first byte", withByte(16384, 0), false},
		{"last byte", withByte(16384, 16383), false},
		{"past the first chunk", withByte(4097, 4096), false},
		{"middle", withByte(16384, 8000), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsZeroPage(tc.p); got != tc.want {
				t.Fatalf("IsZeroPage = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPageFieldAccessors(t *testing.T) {
	p := makePage(pageSpec{size: 16384, number: 77, spaceID: 4294967279, lsn: 0x0102030405060708, typ: 17855})
	if got := PageNumber(p); got != 77 {
		t.Errorf("PageNumber = %d", got)
	}
	if got := PageSpaceID(p); got != 4294967279 {
		t.Errorf("PageSpaceID = %d", got)
	}
	if got := PageLSN(p); got != 0x0102030405060708 {
		t.Errorf("PageLSN = %#x", got)
	}
	if got := PageType(p); got != 17855 {
		t.Errorf("PageType = %d", got)
	}
	// The layout, byte by byte: big-endian fields at the documented offsets.
	if !bytes.Equal(p[16:24], []byte{1, 2, 3, 4, 5, 6, 7, 8}) || !bytes.Equal(p[4:8], []byte{0, 0, 0, 77}) {
		t.Errorf("fields not at their offsets: % x", p[:38])
	}
	if !bytes.Equal(p[16384-4:], []byte{5, 6, 7, 8}) {
		t.Errorf("trailer does not hold the low LSN: % x", p[16384-8:])
	}
	if !bytes.Equal(p[0:4], p[16384-8:16384-4]) {
		t.Errorf("header and trailer checksums differ")
	}
}

func TestValidatePage(t *testing.T) {
	page16 := makePage(pageSpec{size: 16384, number: 12, spaceID: 5, lsn: 987654321, typ: 17855})
	page4 := makePage(pageSpec{size: 4096, number: 3, spaceID: 5, lsn: 1 << 40, typ: 17855})
	page64 := makePage(pageSpec{size: 65536, number: 9, spaceID: 5, lsn: 42, typ: 17855})
	zip8 := makePage(pageSpec{size: 8192, zip: true, number: 12, spaceID: 7, lsn: 555, typ: 17855})
	zip1 := makePage(pageSpec{size: 1024, zip: true, number: 2, spaceID: 7, lsn: 555, typ: 17855})

	tests := []struct {
		name string
		p    []byte
		zip  bool
		want string // "" = valid, else a substring of the error
	}{
		{"valid 16K", page16, false, ""},
		{"valid 4K", page4, false, ""},
		{"valid 64K", page64, false, ""},
		{"zero 16K", make([]byte, 16384), false, ""},
		{"valid zip 8K", zip8, true, ""},
		{"valid zip 1K", zip1, true, ""},
		{"zero zip 4K", make([]byte, 4096), true, ""},

		{"body byte", flipped(page16, 1000), false, "page 12: checksums 0x"},
		{"page number", flipped(page16, 5), false, "match no InnoDB algorithm"},
		{"LSN high byte", flipped(page16, 16), false, "match no InnoDB algorithm"},
		{"page type", flipped(page16, 25), false, "match no InnoDB algorithm"},
		{"stored header checksum", flipped(page16, 0), false, "match no InnoDB algorithm"},
		{"last covered byte", flipped(page16, 16384-9), false, "match no InnoDB algorithm"},
		{"stored trailer checksum", flipped(page16, 16384-8), false, "page 12: checksums 0xbe831638 (header) and 0xe4831638 (trailer) match no"},
		{"trailer low LSN (torn page)", flipped(page16, 16384-1), false, "page 12: trailer LSN low 32 bits"},
		{"flush LSN is not covered", flipped(page16, 30), false, ""},
		{"space id is not covered", flipped(page16, 36), false, ""},
		{"4K body byte", flipped(page4, 2000), false, "page 3: checksums 0x"},

		{"zip body byte", flipped(zip8, 5000), true, "page 12: zip checksum 0x"},
		{"zip page type", flipped(zip8, 24), true, "zip checksum"},
		{"zip space id is covered", flipped(zip8, 35), true, "zip checksum"},
		{"zip last byte", flipped(zip8, 8191), true, "zip checksum"},
		{"zip LSN is not covered", flipped(zip8, 20), true, ""},
		{"zip flush LSN is not covered", flipped(zip8, 30), true, ""},
		{"zip 1K body", flipped(zip1, 700), true, "page 2: zip checksum"},

		{"uncompressed page checked as zip", page16, true, "zip checksum"},
		{"zip page checked as uncompressed", zip8, false, "trailer LSN low 32 bits"},
		{"length not a power of two", page16[:16383], false, "page length 16383"},
		{"length too small", make([]byte, 2048), false, "page length 2048"},
		{"length too large", make([]byte, 128<<10), false, "page length 131072"},
		{"empty", nil, false, "page length 0"},
		{"zip length too small", make([]byte, 512), true, "compressed page length 512"},
		{"zip length too large", make([]byte, 32<<10), true, "compressed page length 32768"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, ValidatePage(tc.p, tc.zip), tc.want)
		})
	}
}

// TestValidatePageEveryByte flips each byte of a page in turn: the page must become invalid
// exactly when the byte is one the checksums (or the trailer LSN check) cover.
func TestValidatePageEveryByte(t *testing.T) {
	for _, tc := range []struct {
		size      int
		zip       bool
		uncovered func(off int) bool
	}{
		{4096, false, func(off int) bool { return off >= 26 && off < 38 }},
		{16384, false, func(off int) bool { return off >= 26 && off < 38 }},
		{1024, true, func(off int) bool { return off >= 16 && off < 24 || off >= 26 && off < 34 }},
		{4096, true, func(off int) bool { return off >= 16 && off < 24 || off >= 26 && off < 34 }},
	} {
		t.Run(fmt.Sprintf("%d zip=%v", tc.size, tc.zip), func(t *testing.T) {
			p := makePage(pageSpec{size: tc.size, zip: tc.zip, number: 1, spaceID: 2, lsn: 0xAABBCCDD11223344, typ: 17855})
			for off := range p {
				p[off] ^= 0x80
				err := ValidatePage(p, tc.zip)
				p[off] ^= 0x80
				if valid := err == nil; valid != tc.uncovered(off) {
					t.Fatalf("flipping byte %d: valid=%v (err %v)", off, valid, err)
				}
			}
		})
	}
}

func TestSetPageChecksumFixesAnyPage(t *testing.T) {
	for _, size := range []int{4096, 8192, 16384, 32768, 65536} {
		p := make([]byte, size)
		fillPattern(p, uint32(size))
		if ValidatePage(p, false) == nil {
			t.Fatalf("random %d page valid before SetPageChecksum", size)
		}
		SetPageChecksum(p)
		if err := ValidatePage(p, false); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
	for _, size := range []int{1024, 2048, 4096, 8192, 16384} {
		p := make([]byte, size)
		fillPattern(p, uint32(size))
		SetZipPageChecksum(p)
		if err := ValidatePage(p, true); err != nil {
			t.Fatalf("zip size %d: %v", size, err)
		}
	}
}
