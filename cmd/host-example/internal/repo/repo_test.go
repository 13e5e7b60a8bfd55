package repo

import (
	"bytes"
	"context"
	"errors"
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
