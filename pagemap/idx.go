package pagemap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
)

// IdxEntrySize is the size of one entry of a component_mysqlbackup .idx file.
const IdxEntrySize = 8

const (
	idxReadBytes = 64 << 10 // ReadIdx's read buffer
	idxBatch     = 64 << 10
	// A batch whose entries switch between 64 Ki-page chunks more often than once every
	// idxSortRatio entries is sorted by chunk before it is added (see idxBatcher.flush).
	idxSortRatio = 8
	// idxGarbage is how much garbage ReadIdx lets the heap gather before it collects.
	idxGarbage = 512 << 10
)

// ErrPartialEntry is wrapped by the error ReadIdx returns when its input ends inside an entry.
var ErrPartialEntry = errors.New("pagemap: .idx data ends inside an entry")

// ReadIdx adds every entry of r, a MySQL component_mysqlbackup .idx stream (big-endian space
// id and page number pairs, see the package documentation), to s and returns how many entries
// it read. Its buffers never exceed about 1.3 MiB (they grow to that size only for inputs of
// more than 64 Ki entries), so its memory does not grow with the number of entries or
// duplicates; only s grows, with the distinct pages, and the garbage growing s leaves is
// collected as it accrues (idxBatcher.collect): the heap peaks near s plus the buffers plus
// idxGarbage (9.4 MiB for 13.1 M pages whose set holds 7.9 MiB, against 17.8 MiB when the
// garbage waited for GOGC, measured with bench/changemap.go's tracking-like shape).
//
// When r ends inside an entry, ReadIdx returns an error wrapping ErrPartialEntry that names the
// entry's byte offset; a read error is returned wrapped. Either way s holds the entries before.
func ReadIdx(r io.Reader, s *PageSet) (entries uint64, err error) {
	buf := make([]byte, idxReadBytes)
	b := idxBatcher{s: s}
	have := 0 // bytes in buf
	for {
		n, rerr := r.Read(buf[have:])
		if n < 0 || n > len(buf)-have {
			b.flush()
			return entries, fmt.Errorf("pagemap: reading .idx: reader returned count %d for %d bytes", n, len(buf)-have)
		}
		have += n
		whole := have &^ (IdxEntrySize - 1)
		for i := 0; i < whole; i += IdxEntrySize {
			b.add(binary.BigEndian.Uint64(buf[i:]))
		}
		entries += uint64(whole / IdxEntrySize)
		have = copy(buf, buf[whole:have])
		if rerr != nil {
			b.flush()
			if rerr != io.EOF {
				return entries, fmt.Errorf("pagemap: reading .idx at offset %d: %w", entries*IdxEntrySize+uint64(have), rerr)
			}
			if have != 0 {
				return entries, fmt.Errorf("%w: %d bytes of a partial entry at offset %d", ErrPartialEntry, have, entries*IdxEntrySize)
			}
			return entries, nil
		}
	}
}

// idxBatcher collects entries, as space<<32|page keys, and adds them to a PageSet in batches.
// Its buffers grow with the input up to idxBatch entries, so a short input costs little.
type idxBatcher struct {
	s        *PageSet
	keys     []uint64 // at most idxBatch
	tmp      []uint64 // radix sort scratch
	pages    []uint32 // one space's pages, for AddMany
	last     uint64   // previous key, if any
	any      bool     // whether there was a previous key
	switches int      // how often keys[i] is in another 64 Ki-page chunk than keys[i-1]
	live     uint64   // heap object bytes after the last collection (collect)
}

func (b *idxBatcher) add(k uint64) {
	if k == b.last && b.any {
		return // an immediate repeat, common in these files
	}
	if len(b.keys) == idxBatch {
		b.flush()
	}
	if k>>16 != b.last>>16 {
		b.switches++
	}
	b.last, b.any = k, true
	b.keys = append(b.keys, k)
}

// flush adds the batch to the set, one AddMany per run of keys of one space.
//
// Roaring finds a page's 64 Ki-page container by binary search, and that search and the cache
// misses on the container dominate when consecutive entries land in different containers (a
// change list in random order). Such a batch is first radix-sorted on the container part of
// the key, so that each container is looked up once per batch; batches that mostly stay in
// one container for a while (sequential runs) are added as they come, which is cheaper than
// sorting.
func (b *idxBatcher) flush() {
	keys := b.keys
	if len(keys) == 0 {
		return
	}
	if b.switches > len(keys)/idxSortRatio {
		if cap(b.tmp) < len(keys) {
			b.tmp = make([]uint64, cap(keys))
		}
		keys = radixSortChunks(keys, b.tmp[:len(keys)])
	}
	space := uint32(keys[0] >> 32)
	pages := b.pages[:0]
	for _, k := range keys {
		if sp := uint32(k >> 32); sp != space {
			b.s.addMany(space, pages)
			space, pages = sp, pages[:0]
		}
		pages = append(pages, uint32(k))
	}
	b.s.addMany(space, pages)
	b.pages, b.keys, b.switches = pages[:0], b.keys[:0], 0
	b.collect()
}

// collect runs the garbage collector when the heap holds more than idxGarbage bytes beyond
// what was live after the last collection it ran. Growing the set leaves garbage behind: a
// roaring array container grows by doubling and is replaced by an 8 KiB bitmap at 4096
// entries, about twice the finished set in all; under the default GOGC that garbage lets
// the heap reach twice the set (15.5 MiB for a 7.9 MiB map of 13.1 M pages, measured) before
// a collection. Collecting as it accrues keeps the peak near the set plus the batch buffers;
// the collections cost little because the set's containers hold no pointers to scan.
func (b *idxBatcher) collect() {
	heap := heapObjectBytes()
	if b.live == 0 {
		b.live = heap
		return
	}
	if heap > b.live+idxGarbage {
		runtime.GC()
		b.live = heapObjectBytes()
	}
}

var heapMetric = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// heapObjectBytes is the heap's object bytes, live and not yet collected.
func heapObjectBytes() uint64 {
	s := []metrics.Sample{heapMetric[0]}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// radixSortChunks sorts keys by their bits 16 to 63 (space and container), leaving the order of
// keys within one container as it was, using tmp (as long as keys) as scratch. It returns the
// sorted slice, which is keys or tmp. Byte positions that are equal in every key are skipped.
func radixSortChunks(keys, tmp []uint64) []uint64 {
	var counts [6][256]int
	for _, k := range keys {
		k >>= 16
		counts[0][byte(k)]++
		counts[1][byte(k>>8)]++
		counts[2][byte(k>>16)]++
		counts[3][byte(k>>24)]++
		counts[4][byte(k>>32)]++
		counts[5][byte(k>>40)]++
	}
	for d := range counts {
		c := &counts[d]
		shift := uint(16 + 8*d)
		if c[byte(keys[0]>>shift)] == len(keys) {
			continue
		}
		sum := 0
		for i, n := range c {
			c[i], sum = sum, sum+n
		}
		for _, k := range keys {
			i := byte(k >> shift)
			tmp[c[i]] = k
			c[i]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}
