package innodb

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRedoHdrNoAndEpochNo(t *testing.T) {
	const wrap = uint64(1<<30) * 512 // LSN at which the block number wraps
	tests := []struct {
		lsn          uint64
		hdrNo, epoch uint32
	}{
		{0, 1, 1},
		{511, 1, 1},
		{512, 2, 1},
		{2048, 5, 1},
		{6081429504, 6081429504/512 + 1, 1},
		{wrap - 512, 1 << 30, 1},
		{wrap, 1, 2},
		{wrap + 512, 2, 2},
		{3*wrap + 1024, 3, 4},
	}
	for _, tc := range tests {
		if got := RedoHdrNo(tc.lsn); got != tc.hdrNo {
			t.Errorf("RedoHdrNo(%d) = %d, want %d", tc.lsn, got, tc.hdrNo)
		}
		if got := RedoEpochNo(tc.lsn); got != tc.epoch {
			t.Errorf("RedoEpochNo(%d) = %d, want %d", tc.lsn, got, tc.epoch)
		}
	}
}

func TestRedoFileHeaderLayout(t *testing.T) {
	h := RedoFileHeader{Format: 6, LogUUID: 0x01020304, StartLSN: 0x1122334455667800, Creator: "MySQL 9.7.4", Flags: RedoFlagFileFull}
	b := h.Encode()
	if len(b) != 512 {
		t.Fatalf("Encode gave %d bytes", len(b))
	}
	want := make([]byte, 512)
	copy(want, []byte{0, 0, 0, 6, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x78, 0x00})
	copy(want[16:], "MySQL 9.7.4")
	want[51] = 8
	SetRedoBlockChecksum(want)
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode:\n% x\nwant\n% x", b[:64], want[:64])
	}
	got, err := ParseRedoFileHeader(b)
	if err != nil || got != h {
		t.Fatalf("ParseRedoFileHeader = %+v, %v; want %+v", got, err, h)
	}
}

func TestParseRedoFileHeader(t *testing.T) {
	valid := sampleRedoHeader.Encode()
	reChecksummed := func(b []byte, edit func([]byte)) []byte {
		c := bytes.Clone(b)
		edit(c)
		SetRedoBlockChecksum(c)
		return c
	}
	tests := []struct {
		name string
		b    []byte
		want RedoFileHeader
		err  string
	}{
		{"valid", valid, sampleRedoHeader, ""},
		{"longer input, first 512 bytes used", append(bytes.Clone(valid), make([]byte, 1536)...), sampleRedoHeader, ""},
		{"MEB creator", RedoFileHeader{Format: 6, LogUUID: 1, StartLSN: 512, Creator: "MEB 9.7.4"}.Encode(),
			RedoFileHeader{Format: 6, LogUUID: 1, StartLSN: 512, Creator: "MEB 9.7.4"}, ""},
		{"empty creator", RedoFileHeader{Format: 6, StartLSN: 8192}.Encode(), RedoFileHeader{Format: 6, StartLSN: 8192}, ""},
		{"31-byte creator", RedoFileHeader{Format: 6, Creator: strings.Repeat("c", 31)}.Encode(),
			RedoFileHeader{Format: 6, Creator: strings.Repeat("c", 31)}, ""},

		{"511 bytes", valid[:511], RedoFileHeader{}, "511 bytes, want 512"},
		{"bad crc", flipped(valid, 100), RedoFileHeader{}, "redo file header: bad checksum: stored 0x"},
		{"stored crc damaged", flipped(valid, 509), RedoFileHeader{}, "bad checksum"},
		{"all zero", make([]byte, 512), RedoFileHeader{}, "bad checksum"},
		{"pre-8.0.30 format", reChecksummed(valid, func(c []byte) { be.PutUint32(c, 4) }), RedoFileHeader{}, "format 4, want 6"},
		{"format 7", reChecksummed(valid, func(c []byte) { be.PutUint32(c, 7) }), RedoFileHeader{}, "format 7"},
		{"unaligned start_lsn", reChecksummed(valid, func(c []byte) { be.PutUint64(c[8:], 6081429505) }), RedoFileHeader{}, "start_lsn 6081429505 is not a multiple of 512"},
		{"creator without NUL", reChecksummed(valid, func(c []byte) { copy(c[16:48], strings.Repeat("x", 32)) }), RedoFileHeader{}, "not NUL-terminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRedoFileHeader(tc.b)
			wantError(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if err == nil && !bytes.Equal(got.Encode(), tc.b[:512]) {
				t.Fatal("Encode(Parse(b)) != b")
			}
		})
	}
	if err := func() error { _, err := ParseRedoFileHeader(flipped(valid, 3)); return err }(); !errors.Is(err, ErrBadChecksum) {
		t.Errorf("a damaged header does not wrap ErrBadChecksum: %v", err)
	}
}

func TestEncodeCutsLongCreator(t *testing.T) {
	h := RedoFileHeader{Format: 6, Creator: strings.Repeat("a", 40)}
	got, err := ParseRedoFileHeader(h.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Creator != strings.Repeat("a", 31) {
		t.Fatalf("creator %q", got.Creator)
	}
}

func TestCheckpointBlock(t *testing.T) {
	valid := EncodeCheckpointBlock(6081528063)
	if len(valid) != 512 || be.Uint64(valid[8:]) != 6081528063 || !IsZeroPage(valid[16:508]) || !IsZeroPage(valid[:8]) {
		t.Fatalf("EncodeCheckpointBlock layout wrong: % x", valid[:24])
	}
	tests := []struct {
		name string
		b    []byte
		want uint64
		err  string
	}{
		{"valid", valid, 6081528063, ""},
		{"unused slot (all zero)", make([]byte, 512), 0, ""},
		{"LSN 0 with a valid crc", EncodeCheckpointBlock(0), 0, ""},
		{"max LSN", EncodeCheckpointBlock(^uint64(0)), ^uint64(0), ""},
		{"bad crc", flipped(valid, 12), 0, "redo checkpoint block: bad checksum"},
		{"damaged crc", flipped(valid, 511), 0, "bad checksum"},
		{"zero but for the crc", func() []byte { b := make([]byte, 512); b[508] = 1; return b }(), 0, "bad checksum"},
		{"short", valid[:511], 0, "511 bytes, want 512"},
		{"long", append(bytes.Clone(valid), 0), 0, "513 bytes, want 512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheckpointBlock(tc.b)
			wantError(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("lsn %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseRedoBlock(t *testing.T) {
	const lsn = 6081429504
	valid := makeRedoBlock(lsn, 512, 100)
	withFlushBit := bytes.Clone(valid)
	withFlushBit[0] |= 0x80
	SetRedoBlockChecksum(withFlushBit)
	encrypted := bytes.Clone(valid)
	encrypted[4] |= 0x80
	SetRedoBlockChecksum(encrypted)
	want := RedoBlockHeader{HdrNo: RedoHdrNo(lsn), DataLen: 512, FirstRecGroup: 100, EpochNo: 1}
	wantEnc := want
	wantEnc.Encrypted = true

	tests := []struct {
		name string
		b    []byte
		want RedoBlockHeader
		err  string
	}{
		{"valid", valid, want, ""},
		{"flush bit masked off", withFlushBit, want, ""},
		{"encrypted bit masked off", encrypted, wantEnc, ""},
		{"bad crc", flipped(valid, 300), RedoBlockHeader{}, "redo block: bad checksum"},
		{"short", valid[:500], RedoBlockHeader{}, "500 bytes, want 512"},
		{"all zero", make([]byte, 512), RedoBlockHeader{}, "bad checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRedoBlock(tc.b)
			wantError(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEncodeRedoBlockHeader(t *testing.T) {
	for _, h := range []RedoBlockHeader{
		{HdrNo: 1, DataLen: 12, EpochNo: 1},
		{HdrNo: 1 << 30, DataLen: 512, FirstRecGroup: 507, EpochNo: 3},
		{HdrNo: 11877793, DataLen: 300, FirstRecGroup: 12, EpochNo: 1, Encrypted: true},
	} {
		b := make([]byte, 512)
		EncodeRedoBlockHeader(b, h)
		SetRedoBlockChecksum(b)
		got, err := ParseRedoBlock(b)
		if err != nil || got != h {
			t.Errorf("round trip of %+v gave %+v, %v", h, got, err)
		}
		if b[0]&0x80 != 0 {
			t.Errorf("flush bit set for %+v", h)
		}
	}
	// A flush bit or encrypted bit passed in the numeric fields does not leak into the bytes.
	b := make([]byte, 512)
	EncodeRedoBlockHeader(b, RedoBlockHeader{HdrNo: 1<<31 | 5, DataLen: 1<<15 | 200})
	if be.Uint32(b) != 5 || be.Uint16(b[4:]) != 200 {
		t.Errorf("stray bits written: % x", b[:12])
	}
}

func TestCheckRedoBlockAt(t *testing.T) {
	const lsn = 6081429504
	const wrap = uint64(1<<30) * 512
	withDataLen := func(n uint16) []byte {
		b := makeRedoBlock(lsn, 512, 0)
		be.PutUint16(b[4:], n)
		SetRedoBlockChecksum(b)
		return b
	}
	wrongEpoch := makeRedoBlock(lsn, 512, 0)
	be.PutUint32(wrongEpoch[8:], 2)
	SetRedoBlockChecksum(wrongEpoch)

	tests := []struct {
		name     string
		b        []byte
		blockLSN uint64
		sentinel error
		err      string
	}{
		{"full block", makeRedoBlock(lsn, 512, 12), lsn, nil, ""},
		{"tail block", makeRedoBlock(lsn, 300, 200), lsn, nil, ""},
		{"empty tail block", makeRedoBlock(lsn, 12, 0), lsn, nil, ""},
		{"block at LSN 0", makeRedoBlock(0, 512, 12), 0, nil, ""},
		{"second epoch", makeRedoBlock(wrap+1024, 512, 12), wrap + 1024, nil, ""},

		{"bad checksum", flipped(makeRedoBlock(lsn, 512, 12), 40), lsn, ErrBadChecksum, "redo block at lsn 6081429504: bad checksum: stored 0x"},
		{"not yet written (zeros)", make([]byte, 512), lsn, ErrBadChecksum, "bad checksum"},
		{"stale block, one lap behind", makeRedoBlock(lsn-3276800+2048, 512, 12), lsn, ErrBlockMismatch, "block number mismatch (stale or not yet written): hdr_no"},
		{"next block", makeRedoBlock(lsn+512, 512, 12), lsn, ErrBlockMismatch, "block number mismatch"},
		{"same hdr_no one epoch earlier", makeRedoBlock(lsn, 512, 12), lsn + wrap, ErrBlockMismatch, "epoch_no 1, want hdr_no"},
		{"wrong epoch", wrongEpoch, lsn, ErrBlockMismatch, "epoch_no 2"},
		{"data_len 11", withDataLen(11), lsn, ErrDataLenRange, "data_len out of range: 11 not in [12, 512]"},
		{"data_len 0", withDataLen(0), lsn, ErrDataLenRange, "data_len out of range"},
		{"data_len 513", withDataLen(513), lsn, ErrDataLenRange, "data_len out of range: 513"},
		{"data_len 0x7fff", withDataLen(0x7fff), lsn, ErrDataLenRange, "data_len out of range"},
		{"unaligned lsn", makeRedoBlock(lsn, 512, 12), lsn + 1, nil, "not a multiple of 512"},
		{"short", makeRedoBlock(lsn, 512, 12)[:511], lsn, nil, "511 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := CheckRedoBlockAt(tc.b, tc.blockLSN)
			wantError(t, err, tc.err)
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v does not wrap %v", err, tc.sentinel)
			}
			if err == nil && (h.HdrNo != RedoHdrNo(tc.blockLSN) || h.EpochNo != RedoEpochNo(tc.blockLSN)) {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

func TestCutRedoBlock(t *testing.T) {
	const lsn = 3207207424
	tests := []struct {
		name         string
		dataLen, frg uint16
		endOff       uint64 // endLSN - blockLSN
		wantFirstRec uint16
	}{
		{"full block cut in the middle", 512, 100, 300, 100},
		{"first_rec_group past the end", 512, 400, 300, 0},
		{"first_rec_group at the end", 512, 300, 300, 0},
		{"first_rec_group just before the end", 512, 299, 300, 299},
		{"cut at the last payload byte", 512, 12, 508, 12},
		{"empty block", 512, 12, 12, 0},
		{"tail block cut where it ends", 300, 200, 300, 200},
		{"tail block cut earlier", 300, 200, 250, 200},
		{"no record group", 512, 0, 13, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := makeRedoBlock(lsn, tc.dataLen, tc.frg)
			b := bytes.Clone(orig)
			if err := CutRedoBlock(b, lsn, lsn+tc.endOff); err != nil {
				t.Fatal(err)
			}
			h, err := CheckRedoBlockAt(b, lsn)
			if err != nil {
				t.Fatalf("cut block invalid: %v", err)
			}
			want := RedoBlockHeader{HdrNo: RedoHdrNo(lsn), DataLen: uint16(tc.endOff), FirstRecGroup: tc.wantFirstRec, EpochNo: 1}
			if h != want {
				t.Fatalf("header %+v, want %+v", h, want)
			}
			if !bytes.Equal(b[12:tc.endOff], orig[12:tc.endOff]) {
				t.Fatal("payload before the end changed")
			}
			if !IsZeroPage(b[tc.endOff:508]) {
				t.Fatal("bytes after the end not zeroed")
			}
		})
	}
}

func TestCutRedoBlockKeepsEncryptedAndFlushBits(t *testing.T) {
	const lsn = 1 << 20
	b := makeRedoBlock(lsn, 512, 12)
	b[0] |= 0x80 // legacy flush bit
	b[4] |= 0x80 // encrypted
	SetRedoBlockChecksum(b)
	if err := CutRedoBlock(b, lsn, lsn+100); err != nil {
		t.Fatal(err)
	}
	if b[0]&0x80 == 0 || be.Uint16(b[4:]) != 0x8000|100 {
		t.Fatalf("header bits lost: % x", b[:12])
	}
}

func TestCutRedoBlockErrors(t *testing.T) {
	const lsn = 3207207424
	full := makeRedoBlock(lsn, 512, 12)
	tail := makeRedoBlock(lsn, 300, 12)
	tests := []struct {
		name     string
		b        []byte
		blockLSN uint64
		endLSN   uint64
		err      string
	}{
		{"end before the payload", full, lsn, lsn + 11, "end lsn 3207207435 is outside [3207207436, 3207207932]"},
		{"end before the block", full, lsn, lsn - 1, "is outside"},
		{"end in the trailer", full, lsn, lsn + 509, "is outside"},
		{"end in the next block", full, lsn, lsn + 600, "is outside"},
		{"block too short for the end", tail, lsn, lsn + 301, "holds data up to lsn 3207207724 only (data_len 300), not up to 3207207725"},
		{"corrupt block", flipped(full, 200), lsn, lsn + 100, "cutting: redo block at lsn 3207207424: bad checksum"},
		{"wrong block", full, lsn + 512, lsn + 600, "block number mismatch"},
		{"unaligned block lsn", full, lsn + 1, lsn + 100, "not a multiple of 512"},
		{"short", full[:100], lsn, lsn + 50, "100 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(tc.b)
			wantError(t, CutRedoBlock(b, tc.blockLSN, tc.endLSN), tc.err)
			if !bytes.Equal(b, tc.b) {
				t.Fatal("block changed by a failed cut")
			}
		})
	}
}
