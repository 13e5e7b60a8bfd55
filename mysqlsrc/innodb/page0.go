package innodb

import (
	"errors"
	"fmt"
)

// Offsets of the FSP header fields on page 0, right after the FIL header.
const (
	fspSpaceID = filHeaderSize + 0  // u32, must equal FIL_PAGE_SPACE_ID
	fspSize    = filHeaderSize + 8  // u32 size of the tablespace in pages
	fspFlags   = filHeaderSize + 16 // u32 FSP flags
)

// page0MinLen is how much of a tablespace file ParsePage0 needs: the FIL header and the FSP
// header fields up to and including the flags, rounded up.
const page0MinLen = 64

// pageTypeFSPHdr is FIL_PAGE_TYPE_FSP_HDR, the type of page 0 of every tablespace.
const pageTypeFSPHdr = 8

// FSPFlags is the FSP_SPACE_FLAGS word of page 0. It says how big the tablespace's pages are
// and whether they are compressed.
type FSPFlags uint32

// Bits of FSPFlags.
const (
	fspPostAntelope   = 1 << 0
	fspZipSSizeShift  = 1 // 4 bits: 0 = not compressed, else zip size 512<<z
	fspAtomicBlobs    = 1 << 5
	fspPageSSizeShift = 6 // 4 bits: 0 = 16 KiB, else page size 512<<s
	fspDataDir        = 1 << 10
	fspShared         = 1 << 11
	fspTemporary      = 1 << 12
	fspKnownBits      = 1<<15 - 1 // bits 13 (encryption) and 14 (SDI) are known and not checked
)

func (f FSPFlags) zipSSize() uint32  { return uint32(f) >> fspZipSSizeShift & 0xF }
func (f FSPFlags) pageSSize() uint32 { return uint32(f) >> fspPageSSizeShift & 0xF }

// LogicalPageSize returns the uncompressed page size (innodb_page_size) from PAGE_SSIZE, bits
// 6..9: 0 means 16384 (the original size, stored as 0 for compatibility), else 512<<s.
func (f FSPFlags) LogicalPageSize() int {
	if s := f.pageSSize(); s != 0 {
		return 512 << s
	}
	return 16384
}

// ZipSize returns the compressed page size from ZIP_SSIZE, bits 1..4: 0 (not compressed) when
// the field is 0, else 512<<z.
func (f FSPFlags) ZipSize() int {
	if z := f.zipSSize(); z != 0 {
		return 512 << z
	}
	return 0
}

// PhysicalPageSize returns the size of a page in the file: the zip size for a compressed
// tablespace, else the logical page size.
func (f FSPFlags) PhysicalPageSize() int {
	if z := f.ZipSize(); z != 0 {
		return z
	}
	return f.LogicalPageSize()
}

// FSPFlagEncryption is bit 13 of the FSP flags: the tablespace is encrypted.
const FSPFlagEncryption = 1 << 13

// Encrypted reports bit 13: the tablespace's pages are encrypted with a key from the keyring.
func (f FSPFlags) Encrypted() bool { return f&FSPFlagEncryption != 0 }

// Shared reports bit 11: a shared tablespace (the system tablespace, mysql.ibd or a general
// tablespace made with CREATE TABLESPACE).
func (f FSPFlags) Shared() bool { return f&fspShared != 0 }

// validate rejects flag words that InnoDB itself would refuse, so a file that is not an InnoDB
// tablespace, or a page 0 read from the wrong place, is not mistaken for one.
func (f FSPFlags) validate() error {
	if unknown := uint32(f) &^ fspKnownBits; unknown != 0 {
		return fmt.Errorf("FSP flags 0x%x: unknown bits 0x%x set", uint32(f), unknown)
	}
	if s := f.pageSSize(); s != 0 && (s < 3 || s > 7) {
		return fmt.Errorf("FSP flags 0x%x: PAGE_SSIZE %d is not a page size (want 0 or 3..7, i.e. 4 KiB..64 KiB)", uint32(f), s)
	}
	if z := f.zipSSize(); z > 5 {
		return fmt.Errorf("FSP flags 0x%x: ZIP_SSIZE %d is not a zip size (want 0..5, i.e. up to 16 KiB)", uint32(f), z)
	}
	if z := f.ZipSize(); z > f.LogicalPageSize() {
		return fmt.Errorf("FSP flags 0x%x: zip size %d is larger than the page size %d", uint32(f), z, f.LogicalPageSize())
	}
	// Barracuda (POST_ANTELOPE) always comes with ATOMIC_BLOBS, and compression needs both.
	if (f&fspPostAntelope != 0) != (f&fspAtomicBlobs != 0) {
		return fmt.Errorf("FSP flags 0x%x: POST_ANTELOPE and ATOMIC_BLOBS disagree", uint32(f))
	}
	if f.zipSSize() != 0 && f&fspAtomicBlobs == 0 {
		return fmt.Errorf("FSP flags 0x%x: compressed but not ATOMIC_BLOBS", uint32(f))
	}
	if f&fspDataDir != 0 && f&(fspShared|fspTemporary) != 0 {
		return fmt.Errorf("FSP flags 0x%x: DATA_DIR set on a shared or temporary tablespace", uint32(f))
	}
	return nil
}

// Page0 holds the page 0 fields a backup needs to identify a tablespace file.
type Page0 struct {
	SpaceID   uint32   // FIL_PAGE_SPACE_ID at 34, equal to the FSP space id at 38
	Flags     FSPFlags // FSP flags at 54
	SizePages uint32   // FSP_SIZE at 46
	Type      uint16   // FIL_PAGE_TYPE at 24 (8 = FSP_HDR)
}

// ParsePage0 reads the FSP header fields from the first bytes of a tablespace file. It needs
// only the first 64 bytes, not a whole page, so it can run before the page size is known. It
// rejects data that cannot be page 0: too short, all zero, a page number other than 0, a page
// type other than FSP_HDR, space ids at 34 and 38 that differ, or invalid FSP flags. It does not
// check the checksum (that needs the whole page: use ValidatePage).
func ParsePage0(b []byte) (Page0, error) {
	if len(b) < page0MinLen {
		return Page0{}, fmt.Errorf("page 0: %d bytes, need at least %d", len(b), page0MinLen)
	}
	b = b[:page0MinLen]
	if IsZeroPage(b) {
		return Page0{}, errors.New("page 0: all zero (not an initialised tablespace)")
	}
	p := Page0{
		SpaceID:   PageSpaceID(b),
		Flags:     FSPFlags(be.Uint32(b[fspFlags:])),
		SizePages: be.Uint32(b[fspSize:]),
		Type:      PageType(b),
	}
	if n := PageNumber(b); n != 0 {
		return Page0{}, fmt.Errorf("page 0: page number %d at offset 4, want 0", n)
	}
	if p.Type != pageTypeFSPHdr {
		return Page0{}, fmt.Errorf("page 0: page type %d at offset 24, want FSP_HDR (%d)", p.Type, pageTypeFSPHdr)
	}
	if fspID := be.Uint32(b[fspSpaceID:]); fspID != p.SpaceID {
		return Page0{}, fmt.Errorf("page 0: space id %d at offset 34 != FSP space id %d at offset 38", p.SpaceID, fspID)
	}
	if err := p.Flags.validate(); err != nil {
		return Page0{}, fmt.Errorf("page 0 of space %d: %w", p.SpaceID, err)
	}
	return p, nil
}
