package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/pagetrack/pagetrack/pagemap"
)

// The change map case of the issue: 13.1 M changed pages (200 GiB of 16 KiB pages), listed
// three times each in the .idx (the duplication a real server's list showed), over 100
// tablespaces.
const (
	cmSpaces   = 100
	cmPerSpace = 131072 // × 100 = 13,107,200 distinct pages
	cmRepeats  = 3
)

// cmShape is one way the changed pages can lie in the files.
type cmShape struct {
	name string
	// pages returns the distinct changed pages of one space, ascending.
	pages func(rng *rand.Rand) []uint32
	// runLen is how many consecutive pages of the list are written in order before the
	// writer jumps elsewhere (tracking output is made of such runs).
	runLen int
}

var cmShapes = []cmShape{
	{
		// Like tracking output of OLTP writes: 80 % of the changed pages in runs of 64 at random
		// places, the other 20 % scattered; 20 % of a 1 TiB database (100 files of 10 GiB).
		name:   "tracking-like (80 % in runs of 64, 20 % scattered), 20 % of a 1 TiB database",
		runLen: 64,
		pages:  func(rng *rand.Rand) []uint32 { return pickPages(rng, 5*cmPerSpace, cmPerSpace*8/10/64) },
	},
	{
		// Uniformly random pages, 20 % of a 1 TiB database.
		name:   "uniform random, 20 % of a 1 TiB database",
		runLen: 1,
		pages:  func(rng *rand.Rand) []uint32 { return pickPages(rng, 5*cmPerSpace, 0) },
	},
	{
		// Uniformly random pages, 3 % of a 6.4 TiB database (100 files of 64 GiB): the hard
		// case for a compressed bitmap, a few thousand pages in each 64 Ki-page chunk.
		name:   "uniform random, 3 % of a 6.4 TiB database",
		runLen: 1,
		pages:  func(rng *rand.Rand) []uint32 { return pickPages(rng, 32*cmPerSpace, 0) },
	},
}

// pickPages picks cmPerSpace distinct pages of a file of n pages: runs whole 64-page blocks
// at random, then single pages uniformly at random; ascending.
func pickPages(rng *rand.Rand, n, runs int) []uint32 {
	take := make([]bool, n)
	left := cmPerSpace
	for blocks := 0; blocks < runs; {
		b := rng.IntN(n / 64)
		if take[b*64] {
			continue
		}
		for p := b * 64; p < b*64+64; p++ {
			take[p] = true
		}
		blocks++
		left -= 64
	}
	for left > 0 {
		p := rng.IntN(n)
		if !take[p] {
			take[p] = true
			left--
		}
	}
	out := make([]uint32, 0, cmPerSpace)
	for p, t := range take {
		if t {
			out = append(out, uint32(p))
		}
	}
	return out
}

// writeIdx writes the shape's .idx: every distinct page cmRepeats times, each pass in a new
// random order of runs of runLen consecutive changed pages.
func writeIdx(path string, sh cmShape, seed uint64) (entries uint64, err error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := make([]uint64, 0, cmSpaces*cmPerSpace)
	for sp := range cmSpaces {
		for _, p := range sh.pages(rng) {
			keys = append(keys, uint64(sp+1)<<32|uint64(p))
		}
	}
	runs := (len(keys) + sh.runLen - 1) / sh.runLen
	order := make([]int32, runs)
	for i := range order {
		order[i] = int32(i)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var e [8]byte
	for range cmRepeats {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, r := range order {
			lo := int(r) * sh.runLen
			for _, k := range keys[lo:min(lo+sh.runLen, len(keys))] {
				binary.BigEndian.PutUint64(e[:], k)
				w.Write(e[:])
				entries++
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return entries, f.Close()
}

// heapPeak samples the live heap every millisecond and keeps the largest value.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), peak: liveHeap()}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				h.peak = max(h.peak, liveHeap())
				return
			case <-t.C:
				h.peak = max(h.peak, liveHeap())
			}
		}
	}()
	return h
}

func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// changeMap feeds each shape's .idx file through pagemap.ReadIdx and records the time, the peak
// live heap above what was live before, and what the finished set holds.
func (b *bench) changeMap(ctx context.Context) error {
	dir := filepath.Join(b.cfg.work, "changemap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	shapes := cmShapes
	if b.cfg.sizeMB < 1024 { // development mode: only the goal's shape
		shapes = shapes[:1]
	}
	for i, sh := range shapes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		path := filepath.Join(dir, "changed.idx")
		entries, err := writeIdx(path, sh, uint64(i+1))
		if err != nil {
			return err
		}
		st, _ := os.Stat(path)
		r := ChangeMapResult{Shape: sh.name, FileBytes: st.Size()}
		// Once with the default GOGC (what a plugin process holds, garbage included), once with
		// GOGC=5 (close to the live peak).
		for _, gogc := range []int{100, 5} {
			old := debug.SetGCPercent(gogc)
			m, err := readIdxFile(path)
			debug.SetGCPercent(old)
			if err != nil {
				return err
			}
			if gogc == 100 {
				r.Entries, r.Distinct, r.Took, r.PeakHeap, r.SetBytes, r.SerialBytes = m.Entries, m.Distinct, m.Took, m.PeakHeap, m.SetBytes, m.SerialBytes
			} else {
				r.PeakLive, r.TookTight = m.PeakHeap, m.Took
			}
		}
		if r.Entries != entries {
			warn("change map: wrote %d entries, ReadIdx read %d", entries, r.Entries)
		}
		b.res.ChangeMap = append(b.res.ChangeMap, r)
		say("change map, %s: %d entries (%d distinct) in %s, peak heap %s (GOGC=5: %s), the set holds %s",
			sh.name, r.Entries, r.Distinct, secs(r.Took), human(r.PeakHeap), human(r.PeakLive), human(r.SetBytes))
		os.Remove(path)
	}
	return nil
}

// readIdxFile reads a .idx file into a new page set and measures it.
func readIdxFile(path string) (ChangeMapResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return ChangeMapResult{}, err
	}
	defer f.Close()
	runtime.GC()
	debug.FreeOSMemory()
	base := liveHeap()
	h := startHeapPeak()
	t0 := time.Now()
	set := pagemap.NewPageSet()
	n, err := pagemap.ReadIdx(f, set)
	took := time.Since(t0)
	peak := h.Stop()
	if err != nil {
		return ChangeMapResult{}, err
	}
	runtime.GC()
	now := liveHeap()
	r := ChangeMapResult{Entries: n, Distinct: set.Len(), Took: took, PeakHeap: peak - min(base, peak),
		SetBytes: now - min(base, now), SerialBytes: set.SizeInBytes()}
	runtime.KeepAlive(set)
	return r, nil
}
