package pagemap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// The serialized PageSet (the package documentation has the layout).
const (
	setMagic      = "PTPS"
	setVersion    = 1
	setHeaderLen  = 12 // magic, version, flags, space count
	setRecordHead = 8  // space id, bitmap length
	setTrailerLen = 4  // CRC-32C
	// minBitmapLen is the shortest serialized non-empty roaring bitmap: a run-format cookie,
	// one is-run byte, one key/cardinality pair and a one-run container (4+1+4+2+4 bytes) or an
	// array-format cookie and count, one key/cardinality pair, one offset, one value (8+4+4+2).
	minBitmapLen = 15
)

// ErrBadPageSet is wrapped by the errors UnmarshalBinary returns for data that is not a
// serialized PageSet.
var ErrBadPageSet = errors.New("pagemap: not a valid serialized page set")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes s in the versioned format described in the package documentation. The
// encoding is canonical: equal sets encode to equal bytes.
func (s *PageSet) MarshalBinary() ([]byte, error) {
	spaces := s.Spaces()
	b := make([]byte, setHeaderLen, 64)
	copy(b, setMagic)
	binary.LittleEndian.PutUint16(b[4:], setVersion)
	binary.LittleEndian.PutUint16(b[6:], 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(spaces)))
	for _, space := range spaces {
		blob, err := canonicalBitmapBytes(s.spaces[space])
		if err != nil {
			return nil, fmt.Errorf("pagemap: encoding space %d: %w", space, err)
		}
		b = binary.LittleEndian.AppendUint32(b, space)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(blob)))
		b = append(b, blob...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// canonicalBitmapBytes serializes a run-optimized copy of bm (bm itself is left alone, so
// encoding never changes a set's representation under a concurrent reader).
func canonicalBitmapBytes(bm *roaring.Bitmap) ([]byte, error) {
	c := bm.Clone()
	c.RunOptimize()
	return c.ToBytes()
}

// UnmarshalBinary replaces the contents of s with the set encoded in b. It accepts exactly the
// encodings MarshalBinary produces: anything else, including a valid set encoded differently,
// is rejected with an error wrapping ErrBadPageSet, and s is left unchanged.
func (s *PageSet) UnmarshalBinary(b []byte) error {
	if len(b) < setHeaderLen+setTrailerLen {
		return badSet("%d bytes is too short", len(b))
	}
	if string(b[:4]) != setMagic {
		return badSet("bad magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != setVersion {
		return badSet("unsupported version %d", v)
	}
	body := b[:len(b)-setTrailerLen]
	if want, got := binary.LittleEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return badSet("checksum mismatch: stored %#08x, computed %#08x", want, got)
	}
	spaces, err := decodeSetBody(body)
	if err != nil {
		return err
	}
	s.spaces, s.last = spaces, nil
	return nil
}

// decodeSetBody decodes everything before the checksum of a serialized set.
func decodeSetBody(body []byte) (map[uint32]*roaring.Bitmap, error) {
	if f := binary.LittleEndian.Uint16(body[6:]); f != 0 {
		return nil, badSet("unknown flags %#04x", f)
	}
	n := binary.LittleEndian.Uint32(body[8:])
	rest := body[setHeaderLen:]
	if uint64(n) > uint64(len(rest))/(setRecordHead+minBitmapLen) {
		return nil, badSet("%d spaces cannot fit in %d bytes", n, len(rest))
	}
	spaces := make(map[uint32]*roaring.Bitmap, n)
	off := setHeaderLen
	var prev uint32
	for i := uint32(0); i < n; i++ {
		if len(rest) < setRecordHead {
			return nil, badSet("space record %d at offset %d is truncated", i, off)
		}
		space := binary.LittleEndian.Uint32(rest)
		size := binary.LittleEndian.Uint32(rest[4:])
		if i > 0 && space <= prev {
			return nil, badSet("space %d at offset %d is not above the previous space %d", space, off, prev)
		}
		if uint64(size) > uint64(len(rest)-setRecordHead) {
			return nil, badSet("bitmap of space %d at offset %d claims %d bytes, %d remain", space, off, size, len(rest)-setRecordHead)
		}
		blob := rest[setRecordHead : setRecordHead+int(size)]
		bm, err := decodeCanonicalBitmap(blob)
		if err != nil {
			return nil, badSet("bitmap of space %d at offset %d: %v", space, off+setRecordHead, err)
		}
		spaces[space] = bm
		prev = space
		rest = rest[setRecordHead+int(size):]
		off += setRecordHead + int(size)
	}
	if len(rest) != 0 {
		return nil, badSet("%d stray bytes at offset %d", len(rest), off)
	}
	return spaces, nil
}

// decodeCanonicalBitmap decodes a roaring bitmap and accepts it only if it is non-empty and
// blob is exactly its canonical encoding. Roaring's own reader trusts its input (it checks
// neither order, overlap nor cardinalities), so the decoded bitmap is only used to enumerate
// ranges; the result is rebuilt from those ranges, and re-encoding it must reproduce blob.
func decodeCanonicalBitmap(blob []byte) (bm *roaring.Bitmap, err error) {
	defer func() {
		// The reader was not written for hostile input; turn any panic into a rejection.
		if r := recover(); r != nil {
			bm, err = nil, fmt.Errorf("undecodable: %v", r)
		}
	}()
	if len(blob) < minBitmapLen {
		return nil, fmt.Errorf("%d bytes is too short", len(blob))
	}
	raw := roaring.New()
	if _, err := raw.FromBuffer(slices.Clone(blob)); err != nil {
		return nil, err
	}
	// Rebuild from the ranges, appending in ascending order: long ranges as ranges, the pages
	// of short ones in batches, which keeps the cost linear in the ranges and short-range pages.
	bm = roaring.New()
	var batch []uint32
	prevEnd := int64(-1)
	for first, end := range raw.Ranges() {
		if int64(first) <= prevEnd || end <= uint64(first) || end > 1<<32 {
			return nil, errors.New("ranges out of order")
		}
		if end-uint64(first) > 64 {
			bm.AddMany(batch)
			batch = batch[:0]
			bm.AddRange(uint64(first), end)
		} else {
			for p := uint64(first); p < end; p++ {
				batch = append(batch, uint32(p))
			}
			if len(batch) >= 4096 {
				bm.AddMany(batch)
				batch = batch[:0]
			}
		}
		prevEnd = int64(end)
	}
	bm.AddMany(batch)
	if bm.IsEmpty() {
		return nil, errors.New("empty bitmap")
	}
	again, err := canonicalBitmapBytes(bm)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, blob) {
		return nil, errors.New("not the canonical encoding of its contents")
	}
	return bm, nil
}

func badSet(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPageSet, fmt.Sprintf(format, args...))
}
