package repo

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// runFramePages are the table of TestRunFrameDecodes and the fuzz target's seeds.
func runFramePages() map[string][]byte {
	rng := rand.New(rand.NewSource(3))
	random := make([]byte, 16384)
	rng.Read(random)
	page := func(f func(p []byte)) []byte { p := append([]byte(nil), random...); f(p); return p }
	fill := func(p []byte, b byte) {
		for i := range p {
			p[i] = b
		}
	}
	return map[string][]byte{
		"empty":          {},
		"one byte":       {7},
		"all zero":       make([]byte, 16384),
		"no runs":        random,
		"run at start":   page(func(p []byte) { fill(p[:5000], 0) }),
		"run at end":     page(func(p []byte) { fill(p[9000:], 0) }),
		"run in middle":  page(func(p []byte) { fill(p[101:9003], 0xaa) }),
		"short runs":     page(func(p []byte) { fill(p[10:10+minRun-1], 0); fill(p[300:300+minRun], 1) }),
		"adjacent runs":  page(func(p []byte) { fill(p[64:1000], 0); fill(p[1000:2000], 0xff) }),
		"over one block": make([]byte, zstdMaxBlock*2+17),
		"unaligned tail": page(func(p []byte) { fill(p[16384-71:], 5) })[3:],
	}
}

// TestRunFrameDecodes: a frame of Raw and RLE blocks decodes with zstd's decoder to the exact
// content, runs become RLE blocks (an all-zero page is a few bytes), content without runs
// costs only the raw frame's bytes, and the content checksum catches a flipped byte.
func TestRunFrameDecodes(t *testing.T) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBlobRaw))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for name, src := range runFramePages() {
		frame := appendRunFrame(nil, src)
		got, err := dec.DecodeAll(frame, nil)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%s: decoded %d of %d bytes, err %v", name, len(got), len(src), err)
		}
		switch name {
		case "all zero":
			if len(frame) > 20 {
				t.Errorf("all-zero page: %d bytes, want at most 20", len(frame))
			}
		case "no runs", "empty", "one byte":
			if want := len(appendRawFrame(nil, src)); len(frame) != want {
				t.Errorf("%s: %d bytes, want the raw frame's %d", name, len(frame), want)
			}
		case "run at start", "run at end", "run in middle":
			if len(frame) > len(src)-4000 {
				t.Errorf("%s: %d bytes of %d, the run was not written as RLE", name, len(frame), len(src))
			}
		}
		if len(src) > 0 {
			bad := append([]byte(nil), frame...)
			bad[len(bad)-5] ^= 1 // the last content byte, or the last RLE block's byte
			if got, err := dec.DecodeAll(bad, nil); err == nil && bytes.Equal(got, src) {
				t.Errorf("%s: a flipped byte went unnoticed", name)
			}
		}
	}
}

// FuzzRunFrame: whatever the content, the frame decodes with zstd's decoder to it exactly.
func FuzzRunFrame(f *testing.F) {
	for _, src := range runFramePages() {
		if len(src) <= 20000 {
			f.Add(src)
		}
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBlobRaw))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := dec.DecodeAll(appendRunFrame(nil, src), nil)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%d bytes: decoded %d bytes, err %v", len(src), len(got), err)
		}
	})
}

// BenchmarkRunFrameInnoDB is BenchmarkCompressInnoDB's measure for run-length frames alone.
func BenchmarkRunFrameInnoDB(b *testing.B) {
	_, data := innodbPages(b, 256<<20)
	b.SetBytes(int64(len(data)))
	var out []byte
	stored := 0
	start := cpuTime()
	for n := 0; n < b.N; n++ {
		stored = 0
		for off := 0; off < len(data); off += 16384 {
			out = appendRunFrame(out[:0], data[off:off+16384])
			stored += len(out)
		}
	}
	b.ReportMetric(float64(stored)/float64(len(data)), "ratio")
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N)/(float64(len(data))/(1<<30)), "cpu-s/GiB")
}
