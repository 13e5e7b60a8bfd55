package pagemap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseBitmapFileName(t *testing.T) {
	tests := []struct {
		path string
		want BitmapFile
		ok   bool
	}{
		{"ib_modified_log_1_0.xdb", BitmapFile{"ib_modified_log_1_0.xdb", 1, 0}, true},
		{"/var/lib/mysql/ib_modified_log_12_3456789.xdb", BitmapFile{"/var/lib/mysql/ib_modified_log_12_3456789.xdb", 12, 3456789}, true},
		{"ib_modified_log_18446744073709551615_18446744073709551615.xdb", BitmapFile{"ib_modified_log_18446744073709551615_18446744073709551615.xdb", 1<<64 - 1, 1<<64 - 1}, true},
		{"ib_modified_log_18446744073709551616_1.xdb", BitmapFile{}, false}, // overflow
		{"ib_modified_log_1_.xdb", BitmapFile{}, false},
		{"ib_modified_log__1.xdb", BitmapFile{}, false},
		{"ib_modified_log_1_2_3.xdb", BitmapFile{}, false},
		{"ib_modified_log_+1_2.xdb", BitmapFile{}, false},
		{"ib_modified_log_1_2.xdb.tmp", BitmapFile{}, false},
		{"ib_modified_log_1_2", BitmapFile{}, false},
		{"xib_modified_log_1_2.xdb", BitmapFile{}, false},
		{"ib_modified_log_0x1_2.xdb", BitmapFile{}, false},
		{"ib_logfile0", BitmapFile{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseBitmapFileName(tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseBitmapFileName(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// checksum32 is the checksum as the C code computes it in 32-bit arithmetic, where the sum
// wraps; masking to 31 bits before each step makes the results agree.
func checksum32(block []byte) uint32 {
	sum, sh := uint32(1), uint32(0)
	for i := 0; i < xdbChecksum; i++ {
		b := uint32(block[i])
		sum &= 0x7FFFFFFF
		sum += b
		sum += b << sh
		sh++
		if sh > 24 {
			sh = 0
		}
	}
	return sum
}

func TestBitmapChecksum(t *testing.T) {
	blk := make([]byte, BitmapBlockSize)
	if got := BitmapChecksum(blk); got != 1 {
		t.Fatalf("checksum of zeros = %d, want 1", got)
	}
	blk[0] = 1 // sum = 1 + 1 + 1<<0
	if got := BitmapChecksum(blk); got != 3 {
		t.Fatalf("checksum = %d, want 3", got)
	}
	blk[0], blk[24], blk[25] = 0, 1, 1 // shift 24 at byte 24, back to 0 at byte 25
	if got, want := BitmapChecksum(blk), uint32(1+1+1<<24+1+1); got != want {
		t.Fatalf("checksum = %d, want %d", got, want)
	}
	blk[xdbChecksum] = 0xFF // the checksum field is not covered
	if got, want := BitmapChecksum(blk), uint32(1+1+1<<24+1+1); got != want {
		t.Fatalf("checksum covers its own field: %d", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		for i := range blk {
			blk[i] = byte(rng.Uint32())
		}
		if a, b := BitmapChecksum(blk), checksum32(blk); a != b {
			t.Fatalf("checksum %#x, 32-bit reference %#x", a, b)
		}
	}
	for i := range blk {
		blk[i] = 0xFF
	}
	if a, b := BitmapChecksum(blk), checksum32(blk); a != b {
		t.Fatalf("all ones: checksum %#x, 32-bit reference %#x", a, b)
	}
}

// TestBitOrder pins the bit order with hand-made bytes rather than the test encoder.
func TestBitOrder(t *testing.T) {
	blk := make([]byte, BitmapBlockSize)
	binary.BigEndian.PutUint32(blk[xdbIsLast:], 1)
	binary.BigEndian.PutUint64(blk[xdbStartLSN:], 100)
	binary.BigEndian.PutUint64(blk[xdbEndLSN:], 200)
	binary.BigEndian.PutUint32(blk[xdbSpace:], 7)
	binary.BigEndian.PutUint32(blk[xdbFirstPage:], 2*BitmapBlockPages)
	blk[32] = 0x01   // bit 0: the first page
	blk[33] = 0x80   // bit 15
	blk[4087] = 0x80 // the very last bit, 32,447
	setBlockChecksum(blk)
	s := NewPageSet()
	if _, err := ReadBitmapStream(bytes.NewReader(blk), 100, 200, s); err != nil {
		t.Fatal(err)
	}
	f := uint32(2 * BitmapBlockPages)
	if want := setOf(7, f, 7, f+15, 7, f+BitmapBlockPages-1); !s.Equal(want) {
		t.Fatalf("pages = %s, want %s", s, want)
	}
}

func TestEncoderBlocks(t *testing.T) {
	// Pages on both sides of block boundaries, in two spaces, give one block per slice.
	s := setOf(5, 0, 5, 32447, 5, 32448, 5, 64895, 5, 64896, 5, 100000, 2, 1)
	var firsts []string
	for _, b := range runBlocks(s, 1, 2) {
		firsts = append(firsts, fmt.Sprintf("%d/%d/%v", b.space, b.first, b.last))
	}
	want := []string{"2/0/false", "5/0/false", "5/32448/false", "5/64896/false", "5/97344/true"}
	if !slices.Equal(firsts, want) {
		t.Fatalf("blocks = %v, want %v", firsts, want)
	}
}

func pagesRange(space, first, end uint32) *PageSet {
	s := NewPageSet()
	s.AddRange(space, first, end)
	return s
}

func TestReadBitmapStream(t *testing.T) {
	p1 := setOf(1, 1, 1, 2, 2, 70000, 9, 5)
	p2 := setOf(1, 3, 3, 3)
	p3 := setOf(4, 4)
	multi := pagesRange(6, 0, 100)
	multi.Union(pagesRange(6, 32000, 70000)) // spans blocks 0, 32448 and 64896
	multi.Add(6, 1<<31)
	multi.Add(8, 1)
	union := func(sets ...*PageSet) *PageSet {
		u := NewPageSet()
		for _, s := range sets {
			u.Union(s)
		}
		return u
	}
	tests := []struct {
		name       string
		data       []byte
		start, end uint64
		want       *PageSet // nil: an error is expected
		wantErr    error
		covered    []LSNRange
	}{
		{"single interval", encodeRuns(xdbRun{100, 200, p1}), 100, 200, p1, nil, []LSNRange{{100, 200}}},
		{"query inside one interval", encodeRuns(xdbRun{100, 1000, p1}), 300, 400, p1, nil, []LSNRange{{100, 1000}}},
		{"two adjacent intervals", encodeRuns(xdbRun{100, 200, p1}, xdbRun{200, 300, p2}), 100, 300, union(p1, p2), nil, []LSNRange{{100, 300}}},
		{"straddling the boundary", encodeRuns(xdbRun{100, 200, p1}, xdbRun{200, 300, p2}), 150, 250, union(p1, p2), nil, []LSNRange{{100, 300}}},
		{"range starts at a run's end", encodeRuns(xdbRun{100, 200, p1}, xdbRun{200, 300, p2}), 200, 300, p2, nil, []LSNRange{{100, 300}}},
		{"range ends at a run's start: stops early", encodeRuns(xdbRun{100, 200, p1}, xdbRun{200, 300, p2}), 100, 200, p1, nil, []LSNRange{{100, 200}}},
		{"later runs not read", append(encodeRuns(xdbRun{100, 200, p1}), 1, 2, 3), 100, 200, p1, nil, []LSNRange{{100, 200}}},
		{"earlier runs skipped", encodeRuns(xdbRun{10, 100, p3}, xdbRun{100, 200, p1}), 100, 200, p1, nil, []LSNRange{{10, 200}}},
		{"overlapping intervals OR-ed", encodeRuns(xdbRun{100, 250, p1}, xdbRun{200, 300, p2}), 100, 300, union(p1, p2), nil, []LSNRange{{100, 300}}},
		{"overlap out of order", encodeRuns(xdbRun{200, 300, p2}, xdbRun{100, 250, p1}), 100, 300, union(p1, p2), nil, []LSNRange{{100, 300}}},
		{"multi-block space", encodeRuns(xdbRun{1, 2, multi}), 1, 2, multi, nil, []LSNRange{{1, 2}}},
		{"gap", encodeRuns(xdbRun{100, 200, p1}, xdbRun{250, 300, p2}), 100, 300, nil, ErrRangeNotCovered, []LSNRange{{100, 200}, {250, 300}}},
		{"gap outside the range", encodeRuns(xdbRun{100, 200, p1}, xdbRun{250, 300, p2}), 250, 260, p2, nil, []LSNRange{{100, 200}, {250, 300}}},
		{"starts too late", encodeRuns(xdbRun{100, 200, p1}), 50, 150, nil, ErrRangeNotCovered, []LSNRange{{100, 200}}},
		{"ends too early", encodeRuns(xdbRun{100, 200, p1}), 150, 250, nil, ErrRangeNotCovered, []LSNRange{{100, 200}}},
		{"no data", nil, 1, 2, nil, ErrRangeNotCovered, []LSNRange{}},
		{"empty range", nil, 5, 5, NewPageSet(), nil, []LSNRange{}},
		{"incomplete run at the end", encodeRuns(xdbRun{100, 200, p1})[:BitmapBlockSize], 100, 200, nil, ErrRangeNotCovered, []LSNRange{}},
		{"incomplete run then a complete one", append(encodeRuns(xdbRun{100, 150, p1})[:BitmapBlockSize], encodeRuns(xdbRun{100, 200, p2})...), 100, 200, union(setOf(1, 1, 1, 2), p2), nil, []LSNRange{{100, 200}}},
		{"same LSNs restarting is corrupt", append(encodeRuns(xdbRun{100, 200, p1})[:BitmapBlockSize], encodeRuns(xdbRun{100, 200, p2})...), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"truncated block", encodeRuns(xdbRun{100, 200, p1})[:BitmapBlockSize+100], 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"bad checksum", func() []byte { b := encodeRuns(xdbRun{100, 200, p1}); b[BitmapBlockSize+40] ^= 1; return b }(), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"bad checksum before the range", func() []byte {
			b := encodeRuns(xdbRun{10, 100, p3}, xdbRun{100, 200, p1})
			b[40] ^= 1
			return b
		}(), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"last flag 2", editBlock(encodeRuns(xdbRun{100, 200, p3}), 0, func(b []byte) { b[3] = 2 }), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"reversed LSNs", encodeRuns(xdbRun{200, 100, p3}), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"empty interval", encodeRuns(xdbRun{100, 100, p3}), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"first page not aligned", editBlock(encodeRuns(xdbRun{100, 200, p3}), 0, func(b []byte) { b[27] = 1 }), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"blocks out of order", func() []byte {
			blocks := runBlocks(p1, 100, 200)
			blocks[0], blocks[1] = blocks[1], blocks[0]
			var b []byte
			for _, blk := range blocks {
				b = append(b, blk.encode()...)
			}
			return b
		}(), 100, 200, nil, ErrCorrupt, []LSNRange{}},
		{"page beyond 32 bits", editBlock(encodeRuns(xdbRun{100, 200, p3}), 0, func(b []byte) {
			binary.BigEndian.PutUint32(b[xdbFirstPage:], 0xFFFFFFFF/BitmapBlockPages*BitmapBlockPages)
			b[4087] = 0x80
		}), 100, 200, nil, ErrCorrupt, []LSNRange{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setOf(99, 99)
			covered, err := ReadBitmapStream(bytes.NewReader(tt.data), tt.start, tt.end, s)
			if !slices.Equal(covered, tt.covered) && !(len(covered) == 0 && len(tt.covered) == 0) {
				t.Errorf("covered = %v, want %v", covered, tt.covered)
			}
			if tt.want == nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var be *BitmapError
				if !errors.As(err, &be) {
					t.Fatalf("err %v is not a *BitmapError", err)
				}
				if !s.Equal(setOf(99, 99)) {
					t.Fatalf("failed read changed the set to %s", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want.Clone()
			want.Add(99, 99)
			if !s.Equal(want) {
				t.Fatalf("pages = %s, want %s", s, want)
			}
		})
	}
}

// editBlock changes block i of data and fixes its checksum.
func editBlock(data []byte, i int, f func(b []byte)) []byte {
	b := data[i*BitmapBlockSize : (i+1)*BitmapBlockSize]
	f(b)
	setBlockChecksum(b)
	return data
}

func TestBitmapErrorText(t *testing.T) {
	data := encodeRuns(xdbRun{100, 200, setOf(1, 1, 2, 2)})
	data[BitmapBlockSize+50] ^= 1
	_, err := ReadBitmapStream(bytes.NewReader(data), 100, 200, NewPageSet())
	for _, want := range []string{"block at offset 4096", "LSN 100 to 200", "checksum mismatch", "corrupt"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	data = encodeRuns(xdbRun{100, 200, setOf(1, 1)}, xdbRun{300, 400, setOf(1, 1, 2, 2)})
	_, err = ReadBitmapStream(bytes.NewReader(data), 150, 350, NewPageSet())
	var be *BitmapError
	if !errors.As(err, &be) || be.StartLSN != 200 || be.EndLSN != 300 || be.Offset != BitmapBlockSize {
		t.Fatalf("gap error = %#v", err)
	}
	for _, want := range []string{"LSN 200 to 300", "end at LSN 200", "start at LSN 300", "do not cover"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// writeBitmapFiles writes each run into its own file, named as XtraDB would (sequence number
// and the run's start LSN), and returns them.
func writeBitmapFiles(t *testing.T, dir string, runs ...xdbRun) []BitmapFile {
	t.Helper()
	var files []BitmapFile
	for i, r := range runs {
		path := filepath.Join(dir, fmt.Sprintf("ib_modified_log_%d_%d.xdb", i+1, r.start))
		var data []byte
		if r.pages != nil {
			data = encodeRuns(r)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, ok := ParseBitmapFileName(path)
		if !ok {
			t.Fatalf("cannot parse %s", path)
		}
		files = append(files, f)
	}
	return files
}

func TestReadBitmaps(t *testing.T) {
	a, b, c := setOf(1, 1), setOf(2, 2, 2, 40000), setOf(3, 3)
	dir := t.TempDir()
	files := writeBitmapFiles(t, dir, xdbRun{100, 200, a}, xdbRun{200, 300, b}, xdbRun{300, 300, nil}, xdbRun{300, 400, c})
	shuffled := []BitmapFile{files[3], files[0], files[2], files[1]}
	tests := []struct {
		name       string
		start, end uint64
		want       string
	}{
		{"all", 100, 400, "{1:1 2:2,40000 3:3}"},
		{"first file only", 100, 200, "{1:1}"},
		{"middle", 250, 260, "{2:2,40000}"},
		{"across an empty file", 250, 350, "{2:2,40000 3:3}"},
		{"last", 399, 400, "{3:3}"},
		{"empty range", 500, 500, "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPageSet()
			if err := ReadBitmaps(shuffled, tt.start, tt.end, s); err != nil {
				t.Fatal(err)
			}
			if s.String() != tt.want {
				t.Fatalf("pages = %s, want %s", s, tt.want)
			}
		})
	}

	t.Run("skips files outside the range", func(t *testing.T) {
		// A file that would be corrupt is never opened when its LSNs are out of range.
		bad := files[0]
		bad.Path = filepath.Join(dir, "missing")
		s := NewPageSet()
		if err := ReadBitmaps([]BitmapFile{bad, files[1], files[2], files[3]}, 300, 400, s); err != nil {
			t.Fatal(err)
		}
		if s.String() != "{3:3}" {
			t.Fatalf("pages = %s", s)
		}
	})
	t.Run("not covered past the last file", func(t *testing.T) {
		err := ReadBitmaps(files, 100, 500, NewPageSet())
		var be *BitmapError
		if !errors.Is(err, ErrRangeNotCovered) || !errors.As(err, &be) || be.StartLSN != 400 || be.EndLSN != 500 {
			t.Fatalf("err = %v", err)
		}
		if be.Path != files[3].Path || be.Offset != 0 {
			t.Errorf("error names %s offset %d, want the last block read", be.Path, be.Offset)
		}
	})
	t.Run("not covered before the first file", func(t *testing.T) {
		err := ReadBitmaps(files, 50, 150, NewPageSet())
		if !errors.Is(err, ErrRangeNotCovered) || !strings.Contains(err.Error(), "LSN 50 to 100") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing middle file", func(t *testing.T) {
		err := ReadBitmaps([]BitmapFile{files[0], files[3]}, 100, 400, NewPageSet())
		var be *BitmapError
		if !errors.Is(err, ErrRangeNotCovered) || !errors.As(err, &be) || be.StartLSN != 200 || be.EndLSN != 300 {
			t.Fatalf("err = %v", err)
		}
		if be.Path != files[3].Path {
			t.Errorf("error names %s, want %s", be.Path, files[3].Path)
		}
	})
	t.Run("corrupt file", func(t *testing.T) {
		gdir := t.TempDir()
		fs := writeBitmapFiles(t, gdir, xdbRun{100, 200, a}, xdbRun{200, 300, b})
		data, _ := os.ReadFile(fs[1].Path)
		data[BitmapBlockSize+100] ^= 0x10
		if err := os.WriteFile(fs[1].Path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := ReadBitmaps(fs, 100, 300, NewPageSet())
		var be *BitmapError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &be) || be.Path != fs[1].Path || be.Offset != BitmapBlockSize {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), fs[1].Path) {
			t.Errorf("error does not name the file: %v", err)
		}
	})
	t.Run("duplicate sequence numbers", func(t *testing.T) {
		dup := files[1]
		dup.Seq = files[0].Seq
		if err := ReadBitmaps([]BitmapFile{files[0], dup}, 100, 300, NewPageSet()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("start LSNs out of sequence", func(t *testing.T) {
		f0, f1 := files[0], files[1]
		f0.Seq, f1.Seq = 2, 1
		if err := ReadBitmaps([]BitmapFile{f0, f1}, 100, 300, NewPageSet()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("invalid range", func(t *testing.T) {
		if err := ReadBitmaps(files, 2, 1, NewPageSet()); err == nil {
			t.Fatal("no error")
		}
		if _, err := ReadBitmapStream(bytes.NewReader(nil), 2, 1, NewPageSet()); err == nil {
			t.Fatal("no error")
		}
	})
}
