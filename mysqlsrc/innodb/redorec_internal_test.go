package innodb

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestParseRecordFormats checks record layouts the real sample does not hold (types MySQL 9.7.4
// wrote none of in the workload, the 8.0.27 index records, instant and versioned index
// descriptors, the rarer integer encodings), each as one single-record group written by hand
// from the layouts in doc.go. Each record is followed by a byte that must not be consumed.
func TestParseRecordFormats(t *testing.T) {
	const single = mlogSingleRecFlag
	page := []byte{0x05, 0x03} // space 5, page 3
	rec := func(typ RedoRecordType, body ...byte) []byte {
		return append(append([]byte{uint8(typ) | single}, page...), body...)
	}
	compactIdx8027 := []byte{0, 2, 0, 1, 0x80, 4, 0x7f, 0xff} // n 2, n_uniq 1, two field lengths
	tests := []struct {
		name string
		b    []byte
	}{
		{"dummy", []byte{uint8(MlogDummyRecord)}},
		{"1byte", rec(Mlog1Byte, 0, 40, 0x7f)},
		{"4bytes FIL_NULL extended form", rec(Mlog4Bytes, 0, 40, 0xFB, 0xFF)},
		{"4bytes 32-bit form", rec(Mlog4Bytes, 0, 40, 0xF0, 0x12, 0x34, 0x56, 0x78)},
		{"8bytes", rec(Mlog8Bytes, 0, 40, 0x81, 0x00, 1, 2, 3, 4)},
		{"space id of mysql.ibd", append([]byte{uint8(MlogInitFilePage2) | single, 0xFE, 0xFF, 0xFF, 0xFE}, 0x03)},
		{"rec_min_mark", rec(MlogRecMinMark, 0, 99)},
		{"comp_rec_min_mark", rec(MlogCompRecMinMark, 0, 99)},
		{"undo_erase_end", rec(MlogUndoEraseEnd)},
		{"init_file_page", rec(MlogInitFilePage)},
		{"page_create_rtree", rec(MlogPageCreateRtree)},
		{"page_create_sdi", rec(MlogPageCreateSDI)},
		{"list_start_delete", rec(MlogListStartDelete, 1, 0x01, 0, 2, 0, 2, 0x80, 4, 0x7f, 0xff, 0, 99)},
		{"zip_page_reorganize", rec(MlogZipPageReorganize, 1, 0x01, 0, 1, 0, 1, 0x80, 4, 6)},
		{"zip_page_compress_no_data", rec(MlogZipPageCompressNoData, 1, 0x01, 0, 1, 0, 1, 0x80, 4, 6)},
		{"redundant index", rec(MlogRecDelete, 1, 0x00, 0, 99)},
		{"instant index", rec(MlogRecDelete, 1, 0x05, 0, 2, 0, 1, 0, 1, 0x80, 4, 0x7f, 0xff, 0, 99)},
		{"versioned index", rec(MlogRecDelete, 1, 0x03, 0, 2, 0, 1, 0x80, 4, 0x7f, 0xff,
			0, 2, 0, 1, 0x80, 1, 3, 0, 0, 0xC0, 0, 4, 5, 0, 99)},
		{"versioned redundant index", rec(MlogRecDelete, 1, 0x02, 0, 3, 0, 1, 0, 2, 0x40, 2, 7, 0, 99)},
		{"rec_insert_8027 redundant", rec(MlogRecInsert8027, 0, 99, 0x04, 0xAA, 0xBB)},
		{"comp_rec_insert_8027 with info bits", rec(MlogCompRecInsert8027, append(compactIdx8027, 0, 99, 0x05, 0x20, 0x10, 0x02, 0xAA, 0xBB)...)},
		{"comp_rec_update_in_place_8027", rec(MlogCompRecUpdateInPlace8027, append(compactIdx8027,
			0, 3, 1, 2, 3, 4, 5, 6, 7, 0x10, 0, 0, 0, 1, 0, 99, 0, 2, 1, 1, 0xAA, 2, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF)...)},
		{"comp_rec_sec_delete_mark", rec(MlogCompRecSecDeleteMark, append(compactIdx8027, 1, 0, 99)...)},
		{"list_end_copy_created_8027", rec(MlogListEndCopyCreated8027, 0, 0, 0, 3, 1, 2, 3)},
		{"comp_page_reorganize_8027", rec(MlogCompPageReorganize8027, compactIdx8027...)},
		{"page_reorganize_8027", rec(MlogPageReorganize8027)},
		{"zip_page_reorganize_8027", rec(MlogZipPageReorganize8027, append(compactIdx8027, 9)...)},
		{"zip_page_compress_no_data_8027", rec(MlogZipPageCompressNoData8027, append(compactIdx8027, 1)...)},
		{"corrupted index metadata", []byte{uint8(MlogTableDynamicMeta) | single, 0x42, 0x01, pmIndexCorrupted, 1, 0x05, 0xFF, 0x01, 0x02}},
		{"autoinc with a 64-bit table id", []byte{uint8(MlogTableDynamicMeta) | single, 0xFF, 0x01, 0x02, 0x03, pmTableAutoInc, 0x81, 0x00}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append(tc.b, 0xEE)
			g, n, err := parseGroup(b, DefaultRedoPageSize)
			if err != nil || n != len(tc.b) || len(g.Records) != 1 {
				t.Fatalf("parseGroup = %d bytes, %v; want one record of %d bytes", n, err, len(tc.b))
			}
			// Every shorter prefix must ask for more data, never fail or overrun.
			for cut := range len(tc.b) {
				if _, _, err := parseGroup(tc.b[:cut], DefaultRedoPageSize); !errors.Is(err, errRecordShort) {
					t.Fatalf("prefix of %d bytes: %v, want short data", cut, err)
				}
			}
		})
	}
}

func TestParseRecordMalformed(t *testing.T) {
	page := []byte{0x05, 0x03}
	rec := func(typ RedoRecordType, body ...byte) []byte {
		return append(append([]byte{uint8(typ) | mlogSingleRecFlag}, page...), body...)
	}
	tests := []struct {
		name, want string
		b          []byte
	}{
		{"1byte value too wide", "does not fit", rec(Mlog1Byte, 0, 40, 0x81, 0x00)},
		{"offset past the page", "not below the page size", rec(Mlog2Bytes, 0x40, 0x00, 1)},
		{"write string past the page end", "runs past the page end", rec(MlogWriteString, 0x3f, 0xff, 0, 2, 1, 2)},
		{"compressed 0xF3", "starts with 0xf3", rec(Mlog4Bytes, 0, 40, 0xF3, 0, 0, 0, 0)},
		{"index log version 0", "index log version 0", rec(MlogRecDelete, 0, 0x01)},
		{"unknown index flag", "index flags 0x08", rec(MlogRecDelete, 1, 0x08, 0, 99)},
		{"n_uniq above n", "n_uniq 3 > n 2", rec(MlogRecDelete, 1, 0x01, 0, 2, 0, 3)},
		{"zip level 10", "compression level 10", rec(MlogZipPageReorganize, 1, 0x00, 10)},
		{"extend by 0", "by 0 bytes", rec(MlogFileExtend, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"file name without NUL", "not NUL-terminated", rec(MlogFileDelete, 0, 5, 'a', '.', 'i', 'b', 'd')},
		{"zip header write into the records", "compressed page header write", rec(MlogZipWriteHeader, 90, 8, 1, 2, 3, 4, 5, 6, 7, 8)},
		{"insert segment longer than two pages", "end segment length", rec(MlogRecInsert, 1, 0, 0, 99, 0xC0, 0x80, 0x00)},
		{"unknown metadata type", "dynamic metadata type 3", []byte{uint8(MlogTableDynamicMeta) | mlogSingleRecFlag, 1, 1, 3, 0}},
		{"no corrupted index listed", "lists no index", []byte{uint8(MlogTableDynamicMeta) | mlogSingleRecFlag, 1, 1, pmIndexCorrupted, 0}},
		{"flagged end marker", "group marker", []byte{uint8(MlogMultiRecEnd) | mlogSingleRecFlag}},
		{"flagged record inside a group", "inside a multi-record group", append([]byte{uint8(MlogInitFilePage2), 5, 3}, rec(MlogInitFilePage2)...)},
		{"unknown type 0", "record type 0", []byte{0, 5, 3}},
		{"type 23 (gone)", "record type 23", []byte{23, 5, 3}},
		{"MLOG_TEST", "record type 66", rec(MlogTest)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseGroup(append(tc.b, 0xEE, 0xEE), DefaultRedoPageSize)
			var ge *groupError
			if !errors.As(err, &ge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseGroup: %v, want a groupError saying %q", err, tc.want)
			}
		})
	}
}

func TestRedoSNAndLSN(t *testing.T) {
	for _, tc := range []struct{ lsn, sn uint64 }{
		{12, 0}, {507, 495}, {512 + 12, 496}, {2048 + 12, 4 * 496}, {2048 + 100, 4*496 + 88},
	} {
		if got := redoSN(tc.lsn); got != tc.sn {
			t.Errorf("redoSN(%d) = %d, want %d", tc.lsn, got, tc.sn)
		}
		if got := redoLSN(tc.sn); got != tc.lsn {
			t.Errorf("redoLSN(%d) = %d, want %d", tc.sn, got, tc.lsn)
		}
	}
}

// logOf writes groups into full blocks from blockLSN+12 on, as the server would: each block's
// first_rec_group is the offset of the first group that starts in it, or 0.
func logOf(blockLSN uint64, groups ...[]byte) []byte {
	var payload []byte
	firstRecGroup := map[int]uint16{}
	for _, g := range groups {
		blk := len(payload) / redoBlockPayload
		if _, ok := firstRecGroup[blk]; !ok {
			firstRecGroup[blk] = uint16(len(payload)%redoBlockPayload + RedoBlockHeaderSize)
		}
		payload = append(payload, g...)
	}
	var out []byte
	for i := 0; len(payload) > 0; i++ {
		b := make([]byte, RedoBlockSize)
		n := copy(b[RedoBlockHeaderSize:redoChecksumOffset], payload)
		payload = payload[n:]
		lsn := blockLSN + uint64(i)*RedoBlockSize
		EncodeRedoBlockHeader(b, RedoBlockHeader{HdrNo: RedoHdrNo(lsn), DataLen: RedoBlockSize, FirstRecGroup: firstRecGroup[i], EpochNo: RedoEpochNo(lsn)})
		SetRedoBlockChecksum(b)
		out = append(out, b...)
	}
	return out
}

// TestRedoWalkerBoundsGroups feeds a mini-transaction that never ends: the walk must fail
// once MaxGroupBytes are buffered, not grow without bound.
func TestRedoWalkerBoundsGroups(t *testing.T) {
	const blockLSN = 1 << 20
	payload := bytes.Repeat([]byte{uint8(MlogInitFilePage2), 0x05, 0x03}, 4000)
	w, err := NewRedoWalker(bytes.NewReader(logOf(blockLSN, payload)), RedoFormat, blockLSN, blockLSN+12, blockLSN+20*RedoBlockSize+12,
		RedoParseOptions{MaxGroupBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.Next()
	var perr *RedoParseError
	if g != nil || !errors.As(err, &perr) || !errors.Is(err, ErrRedoMalformed) || !strings.Contains(err.Error(), "longer than 2000 bytes") || perr.LSN != blockLSN+12 {
		t.Fatalf("Next = %v, %v; want the group refused as too long at %d", g, err, blockLSN+12)
	}
	if len(w.buf) > 4000+RedoBlockSize {
		t.Errorf("buffered %d bytes for a 2000-byte limit", len(w.buf))
	}
}

// TestRedoWalkerChecksFirstRecGroup gives blocks whose first_rec_group disagrees with the
// records: the group that ends in such a block must be refused.
func TestRedoWalkerChecksFirstRecGroup(t *testing.T) {
	const blockLSN = 1 << 20
	// One group of 200 records of 3 bytes and an end (601 bytes: into the second block), then
	// 200 single-record groups.
	groups := [][]byte{append(bytes.Repeat([]byte{uint8(MlogInitFilePage2), 0x05, 0x03}, 200), uint8(MlogMultiRecEnd))}
	for range 200 {
		groups = append(groups, []byte{uint8(MlogInitFilePage2) | mlogSingleRecFlag, 0x05, 0x03})
	}
	blocks := logOf(blockLSN, groups...)
	end := redoLSN(redoSN(blockLSN+12) + 601 + 600)
	walk := func(blocks []byte) error {
		_, err := ChangedPages(bytes.NewReader(blocks), RedoFormat, blockLSN, blockLSN+12, end, RedoParseOptions{}, RedoChangeHandler{})
		return err
	}
	if err := walk(blocks); err != nil {
		t.Fatalf("walk: %v", err)
	}
	// The first group ends 105 bytes into the second block's records, at offset 117.
	second := blocks[RedoBlockSize : 2*RedoBlockSize]
	for _, frg := range []uint16{0, 116, 120} {
		be.PutUint16(second[6:], frg)
		SetRedoBlockChecksum(second)
		if err := walk(blocks); !errors.Is(err, ErrRedoMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("first_rec_group %d, not 117", frg)) {
			t.Errorf("first_rec_group %d: %v, want a mismatch", frg, err)
		}
	}
}
