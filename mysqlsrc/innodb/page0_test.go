package innodb

import (
	"bytes"
	"testing"
)

func TestFSPFlags(t *testing.T) {
	tests := []struct {
		name               string
		flags              FSPFlags
		logical, zip, phys int
		shared             bool
	}{
		{"file-per-table 16K", 0x4021, 16384, 0, 16384, false},
		{"compressed KEY_BLOCK_SIZE=8", 0x4029, 16384, 8192, 8192, false},
		{"compressed KEY_BLOCK_SIZE=4", 0x4027, 16384, 4096, 4096, false},
		{"compressed KEY_BLOCK_SIZE=1", 0x4023, 16384, 1024, 1024, false},
		{"compressed KEY_BLOCK_SIZE=16", 0x402B, 16384, 16384, 16384, false},
		{"ibdata1, mysql.ibd, general", 0x4800, 16384, 0, 16384, true},
		{"undo 16K", 0x0000, 16384, 0, 16384, false},
		{"ibdata1 with 8K pages", 0x4900, 8192, 0, 8192, true},
		{"undo with 8K pages", 0x0100, 8192, 0, 8192, false},
		{"4K pages", 0x00C0, 4096, 0, 4096, false},
		{"64K pages", 0x01C0, 65536, 0, 65536, false},
		{"8K pages, KEY_BLOCK_SIZE=4", 0x4127, 8192, 4096, 4096, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			if got := f.LogicalPageSize(); got != tc.logical {
				t.Errorf("LogicalPageSize = %d, want %d", got, tc.logical)
			}
			if got := f.ZipSize(); got != tc.zip {
				t.Errorf("ZipSize = %d, want %d", got, tc.zip)
			}
			if got := f.PhysicalPageSize(); got != tc.phys {
				t.Errorf("PhysicalPageSize = %d, want %d", got, tc.phys)
			}
			if got := f.Shared(); got != tc.shared {
				t.Errorf("Shared = %v, want %v", got, tc.shared)
			}
			if err := f.validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

func TestParsePage0(t *testing.T) {
	valid := makePage0(5, 0x4021, 7)
	with := func(b []byte, off int, v uint32) []byte {
		c := bytes.Clone(b)
		be.PutUint32(c[off:], v)
		return c
	}
	withType := func(b []byte, typ uint16) []byte {
		c := bytes.Clone(b)
		be.PutUint16(c[filPageType:], typ)
		return c
	}
	tests := []struct {
		name string
		b    []byte
		want Page0
		err  string
	}{
		{"file-per-table", valid, Page0{SpaceID: 5, Flags: 0x4021, SizePages: 7, Type: 8}, ""},
		{"first 64 bytes are enough", valid[:64], Page0{SpaceID: 5, Flags: 0x4021, SizePages: 7, Type: 8}, ""},
		{"zip 8K", makePage0(6, 0x4029, 12), Page0{SpaceID: 6, Flags: 0x4029, SizePages: 12, Type: 8}, ""},
		{"zip 4K", makePage0(7, 0x4027, 24), Page0{SpaceID: 7, Flags: 0x4027, SizePages: 24, Type: 8}, ""},
		{"system", makePage0(0, 0x4800, 768), Page0{SpaceID: 0, Flags: 0x4800, SizePages: 768, Type: 8}, ""},
		{"undo", makePage0(4294967279, 0, 2048), Page0{SpaceID: 4294967279, Flags: 0, SizePages: 2048, Type: 8}, ""},
		{"8K datadir", makePage0(0, 0x4900, 1536), Page0{SpaceID: 0, Flags: 0x4900, SizePages: 1536, Type: 8}, ""},

		{"63 bytes", valid[:63], Page0{}, "63 bytes, need at least 64"},
		{"empty", nil, Page0{}, "0 bytes"},
		{"all zero", make([]byte, 16384), Page0{}, "all zero"},
		{"space ids differ", with(valid, fspSpaceID, 6), Page0{}, "space id 5 at offset 34 != FSP space id 6 at offset 38"},
		{"not FSP_HDR", withType(valid, 17855), Page0{}, "page type 17855 at offset 24, want FSP_HDR (8)"},
		{"not page 0", with(valid, filPageOffset, 3), Page0{}, "page number 3"},
		{"PAGE_SSIZE 1", with(valid, fspFlags, 0x4021|1<<6), Page0{}, "PAGE_SSIZE 1"},
		{"PAGE_SSIZE 2", with(valid, fspFlags, 0x4021|2<<6), Page0{}, "PAGE_SSIZE 2"},
		{"PAGE_SSIZE 8", with(valid, fspFlags, 0x4021|8<<6), Page0{}, "PAGE_SSIZE 8"},
		{"PAGE_SSIZE 15", with(valid, fspFlags, 0x4021|15<<6), Page0{}, "PAGE_SSIZE 15"},
		{"ZIP_SSIZE 6", with(valid, fspFlags, 0x4021|6<<1), Page0{}, "ZIP_SSIZE 6"},
		{"zip larger than page", with(valid, fspFlags, 0x4021|3<<6|4<<1), Page0{}, "zip size 8192 is larger than the page size 4096"},
		{"unknown bit", with(valid, fspFlags, 0x4021|1<<15), Page0{}, "unknown bits 0x8000"},
		{"high bits", with(valid, fspFlags, 0xFFFF4021), Page0{}, "unknown bits"},
		{"POST_ANTELOPE without ATOMIC_BLOBS", with(valid, fspFlags, 0x4001), Page0{}, "POST_ANTELOPE and ATOMIC_BLOBS disagree"},
		{"DATA_DIR on a shared tablespace", with(valid, fspFlags, 0x4800|1<<10), Page0{}, "DATA_DIR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePage0(tc.b)
			wantError(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("ParsePage0 = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParsePage0IgnoresTheRestOfThePage checks that only the first 64 bytes matter: a page 0
// with a broken checksum further on still parses (checksums are ValidatePage's business).
func TestParsePage0IgnoresTheRestOfThePage(t *testing.T) {
	p := flipped(makePage0(9, 0x4021, 100), 5000)
	got, err := ParsePage0(p)
	if err != nil || got.SpaceID != 9 {
		t.Fatalf("ParsePage0 = %+v, %v", got, err)
	}
	if ValidatePage(p, false) == nil {
		t.Fatal("ValidatePage accepted a corrupt page 0")
	}
}
