package innodb

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets check that no parser panics, and the properties that tie parsers to their
// encoders. Targets whose input is guarded by a checksum take a "fix" argument: when set, the
// target recomputes the checksum first, so the fuzzer can reach the code behind it.

func FuzzParsePage0(f *testing.F) {
	f.Add(makePage0(5, 0x4021, 7)[:64])
	f.Add(makePage0(0, 0x4800, 768)[:128])
	f.Add(makePage0(4294967279, 0, 1024)[:64])
	f.Add(makePage0(6, 0x4029, 12)[:64])
	f.Add(make([]byte, 64))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePage0(b)
		if err != nil {
			if p != (Page0{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, p)
			}
			return
		}
		if p.Type != pageTypeFSPHdr || p.SpaceID != be.Uint32(b[fspSpaceID:]) {
			t.Fatalf("accepted %+v", p)
		}
		logical, zip, phys := p.Flags.LogicalPageSize(), p.Flags.ZipSize(), p.Flags.PhysicalPageSize()
		wantPhys := logical
		if zip != 0 {
			wantPhys = zip
		}
		if !isPowerOfTwoIn(logical, minLogicalPageSize, maxLogicalPageSize) || phys != wantPhys ||
			zip != 0 && (!isPowerOfTwoIn(zip, minZipPageSize, maxZipPageSize) || zip > logical) {
			t.Fatalf("accepted flags 0x%x: logical %d zip %d physical %d", uint32(p.Flags), logical, zip, phys)
		}
		// Whatever was accepted can be written back and parses the same.
		again := makePage0(p.SpaceID, p.Flags, p.SizePages)
		if q, err := ParsePage0(again); err != nil || q != p {
			t.Fatalf("re-encoded page 0: %+v, %v; want %+v", q, err, p)
		}
		if err := ValidatePage(again, zip != 0); err != nil {
			t.Fatalf("re-encoded page 0 invalid: %v", err)
		}
	})
}

// FuzzValidatePage builds a page of size bytes (any size up to 128 KiB, valid or not) from the
// first 128 bytes of head and the last 16 bytes of tail, with zeros between them: enough for
// every field ValidatePage reads. Whole pages as fuzz inputs would stall the fuzzer: Go's
// minimiser makes O(n²) attempts on an n-byte input it cannot shrink: over 10^8 for a 16 KiB
// page.
func FuzzValidatePage(f *testing.F) {
	page4K := makePage(pageSpec{size: 4096, number: 3, spaceID: 5, lsn: 1 << 33, typ: 17855})
	zip1K := makePage(pageSpec{size: 1024, zip: true, number: 3, spaceID: 5, lsn: 77, typ: 17855})
	f.Add(page4K[:fuzzPageHead], page4K[4096-fuzzPageTail:], uint32(4096), false, true)
	f.Add(page4K[:fuzzPageHead], page4K[4096-fuzzPageTail:], uint32(4096), false, false)
	f.Add(zip1K[:fuzzPageHead], zip1K[1024-fuzzPageTail:], uint32(1024), true, true)
	f.Add([]byte{}, []byte{}, uint32(16384), false, false)
	f.Add([]byte{1}, []byte{}, uint32(2048), true, true)
	f.Add([]byte("short"), []byte{}, uint32(5), false, false)
	f.Fuzz(func(t *testing.T, head, tail []byte, size uint32, zip, fix bool) {
		p := fuzzPage(head, tail, size)
		// SetPageChecksum stamps crc32 over the bytes as they are: that validates only pages
		// that are neither encrypted nor transparently compressed (those are checked otherwise).
		plain := len(p) >= filHeaderSize && !IsEncryptedPageType(PageType(p)) && (zip || !IsPageCompressed(p))
		if fix && plain && checkPageLength(len(p), zip) == nil {
			if zip {
				SetZipPageChecksum(p)
			} else {
				SetPageChecksum(p)
			}
			if err := ValidatePage(p, zip); err != nil {
				t.Fatalf("page with a fresh checksum rejected: %v", err)
			}
		}
		if kind, err := PageChecksumKind(p, zip); err != nil || kind != ChecksumCRC32 || !plain {
			return
		}
		// A valid crc32 page: changing any byte the checksum covers must make it invalid,
		// changing a byte it leaves out must not. (The other algorithms have their own tests.)
		for _, off := range probeOffsets(len(p)) {
			q := bytes.Clone(p)
			q[off] ^= 0x01
			if IsZeroPage(q) {
				continue
			}
			if valid, want := ValidatePage(q, zip) == nil, checksumIgnores(off, zip); valid != want {
				t.Fatalf("flipping byte %d of a valid page (zip=%v): valid=%v", off, zip, valid)
			}
		}
	})
}

// How much of the head and tail inputs FuzzValidatePage uses.
const (
	fuzzPageHead = 128
	fuzzPageTail = 16
)

// fuzzPage assembles the page FuzzValidatePage checks.
func fuzzPage(head, tail []byte, size uint32) []byte {
	p := make([]byte, size%(128<<10+1))
	copy(p, head[:min(len(head), fuzzPageHead)])
	tail = tail[max(0, len(tail)-fuzzPageTail):]
	if len(tail) <= len(p) {
		copy(p[len(p)-len(tail):], tail)
	}
	return p
}

// probeOffsets picks the bytes of an n-byte page around every field boundary.
func probeOffsets(n int) []int {
	return []int{0, 3, 4, 15, 16, 23, 24, 25, 26, 33, 34, 37, 38, n / 2, n - 9, n - 8, n - 5, n - 4, n - 1}
}

// checksumIgnores reports whether ValidatePage ignores byte off of a page.
func checksumIgnores(off int, zip bool) bool {
	if zip {
		return off >= filPageLSN && off < filPageType || off >= filPageFlushLSN && off < filPageSpaceID
	}
	return off >= filPageFlushLSN && off < filHeaderSize
}

func FuzzParseRedoFileHeader(f *testing.F) {
	f.Add(sampleRedoHeader.Encode(), false)
	f.Add(RedoFileHeader{Format: 6, Creator: "MEB 9.7.4", StartLSN: 512, Flags: RedoFlagFileFull}.Encode(), false)
	f.Add(flipped(sampleRedoHeader.Encode(), 20), false)
	f.Add(flipped(sampleRedoHeader.Encode(), 3), true)
	f.Add(make([]byte, 512), true)
	f.Add([]byte{0, 0, 0, 6}, false)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix && len(b) >= RedoBlockSize {
			SetRedoBlockChecksum(b[:RedoBlockSize])
		}
		h, err := ParseRedoFileHeader(b)
		if err != nil {
			if h != (RedoFileHeader{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, h)
			}
			return
		}
		enc := h.Encode()
		if again, err := ParseRedoFileHeader(enc); err != nil || again != h {
			t.Fatalf("Parse(Encode(%+v)) = %+v, %v", h, again, err)
		}
		// Encode writes the fields Parse read and zeros everywhere else.
		want := bytes.Clone(b[:RedoBlockSize])
		clear(want[redoHdrCreator+len(h.Creator) : redoHdrCreatorEnd])
		clear(want[redoHdrFlags+4 : redoChecksumOffset])
		SetRedoBlockChecksum(want)
		if !bytes.Equal(enc, want) {
			t.Fatalf("Encode differs from the parsed block outside the reserved bytes")
		}
	})
}

func FuzzParseCheckpointBlock(f *testing.F) {
	f.Add(EncodeCheckpointBlock(6081528063), false)
	f.Add(EncodeCheckpointBlock(0), false)
	f.Add(make([]byte, 512), false)
	f.Add(flipped(EncodeCheckpointBlock(120434363), 9), false)
	f.Add(flipped(EncodeCheckpointBlock(120434363), 100), true)
	f.Add([]byte{1}, true)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix && len(b) == RedoBlockSize {
			SetRedoBlockChecksum(b)
		}
		lsn, err := ParseCheckpointBlock(b)
		if err != nil {
			if lsn != 0 {
				t.Fatalf("error %v with lsn %d", err, lsn)
			}
			return
		}
		if IsZeroPage(b) {
			if lsn != 0 {
				t.Fatalf("zero block gave lsn %d", lsn)
			}
			return
		}
		if again, err := ParseCheckpointBlock(EncodeCheckpointBlock(lsn)); err != nil || again != lsn {
			t.Fatalf("Parse(Encode(%d)) = %d, %v", lsn, again, err)
		}
		want := make([]byte, RedoBlockSize)
		copy(want[checkpointLSNOffset:], b[checkpointLSNOffset:checkpointLSNOffset+8])
		SetRedoBlockChecksum(want)
		if enc := EncodeCheckpointBlock(lsn); !bytes.Equal(enc, want) {
			t.Fatalf("EncodeCheckpointBlock(%d) is not the canonical block", lsn)
		}
	})
}

// Bits of the fix argument of FuzzCheckRedoBlockAt.
const (
	fixBlockNumbers = 1 << 0 // write hdr_no and epoch_no for blockLSN
	fixChecksum     = 1 << 1 // recompute the checksum
	fixFlushBit     = 1 << 2 // with fixBlockNumbers: set the legacy flush bit
)

func FuzzCheckRedoBlockAt(f *testing.F) {
	const lsn = 6081429504
	f.Add(makeRedoBlock(lsn, 512, 12), uint64(lsn), uint8(0))
	f.Add(makeRedoBlock(lsn, 187, 20), uint64(lsn), uint8(0))
	f.Add(makeRedoBlock(lsn, 512, 12), uint64(lsn+512), uint8(0))
	f.Add(flipped(makeRedoBlock(lsn, 512, 12), 100), uint64(lsn), uint8(fixChecksum))
	f.Add(make([]byte, 512), uint64(0), uint8(fixBlockNumbers|fixChecksum|fixFlushBit))
	f.Add(make([]byte, 512), uint64(1<<39), uint8(fixBlockNumbers|fixChecksum))
	f.Add([]byte{0}, uint64(3), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, blockLSN uint64, fix uint8) {
		if len(b) == RedoBlockSize {
			fixRedoBlock(b, blockLSN, fix)
		}
		h, err := CheckRedoBlockAt(b, blockLSN)
		_, parseErr := ParseRedoBlock(b)
		if err != nil {
			wellFormedCall := len(b) == RedoBlockSize && blockLSN%RedoBlockSize == 0
			if wellFormedCall && !errors.Is(err, ErrBadChecksum) && !errors.Is(err, ErrBlockMismatch) && !errors.Is(err, ErrDataLenRange) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if wellFormedCall && errors.Is(err, ErrBadChecksum) != (parseErr != nil) {
				t.Fatalf("CheckRedoBlockAt: %v; ParseRedoBlock: %v", err, parseErr)
			}
			return
		}
		if parseErr != nil {
			t.Fatalf("ParseRedoBlock rejects what CheckRedoBlockAt accepts: %v", parseErr)
		}
		if h.HdrNo != RedoHdrNo(blockLSN) || h.EpochNo != RedoEpochNo(blockLSN) ||
			h.DataLen < RedoBlockHeaderSize || h.DataLen > RedoBlockSize {
			t.Fatalf("accepted %+v at lsn %d", h, blockLSN)
		}
		// The header re-encodes to the same bytes, except for the flush bit, which is dropped.
		enc := bytes.Clone(b)
		EncodeRedoBlockHeader(enc, h)
		enc[0] |= b[0] & 0x80
		if !bytes.Equal(enc[:RedoBlockHeaderSize], b[:RedoBlockHeaderSize]) {
			t.Fatalf("header %+v re-encodes to % x, was % x", h, enc[:12], b[:12])
		}
	})
}

// fixRedoBlock applies the fix bits of FuzzCheckRedoBlockAt and FuzzCutRedoBlock to a 512-byte
// block.
func fixRedoBlock(b []byte, blockLSN uint64, fix uint8) {
	if fix&fixBlockNumbers != 0 {
		hdrNo := RedoHdrNo(blockLSN)
		if fix&fixFlushBit != 0 {
			hdrNo |= redoFlushBit
		}
		be.PutUint32(b[redoBlkHdrNo:], hdrNo)
		be.PutUint32(b[redoBlkEpochNo:], RedoEpochNo(blockLSN))
	}
	if fix&fixChecksum != 0 {
		SetRedoBlockChecksum(b)
	}
}

func FuzzCutRedoBlock(f *testing.F) {
	const lsn = 3207207424
	f.Add(makeRedoBlock(lsn, 512, 100), uint64(lsn), int16(300), false)
	f.Add(makeRedoBlock(lsn, 512, 400), uint64(lsn), int16(300), false)
	f.Add(makeRedoBlock(lsn, 300, 12), uint64(lsn), int16(300), false)
	f.Add(makeRedoBlock(lsn, 300, 12), uint64(lsn), int16(301), false)
	f.Add(makeRedoBlock(lsn, 512, 12), uint64(lsn), int16(12), false)
	f.Add(makeRedoBlock(lsn, 512, 12), uint64(lsn), int16(508), false)
	f.Add(makeRedoBlock(lsn, 512, 12), uint64(lsn), int16(-5), false)
	f.Add(flipped(makeRedoBlock(lsn, 512, 12), 77), uint64(lsn), int16(100), false)
	f.Add(make([]byte, 512), uint64(1<<40+700), int16(200), true)
	f.Fuzz(func(t *testing.T, b []byte, blockLSN uint64, endDelta int16, fix bool) {
		if fix && len(b) == RedoBlockSize {
			blockLSN &^= RedoBlockSize - 1
			fixRedoBlock(b, blockLSN, fixBlockNumbers|fixChecksum)
		}
		endLSN := blockLSN + uint64(int64(endDelta))
		orig := bytes.Clone(b)
		origHeader, origErr := CheckRedoBlockAt(orig, blockLSN)
		if err := CutRedoBlock(b, blockLSN, endLSN); err != nil {
			if !bytes.Equal(b, orig) {
				t.Fatalf("failed cut (%v) changed the block", err)
			}
			return
		}
		if origErr != nil {
			t.Fatalf("cut a block CheckRedoBlockAt rejects: %v", origErr)
		}
		h, err := CheckRedoBlockAt(b, blockLSN)
		if err != nil {
			t.Fatalf("cut block invalid: %v", err)
		}
		n := uint16(endLSN - blockLSN)
		if h.DataLen != n || h.HdrNo != origHeader.HdrNo || h.EpochNo != origHeader.EpochNo || h.Encrypted != origHeader.Encrypted {
			t.Fatalf("cut header %+v from %+v at data_len %d", h, origHeader, n)
		}
		if want := origHeader.FirstRecGroup; want >= n && h.FirstRecGroup != 0 || want < n && h.FirstRecGroup != want {
			t.Fatalf("first_rec_group %d from %d at data_len %d", h.FirstRecGroup, want, n)
		}
		if !bytes.Equal(b[RedoBlockHeaderSize:n], orig[RedoBlockHeaderSize:n]) || !IsZeroPage(b[n:redoChecksumOffset]) {
			t.Fatal("payload not kept up to the end, or not zeroed after it")
		}
		// Cutting again at the same place changes nothing.
		again := bytes.Clone(b)
		if err := CutRedoBlock(again, blockLSN, endLSN); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("second cut: %v", err)
		}
	})
}
