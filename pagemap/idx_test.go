package pagemap

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadIdx(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		entries uint64
		want    *PageSet
	}{
		{"empty", nil, 0, NewPageSet()},
		{"one", idxBytes(1, 2), 1, setOf(1, 2)},
		{"duplicates and order", idxBytes(5, 9, 5, 9, 1, 0, 5, 8, 5, 9, 1, 0, 0, 0xFFFFFFFF), 7,
			setOf(5, 9, 1, 0, 5, 8, 0, 0xFFFFFFFF)},
		{"big-endian", []byte{0, 0, 1, 0, 0, 0, 0, 2}, 1, setOf(256, 2)},
		{"extreme ids", idxBytes(0xFFFFFFFF, 0xFFFFFFFF, 0, 0), 2, setOf(0xFFFFFFFF, 0xFFFFFFFF, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readers := map[string]io.Reader{
				"whole":    bytes.NewReader(tt.data),
				"one byte": iotest.OneByteReader(bytes.NewReader(tt.data)),
				"data+EOF": iotest.DataErrReader(bytes.NewReader(tt.data)),
			}
			for rn, r := range readers {
				s := NewPageSet()
				n, err := ReadIdx(r, s)
				if err != nil || n != tt.entries {
					t.Fatalf("%s: ReadIdx = %d, %v; want %d entries", rn, n, err, tt.entries)
				}
				if !s.Equal(tt.want) {
					t.Fatalf("%s: set = %s, want %s", rn, s, tt.want)
				}
			}
		})
	}
}

func TestReadIdxAddsToExistingSet(t *testing.T) {
	s := setOf(1, 1)
	if _, err := ReadIdx(bytes.NewReader(idxBytes(1, 2, 2, 2)), s); err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "{1:1-2 2:2}" {
		t.Fatalf("set = %s", got)
	}
}

func TestReadIdxPartialEntry(t *testing.T) {
	for _, extra := range []int{1, 4, 7} {
		data := append(idxBytes(1, 1, 2, 2, 3, 3), make([]byte, extra)...)
		s := NewPageSet()
		n, err := ReadIdx(iotest.HalfReader(bytes.NewReader(data)), s)
		if !errors.Is(err, ErrPartialEntry) {
			t.Fatalf("%d extra bytes: err = %v, want ErrPartialEntry", extra, err)
		}
		if !strings.Contains(err.Error(), "offset 24") {
			t.Errorf("error does not name offset 24: %v", err)
		}
		if n != 3 || s.String() != "{1:1 2:2 3:3}" {
			t.Errorf("%d extra bytes: read %d entries into %s", extra, n, s)
		}
	}
}

func TestReadIdxReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(idxBytes(1, 1, 2)), iotest.ErrReader(boom))
	s := NewPageSet()
	n, err := ReadIdx(r, s)
	if !errors.Is(err, boom) || n != 1 || !s.Equal(setOf(1, 1)) {
		t.Fatalf("ReadIdx = %d, %v, %s", n, err, s)
	}
}

func TestReadIdxBatches(t *testing.T) {
	// More entries than one batch, in random chunk order (sorted batches) and in sequential
	// order (unsorted batches), against the generator's exact set.
	for _, g := range []*idxGen{newIdxGen(7, 60000, 2, 1, 0), newIdxGen(3, 100000, 2, 64, 0.9)} {
		s := NewPageSet()
		n, err := ReadIdx(g, s)
		if err != nil || n != g.Entries() {
			t.Fatalf("ReadIdx = %d, %v; want %d", n, err, g.Entries())
		}
		if !s.Equal(g.Expected()) {
			t.Fatal("set differs from the generated pages")
		}
	}
}

func TestRadixSortChunks(t *testing.T) {
	keys := []uint64{5<<32 | 0x30001, 1<<32 | 0x20000, 5<<32 | 0x30000, 1<<32 | 0x10005, 1<<32 | 0x10001, 0xFFFF_FFFF_0000_0000, 7}
	got := radixSortChunks(keys, make([]uint64, len(keys)))
	want := []uint64{7, 1<<32 | 0x10005, 1<<32 | 0x10001, 1<<32 | 0x20000, 5<<32 | 0x30001, 5<<32 | 0x30000, 0xFFFF_FFFF_0000_0000}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted = %x, want %x (stable within a chunk)", got, want)
		}
	}
}

// TestReadIdxHeap feeds 10 M entries, 1 M distinct pages over 20 spaces each repeated 10
// times, through ReadIdx from a generator and checks that the finished set is exact and holds
// only a few MB.
func TestReadIdxHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("10 M entries")
	}
	g := newIdxGen(20, 50000, 10, 64, 0.8)
	if g.Entries() != 10_000_000 || g.Distinct() != 1_000_000 {
		t.Fatalf("generator makes %d entries of %d pages", g.Entries(), g.Distinct())
	}
	before := heapAlloc()
	began := time.Now()
	s := NewPageSet()
	n, err := ReadIdx(g, s)
	took := time.Since(began)
	after := heapAlloc()
	if err != nil || n != g.Entries() {
		t.Fatalf("ReadIdx = %d, %v", n, err)
	}
	if got := s.Len(); got != g.Distinct() {
		t.Fatalf("distinct pages = %d, want %d", got, g.Distinct())
	}
	growth := int64(after) - int64(before)
	t.Logf("10 M entries in %v; heap grew %.2f MB for %d pages (roaring estimate %.2f MB)",
		took, float64(growth)/(1<<20), s.Len(), float64(s.SizeInBytes())/(1<<20))
	if growth > 8<<20 {
		t.Errorf("heap grew %d bytes, want at most 8 MB", growth)
	}
	runtime.KeepAlive(s)
	if !s.Equal(g.Expected()) {
		t.Fatal("set differs from the generated pages")
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
