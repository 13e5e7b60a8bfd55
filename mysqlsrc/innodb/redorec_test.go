package innodb_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// loadRedoSample reads the committed redo of a real MySQL 9.7.4 server (see
// TestRedoParserRealServer, which writes it with -update-redo-sample).
func loadRedoSample(t testing.TB) *capturedRedo {
	t.Helper()
	f, err := os.Open(redoSamplePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var c capturedRedo
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		t.Fatalf("%s: %v", redoSamplePath, err)
	}
	return &c
}

// sampleRecordTypes are the record types the sample holds (measured): the parser must walk
// them all.
var sampleRecordTypes = []innodb.RedoRecordType{
	innodb.Mlog1Byte, innodb.Mlog2Bytes, innodb.Mlog4Bytes, innodb.Mlog8Bytes, innodb.MlogRecSecDeleteMark,
	innodb.MlogUndoInsert, innodb.MlogUndoInit, innodb.MlogUndoHdrReuse, innodb.MlogUndoHdrCreate,
	innodb.MlogWriteString, innodb.MlogMultiRecEnd, innodb.MlogFileCreate, innodb.MlogFileRename,
	innodb.MlogFileDelete, innodb.MlogCompPageCreate, innodb.MlogZipWriteBlobPtr, innodb.MlogZipWriteHeader,
	innodb.MlogZipPageCompress, innodb.MlogCompPageCreateRtree, innodb.MlogInitFilePage2, innodb.MlogIndexLoad,
	innodb.MlogTableDynamicMeta, innodb.MlogCompPageCreateSDI, innodb.MlogFileExtend, innodb.MlogRecInsert,
	innodb.MlogRecClustDeleteMark, innodb.MlogRecDelete, innodb.MlogRecUpdateInPlace,
}

func TestRedoSampleWalks(t *testing.T) {
	c := loadRedoSample(t)
	if f := redoFormat(t, c); f != innodb.RedoFormat {
		t.Fatalf("sample format %d", f)
	}
	counts, groups := walkRedo(t, c, c.EndLSN)
	t.Logf("%d groups: %v", groups, counts)
	for _, typ := range sampleRecordTypes {
		if counts[typ] == 0 {
			t.Errorf("no %v record in the sample", typ)
		}
	}
	if innodb.WritingSeeds() {
		writeRedoGroupSeeds(t, c)
		writeRedoWalkerSeeds(t, c)
	}
}

// TestRedoSampleStopsAtEveryEnd walks the sample to ends that fall inside groups: the walk
// must stop at the last group boundary before each end, report nothing after it and not fail.
func TestRedoSampleStopsAtEveryEnd(t *testing.T) {
	c := loadRedoSample(t)
	bounds := groupBounds(t, c)
	for _, end := range []uint64{c.StartLSN + 1, c.StartLSN + 700, (c.StartLSN + c.EndLSN) / 2, c.EndLSN - 1} {
		for end%innodb.RedoBlockSize < innodb.RedoBlockHeaderSize || end%innodb.RedoBlockSize >= innodb.RedoBlockSize-innodb.RedoBlockTrailerSize {
			end++
		}
		want := c.StartLSN
		for _, b := range bounds {
			if b <= end {
				want = b
			}
		}
		var last uint64
		upTo, err := innodb.ChangedPages(bytes.NewReader(c.Blocks), innodb.RedoFormat, c.FirstBlockLSN, c.StartLSN, end,
			innodb.RedoParseOptions{}, innodb.RedoChangeHandler{Page: func(_, _ uint32, lsn uint64) { last = max(last, lsn) }})
		if err != nil || upTo != want || last > want {
			t.Errorf("walk to %d: parsed up to %d (newest page lsn %d), %v; want %d, nil", end, upTo, last, err, want)
		}
	}
}

// groupBounds returns the end LSN of every group of the sample.
func groupBounds(t *testing.T, c *capturedRedo) []uint64 {
	w, err := innodb.NewRedoWalker(bytes.NewReader(c.Blocks), innodb.RedoFormat, c.FirstBlockLSN, c.StartLSN, c.EndLSN, innodb.RedoParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ends []uint64
	for {
		g, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if g == nil {
			return ends
		}
		ends = append(ends, g.EndLSN)
	}
}

// TestRedoSampleUntrusted damages copies of the real redo and checks that the walk fails with a
// typed error naming where the untrusted range starts (the start of the group that needs the
// damaged bytes), that it reports no page changed after that LSN, and that it says it parsed
// exactly up to there.
func TestRedoSampleUntrusted(t *testing.T) {
	c := loadRedoSample(t)
	mid := findGroup(t, c, func(g *innodb.RedoGroup) bool { return g.StartLSN > (c.StartLSN+c.EndLSN)/2 })
	insert := findGroup(t, c, func(g *innodb.RedoGroup) bool {
		for _, r := range g.Records {
			if r.Type == innodb.MlogRecInsert && r.Space < 0x80 && r.Page < 0x80 && g.StartLSN > mid.StartLSN {
				return true
			}
		}
		return false
	})
	midBlock := mid.StartLSN / innodb.RedoBlockSize * innodb.RedoBlockSize
	bounds := groupBounds(t, c)
	// lastBound is where the trust of a walk that cannot read past lsn ends: the end of the
	// last group that lies before it.
	lastBound := func(lsn uint64) uint64 {
		at := c.StartLSN
		for _, b := range bounds {
			if b <= lsn {
				at = b
			}
		}
		return at
	}
	tests := []struct {
		name   string
		damage func(blocks []byte)
		class  error
		want   uint64 // where the untrusted range starts
		reason string
	}{
		{"byte flipped, checksum left", func(b []byte) { b[midBlock-c.FirstBlockLSN+100] ^= 0x10 },
			innodb.ErrRedoBlock, lastBound(midBlock + innodb.RedoBlockHeaderSize), "bad checksum"},
		{"unknown type 3", func(b []byte) { setByte(c, b, mid.StartLSN, byteAt(c, mid.StartLSN)&0x80|3) },
			innodb.ErrRedoUnknownRecord, mid.StartLSN, "record type 3"},
		{"MLOG_TEST", func(b []byte) { setByte(c, b, mid.StartLSN, byteAt(c, mid.StartLSN)&0x80|66) },
			innodb.ErrRedoUnknownRecord, mid.StartLSN, "record type 66"},
		{"index log version 2", func(b []byte) { setByte(c, b, recordStart(t, insert, innodb.MlogRecInsert)+3, 2) },
			innodb.ErrRedoMalformed, insert.StartLSN, "index log version 2"},
		{"encrypted block", func(b []byte) { setDataLen(c, b, midBlock, 0x8000|512) },
			innodb.ErrRedoEncrypted, lastBound(midBlock + innodb.RedoBlockHeaderSize), "innodb_redo_log_encrypt"},
		{"log ends early", func(b []byte) { setDataLen(c, b, midBlock, 300) },
			innodb.ErrRedoBlock, lastBound(midBlock + 300), "the log ends at lsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks := bytes.Clone(c.Blocks)
			tc.damage(blocks)
			var newest uint64
			upTo, err := innodb.ChangedPages(bytes.NewReader(blocks), innodb.RedoFormat, c.FirstBlockLSN, c.StartLSN, c.EndLSN,
				innodb.RedoParseOptions{}, innodb.RedoChangeHandler{Page: func(_, _ uint32, lsn uint64) { newest = max(newest, lsn) }})
			var perr *innodb.RedoParseError
			if !errors.As(err, &perr) || !errors.Is(err, tc.class) {
				t.Fatalf("error %v, want a *RedoParseError of class %v", err, tc.class)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			if perr.LSN != tc.want || upTo != tc.want || tc.want <= c.StartLSN {
				t.Errorf("untrusted from %d, parsed up to %d; want both %d (after the start %d)", perr.LSN, upTo, tc.want, c.StartLSN)
			}
			if newest > upTo {
				t.Errorf("a page was reported at lsn %d, after the untrusted range starts at %d", newest, upTo)
			}
		})
	}
}

func TestRedoWalkerRefusesUnknownFormats(t *testing.T) {
	for _, format := range []uint32{0, 4, 5, 7} {
		_, err := innodb.NewRedoWalker(bytes.NewReader(nil), format, 2048, 2060, 2060, innodb.RedoParseOptions{})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("redo log format %d is not supported", format)) {
			t.Errorf("format %d: %v", format, err)
		}
	}
}

// findGroup returns the first group of the sample for which match is true.
func findGroup(t *testing.T, c *capturedRedo, match func(*innodb.RedoGroup) bool) *innodb.RedoGroup {
	t.Helper()
	w, err := innodb.NewRedoWalker(bytes.NewReader(c.Blocks), innodb.RedoFormat, c.FirstBlockLSN, c.StartLSN, c.EndLSN, innodb.RedoParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		g, err := w.Next()
		if err != nil || g == nil {
			t.Fatalf("no matching group (%v)", err)
		}
		if match(g) {
			return g
		}
	}
}

// recordStart returns the LSN of the first record of type typ in g.
func recordStart(t *testing.T, g *innodb.RedoGroup, typ innodb.RedoRecordType) uint64 {
	for _, r := range g.Records {
		if r.Type == typ {
			return r.StartLSN
		}
	}
	t.Fatalf("group at %d has no %v", g.StartLSN, typ)
	return 0
}

func byteAt(c *capturedRedo, lsn uint64) byte { return c.Blocks[lsn-c.FirstBlockLSN] }

// setByte changes the byte at lsn and fixes its block's checksum, as a bug or a forger would.
func setByte(c *capturedRedo, blocks []byte, lsn uint64, v byte) {
	blocks[lsn-c.FirstBlockLSN] = v
	blk := (lsn - c.FirstBlockLSN) / innodb.RedoBlockSize * innodb.RedoBlockSize
	innodb.SetRedoBlockChecksum(blocks[blk : blk+innodb.RedoBlockSize])
}

func setDataLen(c *capturedRedo, blocks []byte, blockLSN uint64, v uint16) {
	b := blocks[blockLSN-c.FirstBlockLSN:][:innodb.RedoBlockSize]
	b[4], b[5] = byte(v>>8), byte(v)
	innodb.SetRedoBlockChecksum(b)
}

// redoPayload returns the record bytes of c between two LSNs, block headers and trailers left
// out.
func redoPayload(c *capturedRedo, from, to uint64) []byte {
	var out []byte
	for lsn := from; lsn < to; {
		off := lsn % innodb.RedoBlockSize
		switch {
		case off < innodb.RedoBlockHeaderSize:
			lsn += innodb.RedoBlockHeaderSize - off
			continue
		case off >= innodb.RedoBlockSize-innodb.RedoBlockTrailerSize:
			lsn += innodb.RedoBlockSize - off
			continue
		}
		end := min(lsn-off+innodb.RedoBlockSize-innodb.RedoBlockTrailerSize, to)
		out = append(out, c.Blocks[lsn-c.FirstBlockLSN:end-c.FirstBlockLSN]...)
		lsn = end
	}
	return out
}

// writeRedoGroupSeeds adds, for every record type of the sample, the record bytes of the first
// group holding it and the two groups after it to the corpus of FuzzParseRedoGroups.
func writeRedoGroupSeeds(t *testing.T, c *capturedRedo) {
	bounds := append([]uint64{c.StartLSN}, groupBounds(t, c)...)
	seen := map[innodb.RedoRecordType]bool{}
	for i := 0; i+1 < len(bounds); i++ {
		g := findGroup(t, c, func(g *innodb.RedoGroup) bool { return g.StartLSN == bounds[i] })
		for _, r := range g.Records {
			if seen[r.Type] {
				continue
			}
			seen[r.Type] = true
			end := bounds[min(i+3, len(bounds)-1)]
			name := "real-" + strings.ToLower(strings.TrimPrefix(r.Type.String(), "MLOG_"))
			innodb.WriteSeed(t, "FuzzParseRedoGroups", name, redoPayload(c, bounds[i], end))
		}
	}
}

// writeRedoWalkerSeeds adds windows of three real blocks, walked from a group start in the first
// to somewhere in the last, to the corpus of FuzzRedoWalker.
func writeRedoWalkerSeeds(t *testing.T, c *capturedRedo) {
	bounds := groupBounds(t, c)
	for i, at := range []int{0, len(bounds) / 3, len(bounds) / 2, len(bounds) - 2} {
		start := bounds[at]
		blockLSN := start / innodb.RedoBlockSize * innodb.RedoBlockSize
		window := c.Blocks[blockLSN-c.FirstBlockLSN:][:min(3*innodb.RedoBlockSize, int(uint64(len(c.Blocks))-(blockLSN-c.FirstBlockLSN)))]
		span := min(uint32(2*innodb.RedoBlockSize+100), uint32(c.EndLSN-start))
		innodb.WriteSeed(t, "FuzzRedoWalker", fmt.Sprintf("real-window-%d", i), window, blockLSN, uint32(start-blockLSN-innodb.RedoBlockHeaderSize), span)
	}
}

// BenchmarkChangedPages measures the parser over the committed sample (bytes are LSN bytes,
// block headers and trailers included).
func BenchmarkChangedPages(b *testing.B) {
	c := loadRedoSample(b)
	b.SetBytes(int64(c.EndLSN - c.StartLSN))
	pages := 0
	h := innodb.RedoChangeHandler{Page: func(_, _ uint32, _ uint64) { pages++ }}
	for b.Loop() {
		if _, err := innodb.ChangedPages(bytes.NewReader(c.Blocks), innodb.RedoFormat, c.FirstBlockLSN, c.StartLSN, c.EndLSN, innodb.RedoParseOptions{}, h); err != nil {
			b.Fatal(err)
		}
	}
}
