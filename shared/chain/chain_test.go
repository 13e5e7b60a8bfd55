package chain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
	"github.com/pagetrack/pagetrack/shared/chain"
)

const uuid = "6ccd780c-baba-1026-9564-5b8c656024db"

// page is a 4 KiB page (or a 1 KiB one for z.ibd) whose bytes say where it comes from.
func page(size int, tag byte) []byte { return bytes.Repeat([]byte{tag}, size) }

// incremental builds an incremental on a snapshot with checkpoint base: the records between
// its Header and its Trailer are body (redo is added), its trailer sealed with true counts.
func incremental(base, checkpoint uint64, body ...*shared.Record) []*shared.Record {
	recs := []*shared.Record{{Header: &shared.Header{
		StreamFormat: shared.StreamFormat, ServerVersion: "9.7.4", ServerUUID: uuid, PageSize: 4096,
		CheckpointLSN: checkpoint, StartedAt: time.Unix(0, 0).UTC(),
	}}}
	recs = append(recs, body...)
	start := checkpoint / shared.RedoBlockSize * shared.RedoBlockSize
	recs = append(recs, &shared.Record{Redo: &shared.RedoSegment{StartLSN: start, Data: make([]byte, shared.RedoBlockSize)}})
	t := &shared.Trailer{EndLSN: checkpoint, CheckpointLSN: checkpoint, Kind: shared.KindIncremental, BaseCheckpointLSN: base}
	return seal(recs, t)
}

// seal appends t, its counts, Records and Digest those of recs.
func seal(recs []*shared.Record, t *shared.Trailer) []*shared.Record {
	d := shared.NewDigester()
	files, chunks := map[uint32]uint64{}, map[string]bool{}
	for _, r := range recs {
		d.Add(r)
		switch {
		case r.Tablespace != nil:
			files[r.Tablespace.FileIndex] = uint64(r.Tablespace.PageSize)
		case r.Pages != nil:
			t.PageBytes += uint64(len(r.Pages.Data))
			t.Pages += uint64(len(r.Pages.Data)) / files[r.Pages.FileIndex]
		case r.Redo != nil:
			t.RedoBytes += uint64(len(r.Redo.Data))
		case r.File != nil:
			chunks[r.File.Path] = true
		}
	}
	t.Tablespaces, t.Files = uint64(len(files)), uint64(len(chunks))
	t.Records, t.Digest = d.Records(), d.Sum()
	return append(recs, &shared.Record{Trailer: t})
}

// testChain is a full (streamtest.Small) and two incrementals:
//   - inc1 changes ibdata1 page 0, grows it to 3 pages with page 2, shrinks db/z.ibd to one
//     page, adds db/n.ibd whole;
//   - inc2 changes db/n.ibd page 0, grows it with page 1, and drops db/z.ibd.
func testChain() [][]*shared.Record {
	full := streamtest.SmallFormat(1) // its files in the datadir, where the incrementals below name them
	c1 := full[len(full)-1].Trailer.CheckpointLSN
	inc1 := incremental(c1, c1+5000,
		&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 4096, SizePages: 3, Incremental: true}},
		&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "db/z.ibd", SpaceID: 7, PageSize: 1024, ZipSize: 1024, SizePages: 1, Incremental: true}},
		&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 2, Path: "db/n.ibd", SpaceID: 9, PageSize: 4096, SizePages: 1}},
		&shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 2, Data: page(4096, 'c')}},
		&shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 0, Data: page(4096, 'a')}},
		&shared.Record{Pages: &shared.PageBatch{FileIndex: 2, FirstPage: 0, Data: page(4096, 'n')}},
	)
	inc2 := incremental(c1+5000, c1+9000,
		&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 4096, SizePages: 3, Incremental: true}},
		&shared.Record{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "db/n.ibd", SpaceID: 9, PageSize: 4096, SizePages: 2, Incremental: true}},
		&shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: 0, Data: page(4096, 'N')}},
		&shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: 1, Data: page(4096, 'M')}},
	)
	return [][]*shared.Record{full, inc1, inc2}
}

// memHost is a host keeping record lists and payloads in memory.
type memHost struct{ streams [][]*shared.Record }

func (h *memHost) list(i int) chain.RecordList {
	return func(yield func(chain.Listed) error) error {
		for _, r := range h.streams[i] {
			if r.Progress != nil {
				continue
			}
			if err := yield(chain.Listed{Record: withoutData(r), Len: uint64(len(r.Payload()))}); err != nil {
				return err
			}
		}
		return nil
	}
}

func withoutData(r *shared.Record) *shared.Record {
	c := *r
	switch {
	case c.Pages != nil:
		b := *c.Pages
		b.Data, c.Pages = nil, &b
	case c.Redo != nil:
		s := *c.Redo
		s.Data, c.Redo = nil, &s
	case c.Binlog != nil:
		b := *c.Binlog
		b.Data, c.Binlog = nil, &b
	case c.File != nil:
		f := *c.File
		f.Data, c.File = nil, &f
	}
	return &c
}

func (h *memHost) Open(ctx context.Context, reads iter.Seq[[]chain.Piece]) chain.PayloadReader {
	next, stop := iter.Pull(reads)
	return &memReader{h: h, next: next, stop: stop}
}

type memReader struct {
	h    *memHost
	next func() ([]chain.Piece, bool)
	stop func()
}

func (r *memReader) Next() ([]byte, error) {
	pieces, ok := r.next()
	if !ok {
		return nil, errors.New("no more reads")
	}
	var out []byte
	for _, pc := range pieces {
		var recs []*shared.Record
		for _, rec := range r.h.streams[pc.Snapshot] {
			if rec.Progress == nil {
				recs = append(recs, rec)
			}
		}
		data := recs[pc.Record].Payload()
		if pc.Page >= 0 {
			data = data[pc.Page*pc.Len : (pc.Page+1)*pc.Len]
		}
		out = append(out, data...)
	}
	return out, nil
}

func (r *memReader) Close() error { r.stop(); return nil }

// files lays a merged stream out as files: path → content.
func files(t *testing.T, s shared.RecordStream) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	paths := map[uint32]string{}
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Tablespace != nil:
			paths[r.Tablespace.FileIndex] = r.Tablespace.Path
		case r.Pages != nil:
			out[paths[r.Pages.FileIndex]] = append(out[paths[r.Pages.FileIndex]], r.Pages.Data...)
		}
	}
}

func checkMerged(t *testing.T, got map[string][]byte) {
	t.Helper()
	full := streamtest.SmallFormat(1)
	want := map[string][]byte{
		"ibdata1":  append(append(page(4096, 'a'), full[7].Pages.Data...), page(4096, 'c')...),
		"db/z.ibd": nil,
		"db/n.ibd": append(page(4096, 'N'), page(4096, 'M')...),
	}
	delete(want, "db/z.ibd")
	if len(got) != len(want) {
		t.Errorf("merged files %d, want %d", len(got), len(want))
	}
	for p, w := range want {
		if !bytes.Equal(got[p], w) {
			t.Errorf("%s: %d bytes, not the newest pages (want %d bytes)", p, len(got[p]), len(w))
		}
	}
}

func TestPlannerMerge(t *testing.T) {
	h := &memHost{streams: testChain()}
	p := chain.NewPlanner()
	for i := range h.streams {
		if err := p.Add("snapshot "+string(rune('A'+i)), h.list(i)); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := p.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if plan.PagesPlanned != 5 || plan.PagesLeftZero != 0 || plan.PagesFrom[0] != 1 || plan.PagesFrom[1] != 2 || plan.PagesFrom[2] != 2 {
		t.Errorf("planned %d, zero %d, from %v", plan.PagesPlanned, plan.PagesLeftZero, plan.PagesFrom)
	}
	m := chain.Merge(context.Background(), plan, h)
	defer m.Close()
	checkMerged(t, files(t, m))
	if !m.Complete() {
		t.Error("the merged stream is not complete")
	}
}

func TestSpoolMerge(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp := chain.NewSpool(f)
	for i, s := range testChain() {
		if _, err := sp.Add("stream "+string(rune('A'+i)), streamtest.Stream(s)); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := sp.Plan()
	if err != nil {
		t.Fatal(err)
	}
	m := sp.Merge(context.Background(), plan)
	defer m.Close()
	checkMerged(t, files(t, m))
}

func TestBrokenLinks(t *testing.T) {
	cases := []struct {
		name string
		edit func(c [][]*shared.Record) [][]*shared.Record
		want string
	}{
		{"starts with an incremental", func(c [][]*shared.Record) [][]*shared.Record { return c[1:] }, "snapshot 0 is an incremental, but a chain starts with a full backup"},
		{"a link missing", func(c [][]*shared.Record) [][]*shared.Record { return [][]*shared.Record{c[0], c[1], c[1]} },
			"snapshot 2 was taken on base checkpoint LSN 1000300, but its parent snapshot 1 has checkpoint LSN 1005300"},
		{"a second full", func(c [][]*shared.Record) [][]*shared.Record { return [][]*shared.Record{c[0], c[0]} }, "snapshot 1 is a full backup, but follows snapshot 0"},
		{"other server", func(c [][]*shared.Record) [][]*shared.Record {
			c[1][0].Header.ServerUUID = "00000000-0000-0000-0000-000000000000"
			return [][]*shared.Record{c[0], streamtest.Reseal(c[1])}
		}, "snapshot 1 is of server 00000000-0000-0000-0000-000000000000"},
		{"changed pages of a file the parent lacks", func(c [][]*shared.Record) [][]*shared.Record {
			c[2][2].Tablespace.Path = "db/late.ibd"
			return [][]*shared.Record{c[0], c[1], streamtest.Reseal(c[2])}
		}, "snapshot 2 holds only the changed pages of db/late.ibd (space id 9), but its parent snapshot 1 lacks it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &memHost{streams: tc.edit(testChain())}
			p := chain.NewPlanner()
			var err error
			for i := range h.streams {
				if err = p.Add("snapshot "+string(rune('0'+i)), h.list(i)); err != nil {
					break
				}
			}
			var le *chain.LinkError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a LinkError with %q", err, tc.want)
			}
			if _, err := p.Plan(); err == nil {
				t.Error("a spent planner made a plan")
			}
		})
	}
}

// TestForgedCorpus: every forged stream is refused with the kernel's error, by planning from
// its record list and by spooling it, with memory bounded.
func TestForgedCorpus(t *testing.T) {
	for _, c := range streamtest.Cases() {
		forged, want, ok := c.Forge(streamtest.Small())
		if !ok {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			if c.Name != "digest" { // a record list has no payloads to digest; see doc.go
				h := &memHost{streams: [][]*shared.Record{forged}}
				alloc := allocated(t, func() error { return chain.NewPlanner().Add("snapshot", h.list(0)) }, want)
				if alloc > 4<<20 {
					t.Errorf("planning allocated %d bytes", alloc)
				}
			}
			f, err := os.CreateTemp(t.TempDir(), "scratch")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			alloc := allocated(t, func() error {
				_, err := chain.NewSpool(f).Add("stream", streamtest.Stream(forged))
				return err
			}, want)
			if alloc > 4<<20 {
				t.Errorf("spooling allocated %d bytes", alloc)
			}
		})
	}
}

// allocated runs fn, checks that it fails with want, and returns the bytes it allocated.
func allocated(t *testing.T, fn func() error, want string) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := fn()
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an error with %q", err, want)
	}
	if want != "" && !errors.Is(err, shared.ErrBadStream) && !errors.Is(err, shared.ErrNoTrailer) {
		t.Errorf("%v is not the kernel's", err)
	}
	return after.TotalAlloc - before.TotalAlloc
}

// A chain of one full merges to the full's own pages (z.ibd's two pages come from one batch,
// read back at once).
func TestSpoolFull(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp := chain.NewSpool(f)
	full := streamtest.SmallFormat(1)
	if _, err := sp.Add("full", streamtest.Stream(full)); err != nil {
		t.Fatal(err)
	}
	plan, err := sp.Plan()
	if err != nil {
		t.Fatal(err)
	}
	m := sp.Merge(context.Background(), plan)
	defer m.Close()
	got := files(t, m)
	want := map[string][]byte{
		"ibdata1":  append(append([]byte(nil), full[5].Pages.Data...), full[7].Pages.Data...),
		"db/z.ibd": full[4].Pages.Data,
	}
	for p, w := range want {
		if !bytes.Equal(got[p], w) {
			t.Errorf("%s: %d bytes, not the full's", p, len(got[p]))
		}
	}
}

// An incremental file that claims to have grown without carrying its new pages is refused,
// before anything is merged: otherwise a forged size (up to 2^32-1 pages) would make the
// merge send that many pages of zeros.
func TestPlannerRefusesUncarriedGrowth(t *testing.T) {
	for _, size := range []uint64{3, shared.MaxTablespacePages} {
		streams := testChain()
		inc2 := streams[2]
		for _, r := range inc2 {
			if r.Tablespace != nil && r.Tablespace.Path == "db/n.ibd" {
				r.Tablespace.SizePages = size
			}
		}
		streams[2] = streamtest.Reseal(inc2)
		h := &memHost{streams: streams}
		p := chain.NewPlanner()
		var err error
		for i := range h.streams {
			if err = p.Add("snapshot "+string(rune('A'+i)), h.list(i)); err != nil {
				break
			}
		}
		var le *chain.LinkError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), fmt.Sprintf("snapshot C says db/n.ibd grew from 1 to %d pages since its parent, but carries only 1 of the %d new pages", size, size-1)) {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

// binlogDelta is an incremental on checkpoint base carrying binlog file from offset from on.
func binlogDelta(base, checkpoint uint64, file string, from uint64, data []byte) []*shared.Record {
	recs := []*shared.Record{{Header: &shared.Header{
		StreamFormat: shared.StreamFormat, ServerVersion: "9.7.4", ServerUUID: uuid, PageSize: 4096,
		CheckpointLSN: checkpoint, StartedAt: time.Unix(0, 0).UTC(), BinlogBasename: "binlog",
	}}}
	start := checkpoint / shared.RedoBlockSize * shared.RedoBlockSize
	recs = append(recs, &shared.Record{Redo: &shared.RedoSegment{StartLSN: start, Data: make([]byte, shared.RedoBlockSize)}})
	if len(data) > 0 {
		recs = append(recs, &shared.Record{Binlog: &shared.BinlogChunk{Name: file, Offset: from, Data: data}})
	}
	t := &shared.Trailer{EndLSN: checkpoint, CheckpointLSN: checkpoint, Kind: shared.KindIncremental, BaseCheckpointLSN: base,
		BinlogFile: file, BinlogPos: from + uint64(len(data)), BinlogFrom: from, BinlogBytes: uint64(len(data)), BinlogWritten: uint64(len(data))}
	return seal(recs, t)
}

// binlogChain is the full (streamtest.Small, binlog.000002 up to 157) and three incrementals
// carrying the binlog written since their parent: 5 bytes, none, 3 bytes.
func binlogChain() [][]*shared.Record {
	full := streamtest.Small()
	ft := full[len(full)-1].Trailer
	c, file, pos := ft.CheckpointLSN, ft.BinlogFile, ft.BinlogPos
	inc1 := binlogDelta(c, c+1000, file, pos, []byte("12345"))
	inc2 := binlogDelta(c+1000, c+2000, file, pos+5, nil)
	inc3 := binlogDelta(c+2000, c+3000, file, pos+5, []byte("678"))
	return [][]*shared.Record{full, inc1, inc2, inc3}
}

// mergedBinlog merges h's chain (with a Planner, or spooled) and returns the merged stream's
// binlog file and its trailer.
func mergedBinlog(t *testing.T, h *memHost, spool bool) (string, []byte, *shared.Trailer) {
	t.Helper()
	var m *chain.Merged
	if spool {
		f, err := os.CreateTemp(t.TempDir(), "scratch")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sp := chain.NewSpool(f)
		for i, s := range h.streams {
			if _, err := sp.Add(fmt.Sprintf("stream %d", i), streamtest.Stream(s)); err != nil {
				t.Fatal(err)
			}
		}
		plan, err := sp.Plan()
		if err != nil {
			t.Fatal(err)
		}
		m = sp.Merge(context.Background(), plan)
	} else {
		p := chain.NewPlanner()
		for i := range h.streams {
			if err := p.Add(fmt.Sprintf("snapshot %d", i), h.list(i)); err != nil {
				t.Fatal(err)
			}
		}
		plan, err := p.Plan()
		if err != nil {
			t.Fatal(err)
		}
		m = chain.Merge(context.Background(), plan, h)
	}
	defer m.Close()
	var name string
	var data []byte
	var tr *shared.Trailer
	for {
		r, err := m.Recv()
		if err == io.EOF {
			return name, data, tr
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Trailer != nil {
			tr = r.Trailer
		}
		if b := r.Binlog; b != nil {
			if uint64(len(data)) != b.Offset {
				t.Fatalf("merged binlog chunk at %d after %d bytes", b.Offset, len(data))
			}
			name, data = b.Name, append(data, b.Data...)
		}
	}
}

// TestBinlogDeltas: a chain whose incrementals carry only the binlog written since their parent
// restores the whole file, every byte from the snapshot that sent it.
func TestBinlogDeltas(t *testing.T) {
	streams := binlogChain()
	var want []byte
	for _, r := range streams[0] {
		if r.Binlog != nil {
			want = append(want, r.Binlog.Data...)
		}
	}
	want = append(want, "12345678"...)
	for k := range 2 * (len(streams) - 1) {
		n, spool := 2+k/2, k%2 == 1
		name, got, tr := mergedBinlog(t, &memHost{streams: streams[:n]}, spool)
		wantLen := map[int]int{2: len(want) - 3, 3: len(want) - 3, 4: len(want)}[n]
		if name != "binlog.000002" || !bytes.Equal(got, want[:wantLen]) {
			t.Errorf("chain of %d (spooled %v): merged binlog %s = %q, want %q", n, spool, name, got, want[:wantLen])
		}
		if tr.BinlogFrom != 0 || tr.BinlogPos != uint64(wantLen) || tr.BinlogBytes != uint64(wantLen) {
			t.Errorf("chain of %d: merged trailer binlog from %d pos %d bytes %d, want 0, %d, %d", n, tr.BinlogFrom, tr.BinlogPos, tr.BinlogBytes, wantLen, wantLen)
		}
	}
}

// TestBinlogDeltasThatDoNotJoin: a delta of another file than its parent's, or starting
// elsewhere than where its parent ended, is refused.
func TestBinlogDeltasThatDoNotJoin(t *testing.T) {
	streams := binlogChain()
	c := streams[1][len(streams[1])-1].Trailer.CheckpointLSN
	for _, tc := range []struct {
		name  string
		delta []*shared.Record
		want  string
	}{
		{"gap", binlogDelta(c, c+500, "binlog.000002", 160, []byte("x")), "snapshot 2 carries binlog binlog.000002 from offset 160 on, but its parent snapshot 1 holds it up to 162"},
		{"overlap", binlogDelta(c, c+500, "binlog.000002", 161, []byte("xy")), "from offset 161 on, but its parent snapshot 1 holds it up to 162"},
		{"another file", binlogDelta(c, c+500, "binlog.000003", 162, []byte("x")), `snapshot 2 carries binlog binlog.000003 from offset 162 on, but its parent snapshot 1 ended in binlog "binlog.000002"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &memHost{streams: [][]*shared.Record{streams[0], streams[1], tc.delta}}
			p := chain.NewPlanner()
			var err error
			for i := range h.streams {
				if err = p.Add(fmt.Sprintf("snapshot %d", i), h.list(i)); err != nil {
					break
				}
			}
			var le *chain.LinkError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a LinkError with %q", err, tc.want)
			}
		})
	}
}
