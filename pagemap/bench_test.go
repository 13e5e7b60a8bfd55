package pagemap

import (
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
