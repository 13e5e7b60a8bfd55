package sourcetest

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

// MergeChain merges the records of a chain of backups, full first, into the one stream the
// plugin's restore takes for the last of them, as the host does (cmd/host-example/cli/merge.go
// is the real one): the target's Header and Tablespace records (none marked Incremental), the
// newest version along the chain of every page of every file of the target, the target's redo,
// binlog and file chunks, and its Trailer with Records, Digest, Pages and PageBytes recomputed.
// A file the target holds whole takes nothing from older snapshots; an incremental one takes,
// page by page, the newest snapshot at the same path that has the page, down to the first
// snapshot that holds the file whole.
func MergeChain(t *testing.T, chain ...[]*shared.Record) []*shared.Record {
	t.Helper()
	type snapshot struct {
		spaces map[string]*shared.Tablespace // by path, the last record
		pages  map[string]map[uint64][]byte  // by path, page number
	}
	read := func(recs []*shared.Record) *snapshot {
		s := &snapshot{spaces: map[string]*shared.Tablespace{}, pages: map[string]map[uint64][]byte{}}
		byIndex := map[uint32]string{}
		for _, r := range recs {
			switch {
			case r.Tablespace != nil:
				ts := *r.Tablespace
				s.spaces[ts.Path], byIndex[ts.FileIndex] = &ts, ts.Path
			case r.Pages != nil:
				path := byIndex[r.Pages.FileIndex]
				size := uint64(s.spaces[path].PageSize)
				if s.pages[path] == nil {
					s.pages[path] = map[uint64][]byte{}
				}
				for i := uint64(0); i*size < uint64(len(r.Pages.Data)); i++ {
					s.pages[path][r.Pages.FirstPage+i] = r.Pages.Data[i*size : (i+1)*size]
				}
			}
		}
		return s
	}
	snaps := make([]*snapshot, len(chain))
	for i, recs := range chain {
		snaps[i] = read(recs)
	}
	target := chain[len(chain)-1]
	last := snaps[len(snaps)-1]
	dig := shared.NewDigester()
	var out []*shared.Record
	emit := func(r *shared.Record) {
		dig.Add(r)
		out = append(out, r)
	}
	var order []*shared.Tablespace
	seen := map[uint32]bool{}
	for _, r := range target {
		if r.Header != nil {
			emit(r)
		}
		if r.Tablespace != nil && !seen[r.Tablespace.FileIndex] {
			seen[r.Tablespace.FileIndex] = true
			order = append(order, r.Tablespace)
		}
	}
	for _, first := range order {
		ts := *last.spaces[first.Path]
		ts.Incremental = false
		emit(&shared.Record{Tablespace: &ts})
	}
	var pages, pageBytes uint64
	for _, first := range order {
		ts := last.spaces[first.Path]
		merged := map[uint64][]byte{}
		for i := len(snaps) - 1; i >= 0; i-- {
			s := snaps[i].spaces[ts.Path]
			if s == nil {
				break
			}
			for p, data := range snaps[i].pages[ts.Path] {
				if _, ok := merged[p]; !ok && p < ts.SizePages {
					merged[p] = data
				}
			}
			if !s.Incremental {
				break
			}
		}
		nums := make([]uint64, 0, len(merged))
		for p := range merged {
			nums = append(nums, p)
		}
		sort.Slice(nums, func(a, b int) bool { return nums[a] < nums[b] })
		for _, p := range nums {
			emit(&shared.Record{Pages: &shared.PageBatch{FileIndex: ts.FileIndex, FirstPage: p, Data: merged[p]}})
			pages++
			pageBytes += uint64(len(merged[p]))
		}
	}
	for _, r := range target {
		if r.Redo != nil || r.Binlog != nil || r.File != nil {
			emit(r)
		}
	}
	tr := *target[len(target)-1].Trailer
	tr.Records, tr.Digest, tr.Pages, tr.PageBytes = dig.Records(), dig.Sum(), pages, pageBytes
	return append(out, &shared.Record{Trailer: &tr})
}

// RestoreChain restores the merge of chain (full first) into a new directory and returns it;
// the caller starts a server on it and checks the data (the plugin's own verification is left
// out: that check is the caller's, and it saves a server start).
func RestoreChain(t *testing.T, src shared.Source, chain ...[]*shared.Record) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "restored")
	res, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, &sliceStream{recs: MergeChain(t, chain...)})
	if err != nil {
		t.Fatalf("restoring the chain of %d snapshots: %+v, %v", len(chain), res, err)
	}
	return target
}
