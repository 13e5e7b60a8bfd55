package cli

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// BenchmarkStoreStreamInnoDB stores a format 3 stream of the pages of $PAGETRACK_IBD_DIR
// (.ibd files of a workload server, up to 256 MiB) through storeStream, the stream kernel
// included, into a fresh repository at each compression setting: the host's CPU per GiB of
// what backup does per record (check, digest, hash, compress, store).
func BenchmarkStoreStreamInnoDB(b *testing.B) {
	data := ibdPages(b, 256<<20)
	recs := bigStream(data)
	for _, c := range repo.Compressions[:3] {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var cpu time.Duration
			for n := 0; n < b.N; n++ {
				r, err := repo.InitWith(filepath.Join(b.TempDir(), "repo"), repo.InitOptions{Compression: c})
				if err != nil {
					b.Fatal(err)
				}
				start := cpuTime()
				w, err := r.NewStream(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				h, t, err := storeStream(context.Background(), streamtest.Stream(recs), w, func(*shared.Progress) {})
				if err != nil {
					b.Fatal(err)
				}
				snap := &repo.Snapshot{ID: w.ID(), Kind: repo.KindFull}
				snap.SetStreamFields(h, t)
				if err := w.Commit(snap); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - start
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N)/(float64(len(data))/(1<<30)), "cpu-s/GiB")
		})
	}
}

// bigStream is streamtest.SmallFormat(3) at a 16 KiB page size, its ibdata1 (4 KiB pages)
// replaced by a file of data's pages in batches of 48, resealed.
func bigStream(data []byte) []*shared.Record {
	const size = 16384
	small := streamtest.SmallFormat(3)
	pages := len(data) / size
	var recs []*shared.Record
	dropped := 0
	for _, r := range small[:len(small)-1] {
		switch {
		case r.Header != nil:
			r.Header.PageSize = size
		case r.Pages != nil && r.Pages.FileIndex == 0:
			dropped += len(r.Pages.Data)
			continue
		case r.Tablespace != nil && r.Tablespace.FileIndex == 0:
			continue
		}
		recs = append(recs, r)
	}
	recs = append(recs, &shared.Record{Tablespace: &shared.Tablespace{FileIndex: 9, Path: "db/big.ibd", SpaceID: 9, PageSize: size, SizePages: uint64(pages)}})
	for i := 0; i < pages; i += 48 {
		recs = append(recs, &shared.Record{Pages: &shared.PageBatch{FileIndex: 9, FirstPage: uint64(i), Data: data[i*size : min(i+48, pages)*size]}})
	}
	tr := *small[len(small)-1].Trailer
	tr.Pages += uint64(pages) - uint64(dropped/4096)
	tr.PageBytes += uint64(pages*size) - uint64(dropped)
	return streamtest.Reseal(append(recs, &shared.Record{Trailer: &tr}))
}

// ibdPages reads whole 16 KiB pages from the files of $PAGETRACK_IBD_DIR, at most limit bytes.
func ibdPages(b *testing.B, limit int) []byte {
	dir := os.Getenv("PAGETRACK_IBD_DIR")
	if dir == "" {
		b.Skip("PAGETRACK_IBD_DIR names no directory of .ibd files")
	}
	var data []byte
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || len(data) >= limit {
			return nil
		}
		f, err := os.ReadFile(path)
		if err == nil {
			data = append(data, f[:len(f)/16384*16384]...)
		}
		return nil
	})
	return data[:min(len(data), limit)/16384*16384]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
