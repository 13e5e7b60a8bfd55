package pagemap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
)

// goldenSet exercises every roaring container kind: arrays (scattered pages), bitmaps (dense
// but not contiguous), runs (contiguous), several containers per space, the extreme space and
// page numbers.
func goldenSet() *PageSet {
	s := NewPageSet()
	s.Add(0, 0)
	s.Add(0, 3)
	s.AddRange(1, 100, 5000)
	for p := uint32(70000); p < 70000+20000; p += 2 {
		s.Add(2, p) // 10,000 pages in one 64 Ki chunk: a bitmap container
	}
	for p := uint32(1); p < 1<<24; p += 99991 {
		s.Add(3, p)
	}
	s.AddRange(math.MaxUint32, math.MaxUint32-10, math.MaxUint32)
	s.Add(math.MaxUint32, math.MaxUint32)
	return s
}

func TestMarshalGolden(t *testing.T) {
	s := goldenSet()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := golden(t, "pageset-v1.golden", b)
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary differs from testdata/pageset-v1.golden (%d vs %d bytes); the format is stable: bump the version instead", len(b), len(want))
	}
	var got PageSet
	if err := got.UnmarshalBinary(want); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(s) {
		t.Fatalf("golden decodes to %s", &got)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		set  *PageSet
	}{
		{"empty", NewPageSet()},
		{"one page", setOf(5, 5)},
		{"one run", func() *PageSet { s := NewPageSet(); s.AddRange(1, 10, 20); return s }()},
		{"golden", goldenSet()},
		{"after subtract", func() *PageSet { s := goldenSet(); s.Subtract(setOf(1, 200, 0, 0)); return s }()},
		{"generated", newIdxGen(3, 5000, 1, 64, 0.5).Expected()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.set.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got := setOf(9, 9) // Unmarshal replaces existing contents
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.set) {
				t.Fatalf("round trip: got %s, want %s", got, tt.set)
			}
			// Canonical: the same set, built differently, encodes identically.
			c := NewPageSet()
			tt.set.Each(func(space, page uint32) bool { c.Add(space, page); return true })
			b2, err := c.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatal("equal sets encode differently")
			}
			got.Add(1, 1) // the decoded set is usable
		})
	}
}

// reseal recomputes the trailing checksum of a serialized set.
func reseal(b []byte) []byte {
	if len(b) >= setHeaderLen+setTrailerLen {
		body := b[:len(b)-setTrailerLen]
		binary.LittleEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	}
	return b
}

func TestUnmarshalGarbage(t *testing.T) {
	good, err := goldenSet().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := NewPageSet().MarshalBinary()
	one, _ := setOf(1, 1).MarshalBinary() // header, space 1, 18-byte bitmap, checksum
	edit := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"short", []byte("PTPS")},
		{"bad magic", edit(empty, func(b []byte) []byte { b[0] = 'X'; return reseal(b) })},
		{"version 2", edit(empty, func(b []byte) []byte { b[4] = 2; return reseal(b) })},
		{"flags", edit(empty, func(b []byte) []byte { b[6] = 1; return reseal(b) })},
		{"checksum", edit(good, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"flipped bit", edit(good, func(b []byte) []byte { b[40] ^= 4; return b })},
		{"cardinality resealed", edit(one, func(b []byte) []byte { b[setHeaderLen+8+10] ^= 4; return reseal(b) })},
		{"offset resealed", edit(one, func(b []byte) []byte { b[setHeaderLen+8+12] ^= 1; return reseal(b) })},
		{"truncated", good[:len(good)-9]},
		{"truncated resealed", edit(good[:len(good)-9], reseal)},
		{"extra byte", edit(append(bytes.Clone(good[:len(good)-4]), 0, 0, 0, 0, 0), reseal)},
		{"huge space count", edit(empty, func(b []byte) []byte { b[8], b[11] = 0xFF, 0x7F; return reseal(b) })},
		{"count too high", edit(one, func(b []byte) []byte { b[8] = 2; return reseal(b) })},
		{"count too low", edit(one, func(b []byte) []byte { b[8] = 0; return reseal(b) })},
		{"bitmap length too long", edit(one, func(b []byte) []byte { b[16] = 200; return reseal(b) })},
		{"bitmap length short", edit(one, func(b []byte) []byte { b[16]--; return reseal(b) })},
		{"unsorted spaces", edit(twoSpaces(t), func(b []byte) []byte {
			b[12], b[12+8+18] = 2, 1 // swap the space ids 1 and 2
			return reseal(b)
		})},
		{"duplicate spaces", edit(twoSpaces(t), func(b []byte) []byte { b[12+8+18] = 1; return reseal(b) })},
		{"empty bitmap", edit(empty, func(b []byte) []byte {
			b = b[:setHeaderLen]
			b[8] = 1
			b = binary.LittleEndian.AppendUint32(b, 7)
			b = binary.LittleEndian.AppendUint32(b, 8)
			b = append(b, 0x3A, 0x30, 0, 0, 0, 0, 0, 0) // roaring: no containers
			return reseal(append(b, 0, 0, 0, 0))
		})},
		{"bitmap container cardinality", edit(bitmapSpace(t), func(b []byte) []byte { b[setHeaderLen+8+10]++; return reseal(b) })},
		{"bitmap container bit flipped", edit(bitmapSpace(t), func(b []byte) []byte { b[setHeaderLen+8+16+100] ^= 2; return reseal(b) })},
		{"bitmap container too sparse", edit(bitmapSpace(t), func(b []byte) []byte {
			// Clear bits until 4096 remain: a valid bitmap container, but an array is canonical.
			blob := b[setHeaderLen+8+16:]
			for i := 0; i < 904/4; i++ {
				blob[i] = 0
			}
			binary.LittleEndian.PutUint16(b[setHeaderLen+8+10:], 4096-1)
			return reseal(b)
		})},
		{"non-canonical array", edit(one, func(b []byte) []byte {
			// Re-encode page 1 of space 1 as pages {1, 0}: an unsorted array container.
			b = b[:setHeaderLen+8]
			b[16] = 20
			b = append(b, 0x3B, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 1, 0, 0, 0)
			return reseal(append(b, 0, 0, 0, 0))
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setOf(4, 4)
			err := s.UnmarshalBinary(tt.data)
			if !errors.Is(err, ErrBadPageSet) {
				t.Fatalf("err = %v, want ErrBadPageSet", err)
			}
			if s.String() != "{4:4}" {
				t.Fatalf("failed UnmarshalBinary changed the set to %s", s)
			}
		})
	}
}

// bitmapSpace encodes one space whose 5000 even pages below 10,000 form a bitmap container:
// header, space record, roaring cookie and count (8), key and cardinality (4), offset (4),
// then 8 KiB of bits, each byte 0x55.
func bitmapSpace(t *testing.T) []byte {
	s := NewPageSet()
	for p := uint32(0); p < 10000; p += 2 {
		s.Add(1, p)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != setHeaderLen+8+16+8192+setTrailerLen || b[setHeaderLen+8+16] != 0x55 {
		t.Fatalf("unexpected encoding: %d bytes", len(b))
	}
	return b
}

func twoSpaces(t *testing.T) []byte {
	b, err := setOf(1, 1, 2, 1).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != setHeaderLen+2*(8+18)+setTrailerLen {
		t.Fatalf("unexpected encoding length %d", len(b))
	}
	return b
}
