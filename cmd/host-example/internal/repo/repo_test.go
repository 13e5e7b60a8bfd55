package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pagetrack/pagetrack/shared"
)

func testRecords() []*shared.Record {
	page := bytes.Repeat([]byte{0xAB, 0xCD}, 8192)
	return []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3", PageSize: 16384, CheckpointLSN: 1000, StartedAt: time.Unix(1700000000, 0).UTC()}},
		{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "ibdata1", PageSize: 16384, SizePages: 1}},
		{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: 0, Data: page}},
		{Redo: &shared.RedoSegment{StartLSN: 512, Data: make([]byte, 1024)}},
		{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Data: []byte{}}},
		{Trailer: &shared.Trailer{EndLSN: 2000, Records: 5, Digest: []byte{1, 2, 3}}},
	}
}

func newRepo(t *testing.T) *Local {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func store(t *testing.T, r *Local, recs []*shared.Record, when time.Time) *Snapshot {
	t.Helper()
	ctx := context.Background()
	w, err := r.NewStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	snap := &Snapshot{ID: w.ID(), Time: when, Source: "primary", SourceType: "mysql", Kind: KindFull}
	if err := w.Commit(snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

func readAll(t *testing.T, r Repository, id string) ([]*shared.Record, error) {
	t.Helper()
	sr, err := r.OpenStream(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	var out []*shared.Record
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	r, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Config().ID) != 32 || r.Config().Format != FormatVersion {
		t.Errorf("config = %+v", r.Config())
	}
	for _, sub := range []string{"config.json", "streams", "snapshots", "tmp"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Error(err)
		}
	}
	if _, err := Init(dir); !errors.Is(err, ErrExists) {
		t.Errorf("second Init: %v, want ErrExists", err)
	}
	if _, err := Open(dir); err != nil {
		t.Errorf("Open: %v", err)
	}

	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	if _, err := Init(full); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Init on a non-empty directory: %v", err)
	}
	if _, err := Init(t.TempDir()); err != nil {
		t.Errorf("Init on an empty directory: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "host-example init -r "+missing) {
		t.Errorf("Open missing: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a pagetrack repository") {
		t.Errorf("Open plain directory: %v", err)
	}
	r := newRepo(t)
	os.WriteFile(filepath.Join(r.Location(), "config.json"), []byte(`{"format": 99}`), 0o600)
	if _, err := Open(r.Location()); err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Errorf("Open newer format: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	r := newRepo(t)
	recs := testRecords()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := store(t, r, recs, t0)
	b := store(t, r, recs[:2], t0.Add(time.Hour))

	if a.StoredBytes <= 0 {
		t.Errorf("StoredBytes = %d", a.StoredBytes)
	}
	if !validID(a.ID) {
		t.Errorf("id %q", a.ID)
	}
	snaps, err := r.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].ID != a.ID || snaps[1].ID != b.ID {
		t.Fatalf("snapshots = %+v", snaps)
	}
	if snaps[0].StoredBytes != a.StoredBytes || !snaps[0].Time.Equal(t0) || snaps[0].Source != "primary" {
		t.Errorf("stored metadata = %+v", snaps[0])
	}

	got, err := readAll(t, r, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(shared.AppendRecord(nil, got[i]), shared.AppendRecord(nil, recs[i])) {
			t.Errorf("record %d differs", i)
		}
	}
	if es := dirEntries(t, filepath.Join(r.Location(), "tmp")); len(es) != 0 {
		t.Errorf("tmp/ holds %v", es)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	r := newRepo(t)
	w, err := r.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Append(testRecords()[0])
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "streams", "snapshots"} {
		if es := dirEntries(t, filepath.Join(r.Location(), sub)); len(es) != 0 {
			t.Errorf("%s/ holds %v", sub, es)
		}
	}
	if err := w.Commit(&Snapshot{ID: w.ID()}); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestCommitRejectsWrongID(t *testing.T) {
	r := newRepo(t)
	w, _ := r.NewStream(context.Background())
	if err := w.Commit(&Snapshot{ID: "0000000000000000"}); err == nil {
		t.Fatal("Commit with a foreign id succeeded")
	}
	if es := dirEntries(t, filepath.Join(r.Location(), "tmp")); len(es) != 0 {
		t.Errorf("tmp/ holds %v", es)
	}
}

// rewrite decompresses a stream file, lets edit change it and compresses it again.
func rewrite(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(path, enc.EncodeAll(edit(plain), nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecordFailsChecksum(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	rewrite(t, r.streamPath(snap.ID), func(b []byte) []byte {
		i := bytes.Index(b, []byte{0xAB, 0xCD, 0xAB, 0xCD})
		b[i+100] ^= 0x01 // a bit in the page data
		return b
	})
	_, err := readAll(t, r, snap.ID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "record 3 fails its checksum") {
		t.Errorf("err = %v", err)
	}
}

func TestTruncatedStream(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	rewrite(t, r.streamPath(snap.ID), func(b []byte) []byte { return b[:len(b)-10] })
	_, err := readAll(t, r, snap.ID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ends in the middle of record 6") {
		t.Errorf("err = %v", err)
	}
}

func TestFlippedCompressedByte(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	path := r.streamPath(snap.ID)
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 0xFF
	os.WriteFile(path, raw, 0o600)
	if _, err := readAll(t, r, snap.ID); err == nil {
		t.Error("a flipped byte went unnoticed")
	}
}

func TestBadMagic(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	rewrite(t, r.streamPath(snap.ID), func(b []byte) []byte { b[0] = 'X'; return b })
	if _, err := r.OpenStream(context.Background(), snap.ID); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v", err)
	}
}

func TestMissingStream(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	os.Remove(r.streamPath(snap.ID))
	if _, err := r.OpenStream(context.Background(), snap.ID); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v", err)
	}
}

func TestDamagedMetadata(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testRecords(), time.Now())
	os.WriteFile(filepath.Join(r.Location(), "snapshots", snap.ID+".json"), []byte("{"), 0o600)
	if _, err := r.Snapshots(context.Background()); err == nil || !strings.Contains(err.Error(), snap.ID) {
		t.Errorf("err = %v", err)
	}
}

func TestFind(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	if _, err := Find(ctx, r, "latest"); err == nil || !strings.Contains(err.Error(), "no snapshots") {
		t.Errorf("empty repository: %v", err)
	}
	t0 := time.Now()
	var snaps []*Snapshot
	for i := 0; i < 3; i++ {
		snaps = append(snaps, store(t, r, testRecords()[:1], t0.Add(time.Duration(i)*time.Minute)))
	}
	if s, err := Find(ctx, r, "latest"); err != nil || s.ID != snaps[2].ID {
		t.Errorf("latest = %v, %v", s, err)
	}
	if s, err := Find(ctx, r, snaps[1].ID); err != nil || s.ID != snaps[1].ID {
		t.Errorf("full id = %v, %v", s, err)
	}
	// The shortest prefix that is unique.
	for n := 1; n <= 16; n++ {
		p := snaps[0].ID[:n]
		unique := !strings.HasPrefix(snaps[1].ID, p) && !strings.HasPrefix(snaps[2].ID, p)
		s, err := Find(ctx, r, p)
		if unique {
			if err != nil || s.ID != snaps[0].ID {
				t.Errorf("prefix %q = %v, %v", p, s, err)
			}
			break
		}
		if err == nil || !strings.Contains(err.Error(), "ambiguous") {
			t.Errorf("ambiguous prefix %q: %v", p, err)
		}
	}
	if _, err := Find(ctx, r, "zzzz"); err == nil || !strings.Contains(err.Error(), `no snapshot "zzzz"`) {
		t.Errorf("unknown: %v", err)
	}
}

func mapRecords() []*shared.Record {
	page := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n*1024) }
	small := func(b byte) []byte { return bytes.Repeat([]byte{b}, 512) }
	return []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, PageSize: 1024, CheckpointLSN: 1000}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 1024, SizePages: 4}},
		{Tablespace: &shared.Tablespace{FileIndex: 3, Path: "db/t.ibd", SpaceID: 9, Flags: 33, PageSize: 512, ZipSize: 512, SizePages: 6, Incremental: true}},
		{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 0, Data: page(1, 4)}},
		{Pages: &shared.PageBatch{FileIndex: 3, FirstPage: 1, Data: small(2)}},
		{Pages: &shared.PageBatch{FileIndex: 3, FirstPage: 4, Data: small(3)}},
		{Tablespace: &shared.Tablespace{FileIndex: 3, Path: "db/t.ibd", SpaceID: 9, Flags: 33, PageSize: 512, ZipSize: 512, SizePages: 8, Incremental: true}},
		{Pages: &shared.PageBatch{FileIndex: 3, FirstPage: 6, Data: small(4)}},
		{Redo: &shared.RedoSegment{StartLSN: 512, Data: make([]byte, 512)}},
		{Trailer: &shared.Trailer{EndLSN: 2000}},
	}
}

func TestPageMapStoredWithStream(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, mapRecords(), time.Now())
	m, err := r.PageMap(context.Background(), snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.DuplicatePages != 0 {
		t.Fatalf("map = %+v", m)
	}
	f := m.Lookup("db/t.ibd")
	want := MapFile{FileIndex: 3, Path: "db/t.ibd", SpaceID: 9, Flags: 33, PageSize: 512, ZipSize: 512, SizePages: 8, Incremental: true}
	if f == nil || *f != want || m.File(3) != f {
		t.Errorf("db/t.ibd = %+v, want the last tablespace record %+v", f, want)
	}
	if got := m.Pages.String(); got != "{0:0-3 3:1,4,6}" {
		t.Errorf("pages = %s", got)
	}
	if _, err := os.Stat(filepath.Join(r.Location(), "streams", snap.ID+".map")); err != nil {
		t.Error(err)
	}
	if es := dirEntries(t, filepath.Join(r.Location(), "tmp")); len(es) != 0 {
		t.Errorf("tmp/ holds %v", es)
	}

	// A map that was never written (an older host-example) is rebuilt from the stream.
	os.Remove(filepath.Join(r.Location(), "streams", snap.ID+".map"))
	rebuilt, err := r.PageMap(context.Background(), snap.ID)
	if err != nil || !rebuilt.Equal(m) {
		t.Errorf("rebuilt map %+v, %v", rebuilt, err)
	}
}

func TestPageMapDamage(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, mapRecords(), time.Now())
	path := filepath.Join(r.Location(), "streams", snap.ID+".map")
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := r.PageMap(context.Background(), snap.ID); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped byte: %v", err)
	}
	os.Remove(r.streamPath(snap.ID))
	if _, err := r.PageMap(context.Background(), snap.ID); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("stream missing: %v", err)
	}
}

func TestPageMapDuplicates(t *testing.T) {
	m := NewPageMap()
	for _, rec := range mapRecords()[:4] {
		if err := m.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	m.Add(&shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 2, Data: make([]byte, 3*1024)}})
	if m.DuplicatePages != 2 || m.Pages.SpaceLen(0) != 5 {
		t.Errorf("duplicates %d, pages %s", m.DuplicatePages, m.Pages)
	}
}

func TestAppendRefusesUnmappableStreams(t *testing.T) {
	tests := []struct {
		name string
		rec  *shared.Record
		want string
	}{
		{"pages of an unknown file", &shared.Record{Pages: &shared.PageBatch{FileIndex: 5, Data: make([]byte, 1024)}}, "no tablespace record announced"},
		{"partial page", &shared.Record{Pages: &shared.PageBatch{FileIndex: 0, Data: make([]byte, 1000)}}, "not a whole number"},
		{"path change", &shared.Record{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "other", PageSize: 1024}}, "changes path"},
		{"same path twice", &shared.Record{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "ibdata1", PageSize: 1024}}, "both name ibdata1"},
		{"page number overflow", &shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 1 << 32, Data: make([]byte, 1024)}}, "beyond the 2^32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			w, _ := r.NewStream(context.Background())
			defer w.Abort()
			for _, rec := range mapRecords()[:2] {
				if err := w.Append(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Append(tt.rec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Append: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNextPagesSkipsUnwantedBatches(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, mapRecords(), time.Now())
	sr, err := r.OpenStream(context.Background(), snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	var heads []string
	var got []string
	for {
		rec, err := sr.NextPages(func(index uint32, first, dataLen uint64) bool {
			heads = append(heads, fmt.Sprintf("%d:%d+%d", index, first, dataLen))
			return index == 3 && first >= 4
		})
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Pages != nil {
			got = append(got, fmt.Sprintf("%d:%d", rec.Pages.FileIndex, rec.Pages.FirstPage))
		}
	}
	if strings.Join(heads, " ") != "0:0+4096 3:1+512 3:4+512 3:6+512" || strings.Join(got, " ") != "3:4 3:6" {
		t.Errorf("filter saw %v, returned %v", heads, got)
	}
	st := sr.Stats()
	if st.Records != 10 || st.Skipped != 2 || st.Decoded != 8 || st.SkippedBytes != 8+21+4096+8+21+512 || st.Bytes <= st.SkippedBytes {
		t.Errorf("stats = %+v", st)
	}
}

func TestNextPagesTruncatedInSkippedRecord(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, mapRecords(), time.Now())
	rewrite(t, r.streamPath(snap.ID), func(b []byte) []byte {
		i := bytes.Index(b, bytes.Repeat([]byte{1}, 4096))
		return b[:i+100]
	})
	sr, err := r.OpenStream(context.Background(), snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for {
		_, err := sr.NextPages(func(uint32, uint64, uint64) bool { return false })
		if err == io.EOF {
			t.Fatal("a truncated stream read to its end")
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ends in the middle of record 4") {
				t.Errorf("err = %v", err)
			}
			return
		}
	}
}
