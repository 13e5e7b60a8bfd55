package repo

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

// benchPages is 64 MiB of pages that compress about 3:1, as InnoDB pages often do.
func benchPages() []byte {
	const pages = 4096
	data := make([]byte, pages*16384)
	for i := 0; i < pages; i++ {
		p := data[i*16384 : (i+1)*16384]
		copy(p, testPage(6000, uint64(i)))
		for k := 6000; k < 12000; k += 40 {
			copy(p[k:], fmt.Sprintf("row %08d value %016d;", k, i))
		}
	}
	return data
}

func benchStore(b *testing.B, r *Local, data []byte) string {
	pages := len(data) / 16384
	w, _ := r.NewStream(context.Background())
	w.Append(&shared.Record{Header: &shared.Header{StreamFormat: 1}})
	w.Append(&shared.Record{Tablespace: &shared.Tablespace{Path: "ibdata1", PageSize: 16384, SizePages: uint64(pages)}})
	for i := 0; i < pages; i += 64 {
		w.Append(&shared.Record{Pages: &shared.PageBatch{FirstPage: uint64(i), Data: data[i*16384 : (i+64)*16384]}})
	}
	w.Append(&shared.Record{Trailer: &shared.Trailer{}})
	snap := &Snapshot{ID: w.ID()}
	snap.SetStreamFields(&shared.Header{StreamFormat: 1}, &shared.Trailer{})
	if err := w.Commit(snap); err != nil {
		b.Fatal(err)
	}
	return w.ID()
}

func BenchmarkBackup(b *testing.B) {
	data := benchPages()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		r, _ := Init(b.TempDir() + "/repo")
		benchStore(b, r, data)
	}
}

func BenchmarkRestore(b *testing.B) {
	data := benchPages()
	r, _ := Init(b.TempDir() + "/repo")
	id := benchStore(b, r, data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		sr, err := r.OpenStream(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := sr.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		sr.Close()
	}
}
