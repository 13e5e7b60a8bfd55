package innodb

import "testing"

// TestWriteSyntheticSeeds regenerates the synthetic part of the committed fuzz corpus under
// testdata/fuzz when PAGETRACK_INNODB_WRITE_SEEDS=1 (TestRealMySQL writes the part taken from a
// real server the same way). Otherwise it does nothing.
//
//	PAGETRACK_INNODB_WRITE_SEEDS=1 go test -run 'TestWriteSyntheticSeeds|TestRealMySQL' ./mysqlsrc/innodb/
func TestWriteSyntheticSeeds(t *testing.T) {
	if !writingSeeds() {
		t.Skip("set " + writeSeedsEnv + "=1 to rewrite the seed corpus")
	}
	page0 := makePage0(5, 0x4021, 7)
	zipPage0 := makePage0(6, 0x4027, 24)
	writeSeed(t, "FuzzParsePage0", "file-per-table", page0[:64])
	writeSeed(t, "FuzzParsePage0", "zip4", zipPage0[:128])
	writeSeed(t, "FuzzParsePage0", "space-ids-differ", flipped(page0, 40)[:64])
	badPageSize := append([]byte(nil), page0[:64]...)
	be.PutUint32(badPageSize[fspFlags:], 0x4021|1<<6) // PAGE_SSIZE 1: 1 KiB pages do not exist
	writeSeed(t, "FuzzParsePage0", "bad-page-ssize", badPageSize)

	writePageSeed(t, "page0-16K", page0, false, true)
	writePageSeed(t, "zip4-page0", zipPage0, true, true)
	writePageSeed(t, "torn-trailer-4K", flipped(makePage(pageSpec{size: 4096, number: 9, spaceID: 5, lsn: 4017496779, typ: 17855}), 4093), false, false)
	writePageSeed(t, "zip1K-bad-checksum", flipped(makePage(pageSpec{size: 1024, zip: true, number: 9, spaceID: 5, lsn: 1, typ: 17855}), 2), true, false)
	writePageSeed(t, "zero-4K-fixed", make([]byte, 4096), false, true)

	header := sampleRedoHeader.Encode()
	writeSeed(t, "FuzzParseRedoFileHeader", "valid", header, false)
	writeSeed(t, "FuzzParseRedoFileHeader", "bad-crc", flipped(header, 30), false)
	format4 := append([]byte(nil), header...)
	format4[3] = 4
	writeSeed(t, "FuzzParseRedoFileHeader", "format-4-fixed", format4, true)
	writeSeed(t, "FuzzParseRedoFileHeader", "short", header[:100], false)

	writeSeed(t, "FuzzParseCheckpointBlock", "valid", EncodeCheckpointBlock(6081528063), false)
	writeSeed(t, "FuzzParseCheckpointBlock", "unused-slot", make([]byte, 512), false)
	writeSeed(t, "FuzzParseCheckpointBlock", "bad-crc", flipped(EncodeCheckpointBlock(6081528063), 10), false)

	const lsn = 6081429504
	full := makeRedoBlock(lsn, 512, 12)
	writeSeed(t, "FuzzCheckRedoBlockAt", "full", full, uint64(lsn), uint8(0))
	writeSeed(t, "FuzzCheckRedoBlockAt", "stale", full, uint64(lsn+3276800-2048), uint8(0))
	writeSeed(t, "FuzzCheckRedoBlockAt", "bad-crc", flipped(full, 200), uint64(lsn), uint8(0))
	writeSeed(t, "FuzzCheckRedoBlockAt", "zero-fixed-second-epoch", make([]byte, 512), uint64(1<<39+512), uint8(fixBlockNumbers|fixChecksum))

	writeSeed(t, "FuzzCutRedoBlock", "full-cut-300", full, uint64(lsn), int16(300), false)
	writeSeed(t, "FuzzCutRedoBlock", "tail-too-short", makeRedoBlock(lsn, 200, 12), uint64(lsn), int16(201), false)
	writeSeed(t, "FuzzCutRedoBlock", "empty-block", full, uint64(lsn), int16(12), false)
	writeSeed(t, "FuzzCutRedoBlock", "bad-crc", flipped(full, 44), uint64(lsn), int16(100), false)
}
