package repo

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// storeFull stores data (whole 16 KiB pages) as a full backup in records of 64 pages and
// returns the snapshot.
func storeFull(b *testing.B, r *Local, data []byte, seed uint64) *Snapshot {
	pages := len(data) / 16384
	h := &shared.Header{StreamFormat: 1, PageSize: 16384, CheckpointLSN: seed}
	tr := &shared.Trailer{Kind: shared.KindFull, CheckpointLSN: seed}
	w, err := r.NewStream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	w.Append(&shared.Record{Header: h})
	w.Append(&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "ibdata1", PageSize: 16384, SizePages: uint64(pages)}})
	for i := 0; i < pages; i += 64 {
		if err := w.Append(&shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: uint64(i), Data: data[i*16384 : min(i+64, pages)*16384]}}); err != nil {
			b.Fatal(err)
		}
	}
	w.Append(&shared.Record{Trailer: tr})
	snap := &Snapshot{ID: w.ID(), Kind: KindFull}
	snap.SetStreamFields(h, tr)
	if err := w.Commit(snap); err != nil {
		b.Fatal(err)
	}
	return snap
}

// BenchmarkStoreInnoDB stores the pages of $PAGETRACK_IBD_DIR (see innodbPages) as a full
// backup into a fresh repository, at compression off, fast (the default) and default: MB/s of the whole store path
// (hash, compress, pack, sync, index, commit), and the host's CPU per GiB. Then, once, what a
// second full of the same pages adds, and one with 1 % of the pages changed (as fractions of
// what the first added).
func BenchmarkStoreInnoDB(b *testing.B) {
	_, data := innodbPages(b, 256<<20)
	for _, c := range Compressions[:3] {
		b.Run(string(c), func(b *testing.B) { benchStoreInnoDB(b, data, c) })
	}
}

func benchStoreInnoDB(b *testing.B, data []byte, c Compression) {
	b.SetBytes(int64(len(data)))
	var cpu time.Duration
	var first *Snapshot
	var r *Local
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		r, _ = InitWith(filepath.Join(b.TempDir(), "repo"), InitOptions{Compression: c})
		b.StartTimer()
		start := cpuTime()
		first = storeFull(b, r, data, uint64(n))
		cpu += cpuTime() - start
	}
	b.StopTimer()
	b.ReportMetric(cpu.Seconds()/float64(b.N)/(float64(len(data))/(1<<30)), "cpu-s/GiB")
	b.ReportMetric(float64(first.AddedBytes)/float64(len(data)), "stored/raw")
	second := storeFull(b, r, data, 1000)
	changed := append([]byte(nil), data...)
	rng := rand.New(rand.NewSource(4))
	pages := len(data) / 16384
	for k := 0; k < pages/100; k++ {
		p := rng.Intn(pages)
		changed[p*16384+100+rng.Intn(16000)] ^= 0xff
	}
	third := storeFull(b, r, changed, 1001)
	b.ReportMetric(float64(second.AddedBytes)/float64(first.AddedBytes), "unchanged-added")
	b.ReportMetric(float64(third.AddedBytes)/float64(first.AddedBytes), "1pct-added")
}
