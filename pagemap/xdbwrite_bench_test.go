package pagemap

import (
	"os"
	"testing"
)

// BenchmarkBitmapWriter writes one run of a million changed pages (runs of 8 adjacent pages,
// one run every 64 pages, 80,000 pages per space) and reports the bitmap bytes written per
// million pages: measured 1,024,000 (one 4 KiB block per 32,448-page slice with a change).
func BenchmarkBitmapWriter(b *testing.B) {
	set := NewPageSet()
	for space := uint32(1); set.Len() < 1_000_000; space++ {
		for p := uint32(0); p < 640_000 && set.Len() < 1_000_000; p += 64 {
			set.AddRange(space, p, p+8)
		}
	}
	dir := b.TempDir()
	var written int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := OpenBitmapWriter(dir, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.WriteRun(uint64(i+1)*1000, uint64(i+1)*1000+500, set); err != nil {
			b.Fatal(err)
		}
		written = w.size
		w.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(written)/float64(set.Len())*1e6, "bytes/Mpages")
	files, _ := ListBitmapFiles(dir)
	for _, f := range files {
		os.Remove(f.Path)
	}
}
