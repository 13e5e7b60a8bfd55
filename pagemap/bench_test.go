package pagemap

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// heapSampler records the largest live-heap size seen while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > h.peak {
			h.peak = v
		}
	}
	read()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// BenchmarkReadIdx13M feeds 13.1 M entries (a 200 GB database's worth of 16 KiB pages) through
// ReadIdx: 4.37 M distinct pages over 100 spaces, each three times (the duplication measured on
// a real server), 80 % in sequential runs. It reports ns/entry, the peak live heap during the
// read and the heap the finished set holds.
func BenchmarkReadIdx13M(b *testing.B) {
	const spaces, perSpace, repeats = 100, 43690, 3
	var peak, held uint64
	var entries uint64
	b.ReportAllocs()
	for b.Loop() {
		g := newIdxGen(spaces, perSpace, repeats, 64, 0.8)
		base := heapAlloc()
		h := startHeapSampler(time.Millisecond)
		s := NewPageSet()
		n, err := ReadIdx(g, s)
		p := h.Stop()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := s.Len(); got != g.Distinct() {
			b.Fatalf("distinct = %d, want %d", got, g.Distinct())
		}
		held = max(held, heapAlloc()-base)
		peak = max(peak, p-min(p, base))
		runtime.KeepAlive(s)
		entries = n
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries)/float64(b.N), "ns/entry")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(held)/(1<<20), "set-heap-MB")
}

// BenchmarkReadIdx13MRandom is the worst case: 13.1 M entries of 4.37 M distinct pages scattered
// over 100 spaces, in random order.
func BenchmarkReadIdx13MRandom(b *testing.B) {
	for b.Loop() {
		g := newIdxGen(100, 43690, 3, 1, 0)
		if _, err := ReadIdx(g, NewPageSet()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(13107000)/float64(b.N), "ns/entry")
}

// BenchmarkIdxGen13M measures the generator alone, to subtract from the ReadIdx numbers.
func BenchmarkIdxGen13M(b *testing.B) {
	buf := make([]byte, 64<<10)
	for b.Loop() {
		g := newIdxGen(100, 43690, 3, 64, 0.8)
		for {
			if _, err := g.Read(buf); err != nil {
				break
			}
		}
	}
}

// BenchmarkPageSetAdd adds one page per iteration: sequentially within a space, and scattered
// pseudo-randomly over 100 spaces and 4 Mi pages each.
func BenchmarkPageSetAdd(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		s := NewPageSet()
		var i uint32
		for b.Loop() {
			s.Add(1, i)
			i++
		}
	})
	b.Run("scattered", func(b *testing.B) {
		s := NewPageSet()
		var x uint32 = 1
		for b.Loop() {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			s.Add(x%100, x>>10)
		}
	})
}

// BenchmarkRunsIterate plans reads over a set shaped like a change list: 20 spaces of
// 50,000 pages, 80 % in runs of 64, the rest scattered.
func BenchmarkRunsIterate(b *testing.B) {
	s := newIdxGen(20, 50000, 1, 64, 0.8).Expected()
	spaces := s.Spaces()
	b.Run("Runs", func(b *testing.B) {
		var n int
		for b.Loop() {
			for _, sp := range spaces {
				n += len(s.Runs(sp))
			}
		}
		b.ReportMetric(float64(n)/float64(b.N), "runs/op")
	})
	b.Run("ReadRuns", func(b *testing.B) {
		var n int
		for b.Loop() {
			for _, sp := range spaces {
				n += len(s.ReadRuns(sp, 3, 64))
			}
		}
		b.ReportMetric(float64(n)/float64(b.N), "reads/op")
	})
	b.Run("Each", func(b *testing.B) {
		var n int
		for b.Loop() {
			s.Each(func(space, page uint32) bool { n++; return true })
		}
		b.ReportMetric(float64(n)/float64(b.N), "pages/op")
	})
}

// BenchmarkReadBitmapStream reads 1,000 runs of 20 blocks each (80 MB of bitmap blocks).
func BenchmarkReadBitmapStream(b *testing.B) {
	var data []byte
	for r := range 1000 {
		s := NewPageSet()
		for sp := range 20 {
			s.AddRange(uint32(sp), uint32(r*7), uint32(r*7+50))
		}
		data = appendRun(data, s, uint64(r)*100, uint64(r+1)*100)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadBitmapStream(bytes.NewReader(data), 0, 100000, NewPageSet()); err != nil {
			b.Fatal(err)
		}
	}
}
