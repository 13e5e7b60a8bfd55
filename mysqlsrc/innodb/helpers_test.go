package innodb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fillPattern fills b with bytes that depend on seed and position, so that pages and blocks built
// by the tests have non-trivial content for the checksums to cover.
func fillPattern(b []byte, seed uint32) {
	x := seed*2654435761 + 1
	if x == 0 {
		x = 1 // xorshift would stay at zero
	}
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
}

// pageSpec describes a synthetic page.
type pageSpec struct {
	size    int
	zip     bool
	number  uint32
	spaceID uint32
	lsn     uint64
	typ     uint16
}

// makePage builds a page of spec.size bytes with a pattern body, the given FIL header fields and
// a correct checksum.
func makePage(s pageSpec) []byte {
	p := make([]byte, s.size)
	fillPattern(p, s.number^s.spaceID<<8^uint32(s.size))
	be.PutUint32(p[filPageOffset:], s.number)
	be.PutUint64(p[filPageLSN:], s.lsn)
	be.PutUint16(p[filPageType:], s.typ)
	be.PutUint64(p[filPageFlushLSN:], 0)
	be.PutUint32(p[filPageSpaceID:], s.spaceID)
	if s.zip {
		SetZipPageChecksum(p)
	} else {
		SetPageChecksum(p)
	}
	return p
}

// makePage0 builds a checksummed page 0 of the tablespace described by flags.
func makePage0(spaceID uint32, flags FSPFlags, sizePages uint32) []byte {
	p := makePage(pageSpec{size: flags.PhysicalPageSize(), zip: flags.ZipSize() != 0, spaceID: spaceID, lsn: 123456789, typ: pageTypeFSPHdr})
	be.PutUint32(p[fspSpaceID:], spaceID)
	be.PutUint32(p[fspSize:], sizePages)
	be.PutUint32(p[fspFlags:], uint32(flags))
	if flags.ZipSize() != 0 {
		SetZipPageChecksum(p)
	} else {
		SetPageChecksum(p)
	}
	return p
}

// makeRedoBlock builds the data block that starts at blockLSN, holding dataLen bytes (header
// included) of pattern payload, with a correct header and checksum.
func makeRedoBlock(blockLSN uint64, dataLen, firstRecGroup uint16) []byte {
	b := make([]byte, RedoBlockSize)
	fillPattern(b[RedoBlockHeaderSize:dataLen], uint32(blockLSN/RedoBlockSize))
	EncodeRedoBlockHeader(b, RedoBlockHeader{
		HdrNo: RedoHdrNo(blockLSN), DataLen: dataLen, FirstRecGroup: firstRecGroup, EpochNo: RedoEpochNo(blockLSN),
	})
	SetRedoBlockChecksum(b)
	return b
}

// sampleRedoHeader looks like the header of a real file.
var sampleRedoHeader = RedoFileHeader{Format: RedoFormat, LogUUID: 0x9b5586c3, StartLSN: 6081429504, Creator: "MySQL 9.7.4", Flags: 0}

func flipped(b []byte, off int) []byte {
	c := bytes.Clone(b)
	c[off] ^= 0x5a
	return c
}

// wantError fails unless err is nil when want is "", or err's text contains want.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// seedWriter writes fuzz seed corpus files in the "go test fuzz v1" format when
// PAGETRACK_INNODB_WRITE_SEEDS=1, so that the committed corpus can be regenerated (the real seeds
// come from TestRealMySQL, the synthetic ones from TestWriteSyntheticSeeds).
const writeSeedsEnv = "PAGETRACK_INNODB_WRITE_SEEDS"

func writingSeeds() bool { return os.Getenv(writeSeedsEnv) == "1" }

func writeSeed(t *testing.T, fuzzName, seedName string, values ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%d)\n", v)
		case int16:
			fmt.Fprintf(&b, "int16(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		default:
			t.Fatalf("writeSeed: unsupported type %T", v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, seedName), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePageSeed writes a FuzzValidatePage seed made of the header and trailer bytes of page.
// With fix=false the seed stands for a page whose body was zeroed (so it fails unless the page
// was all zero); with fix=true the target recomputes the checksum and gets a valid page.
func writePageSeed(t *testing.T, seedName string, page []byte, zip, fix bool) {
	t.Helper()
	writeSeed(t, "FuzzValidatePage", seedName, page[:fuzzPageHead], page[len(page)-fuzzPageTail:], uint32(len(page)), zip, fix)
}
