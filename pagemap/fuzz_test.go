package pagemap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// The fuzz targets' seeds live in testdata/fuzz/<FuzzName>/ (go test fuzz v1 files): the
// generated ones below, named seed-*, are rewritten by go test -update and checked otherwise;
// inputs the fuzzer found are committed next to them.

func idxSeeds() map[string][]byte {
	return map[string][]byte{
		"empty":      nil,
		"one":        idxBytes(1, 2),
		"duplicates": idxBytes(5, 9, 5, 9, 1, 0, 5, 8, 5, 9, 1, 0),
		"extremes":   idxBytes(0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF),
		"partial":    append(idxBytes(1, 1, 2, 2), 0, 0, 3),
	}
}

func FuzzReadIdx(f *testing.F) {
	for _, data := range idxSeeds() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewPageSet()
		n, err := ReadIdx(iotest.HalfReader(bytes.NewReader(data)), s)
		if n != uint64(len(data)/IdxEntrySize) {
			t.Fatalf("read %d entries of %d bytes", n, len(data))
		}
		if partial := len(data)%IdxEntrySize != 0; partial != errors.Is(err, ErrPartialEntry) || (!partial && err != nil) {
			t.Fatalf("%d bytes: err = %v", len(data), err)
		}
		want := NewPageSet()
		for i := 0; i+IdxEntrySize <= len(data); i += IdxEntrySize {
			e := idxEntry(data[i:])
			want.Add(e[0], e[1])
		}
		if !s.Equal(want) {
			t.Fatalf("set = %s, want %s", s, want)
		}
	})
}

func idxEntry(b []byte) [2]uint32 {
	return [2]uint32{uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
		uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])}
}

// pageSetSeeds are small on purpose: the fuzzer minimizes every new input byte by byte, and an
// 8 KiB roaring bitmap container in a seed stalls it for most of a 20 s run. Bitmap containers
// are covered by TestMarshalGolden and TestUnmarshalGarbage instead.
func pageSetSeeds(t testing.TB) map[string][]byte {
	sets := map[string]*PageSet{
		"empty": NewPageSet(),
		"one":   setOf(1, 1),
		"two":   setOf(1, 1, 2, 1),
		"run":   pagesRange(3, 10, 5000),
		"runs": func() *PageSet {
			s := NewPageSet()
			s.AddRange(4, 0, 3000)
			s.AddRange(4, 3001, 6000)
			s.Add(4, 7000)
			return s
		}(),
		"mixed": newIdxGen(2, 300, 1, 16, 0.5).Expected(),
	}
	seeds := make(map[string][]byte, len(sets))
	for name, s := range sets {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}
	seeds["garbage"] = []byte("PTPS\x01\x00\x00\x00\x01\x00\x00\x00junkjunkjunkjunkjunk")
	return seeds
}

func FuzzUnmarshalPageSet(f *testing.F) {
	for _, data := range pageSetSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnmarshal(t, data)
		// Most mutations break the checksum; check the decoder behind it too.
		if len(data) >= setHeaderLen+setTrailerLen {
			checkUnmarshal(t, reseal(bytes.Clone(data)))
		}
	})
}

func checkUnmarshal(t *testing.T, data []byte) {
	s := setOf(6, 6)
	if err := s.UnmarshalBinary(data); err != nil {
		if !errors.Is(err, ErrBadPageSet) {
			t.Fatalf("error %v does not wrap ErrBadPageSet", err)
		}
		if !s.Equal(setOf(6, 6)) {
			t.Fatalf("failed UnmarshalBinary changed the set")
		}
		return
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data) {
		t.Fatalf("accepted a non-canonical encoding:\n in  %x\n out %x", data, b)
	}
	var again PageSet
	if err := again.UnmarshalBinary(b); err != nil || !again.Equal(s) {
		t.Fatalf("round trip: %v", err)
	}
	var n uint64
	for _, space := range s.Spaces() {
		if s.SpaceLen(space) == 0 {
			t.Fatalf("empty space %d decoded", space)
		}
		for _, r := range s.Runs(space) {
			n += uint64(r.Count)
		}
	}
	if n != s.Len() {
		t.Fatalf("runs hold %d pages, Len = %d", n, s.Len())
	}
}

type bitmapSeed struct {
	data       []byte // a compact stream (see expandCompact), or a raw one if its first byte is 'R'
	start, end uint64
}

func bitmapSeeds() map[string]bitmapSeed {
	// Pages in the first and last 64 bits of their blocks, which compact inputs can express.
	last := uint32(BitmapBlockPages - 1)
	p1, p2 := setOf(1, 1, 1, 2, 2, 2*BitmapBlockPages+last), setOf(1, 3, 7, last)
	c := func(runs ...xdbRun) []byte { return compactOf(encodeRuns(runs...)) }
	return map[string]bitmapSeed{
		"single":    {c(xdbRun{100, 200, p1}), 100, 200},
		"adjacent":  {c(xdbRun{100, 200, p2}, xdbRun{200, 300, p2}), 150, 300},
		"overlap":   {c(xdbRun{100, 250, p2}, xdbRun{200, 300, p1}), 100, 300},
		"gap":       {c(xdbRun{100, 200, p2}, xdbRun{250, 300, p2}), 100, 300},
		"truncated": {c(xdbRun{100, 200, p1})[:compactChunk+20], 100, 200},
		"empty":     {nil, 0, 10},
		// Raw seeds stay short: a whole 4 KiB block would stall the fuzzer minimizing it.
		"raw": {append([]byte("R"), encodeRuns(xdbRun{100, 200, setOf(1, 1)})[:64]...), 100, 200},
	}
}

// FuzzReadBitmapStream feeds ReadBitmapStream streams of blocks described compactly (see
// expandCompact), or raw bytes after an 'R'.
func FuzzReadBitmapStream(f *testing.F) {
	for _, s := range bitmapSeeds() {
		f.Add(s.data, s.start, s.end)
	}
	f.Fuzz(func(t *testing.T, data []byte, start, end uint64) {
		var stream []byte
		if raw, ok := bytes.CutPrefix(data, []byte("R")); ok {
			stream = raw
		} else {
			stream = expandCompact(data)
		}
		checkBitmapStream(t, stream, start, end)
		// Most inputs break a checksum; check what lies behind it too.
		if len(stream) >= BitmapBlockSize {
			checkBitmapStream(t, fixChecksums(bytes.Clone(stream)), start, end)
		}
	})
}

func checkBitmapStream(t *testing.T, data []byte, start, end uint64) {
	before := setOf(0xFFFFFFF0, 1)
	s := before.Clone()
	covered, err := ReadBitmapStream(iotest.HalfReader(bytes.NewReader(data)), start, end, s)
	for i, c := range covered {
		if c.Start >= c.End || (i > 0 && c.Start <= covered[i-1].End) {
			t.Fatalf("covered ranges not merged and ascending: %v", covered)
		}
	}
	contains := false
	for _, c := range covered {
		contains = contains || c.Start <= start && end <= c.End
	}
	if err != nil {
		if start <= end && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrRangeNotCovered) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Is(err, ErrRangeNotCovered) && contains {
			t.Fatalf("range [%d, %d) not covered, but covered = %v", start, end, covered)
		}
		if !s.Equal(before) {
			t.Fatal("failed read changed the set")
		}
		return
	}
	if start > end || (start < end && !contains) {
		t.Fatalf("range [%d, %d) accepted with covered = %v", start, end, covered)
	}
	added := s.Clone()
	added.Subtract(before)
	outside := added.Clone()
	outside.Subtract(bitsOf(data))
	if outside.Len() != 0 {
		t.Fatalf("added pages no block holds: %s", outside)
	}
}

// TestFuzzSeedCorpus keeps the committed seed files in testdata/fuzz in step with the seeds
// above (go test -update rewrites them).
func TestFuzzSeedCorpus(t *testing.T) {
	files := map[string]string{}
	for name, data := range idxSeeds() {
		files["FuzzReadIdx/seed-"+name] = fuzzFile(data)
	}
	for name, data := range pageSetSeeds(t) {
		files["FuzzUnmarshalPageSet/seed-"+name] = fuzzFile(data)
	}
	for name, s := range bitmapSeeds() {
		files["FuzzReadBitmapStream/seed-"+name] = fuzzFile(s.data, s.start, s.end)
	}
	for name, content := range files {
		path := filepath.Join("testdata", "fuzz", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("%s is missing or stale (run go test -update): %v", path, err)
		}
	}
}

// fuzzFile formats a corpus entry in the "go test fuzz v1" encoding.
func fuzzFile(args ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		default:
			panic(fmt.Sprintf("fuzzFile: %T", a))
		}
	}
	return b.String()
}

// TestCompactSeeds checks that the compact bitmap seeds expand to what they claim, so the
// fuzzer starts from streams that reach the interesting code.
func TestCompactSeeds(t *testing.T) {
	want := map[string]error{"single": nil, "adjacent": nil, "overlap": nil, "gap": ErrRangeNotCovered, "truncated": ErrCorrupt, "empty": ErrRangeNotCovered}
	for name, s := range bitmapSeeds() {
		wantErr, ok := want[name]
		if !ok {
			continue
		}
		stream := fixChecksums(expandCompact(s.data))
		s2 := NewPageSet()
		_, err := ReadBitmapStream(bytes.NewReader(stream), s.start, s.end, s2)
		if !errors.Is(err, wantErr) || (err == nil && s2.Len() == 0) {
			t.Errorf("%s: err = %v, %d pages", name, err, s2.Len())
		}
	}
	c := compactOf(encodeRuns(xdbRun{1, 2, setOf(3, 0, 3, BitmapBlockPages-1)}))
	if got := fixChecksums(expandCompact(c)); !bytes.Equal(got, encodeRuns(xdbRun{1, 2, setOf(3, 0, 3, BitmapBlockPages-1)})) {
		t.Error("expandCompact(compactOf(x)) != x")
	}
}
