package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// testPage is a page of size bytes with pseudo-random content that passes testPages' check.
func testPage(size int, seed uint64) []byte {
	p := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	stampPage(p)
	return p
}

// stampPage makes p pass testPages' check: its last 4 bytes are the CRC-32 of the others.
func stampPage(p []byte) {
	binary.BigEndian.PutUint32(p[len(p)-4:], crc32.ChecksumIEEE(p[:len(p)-4]))
}

// testPages is the page check of a test source (the repository checks pages only through a
// shared.PageChecker): a page of zeros or one stampPage stamped passes. asked counts pages.
type testPages struct{ asked int }

func (c *testPages) CheckPages(_ context.Context, req *shared.CheckPagesRequest) (*shared.CheckPagesResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	res := &shared.CheckPagesResult{}
	size := int(req.PageSize)
	for i := 0; i*size < len(req.Pages); i++ {
		c.asked++
		p := req.Pages[i*size : (i+1)*size]
		if !bytes.Equal(p, make([]byte, size)) && binary.BigEndian.Uint32(p[size-4:]) != crc32.ChecksumIEEE(p[:size-4]) {
			res.Failures = append(res.Failures, shared.PageFailure{Index: uint32(i), Reason: "test checksum mismatch"})
		}
	}
	return res, nil
}

// testStream is a stream of a full backup: ibdata1 with n pages of pseudo-random content
// (seeded), a zip tablespace, redo, binlog, an empty file chunk and a matching trailer.
func testStream(n int, seed uint64) []*shared.Record {
	var data []byte
	for i := 0; i < n; i++ {
		data = append(data, testPage(16384, seed+uint64(i))...)
	}
	zip := make([]byte, 2048)
	copy(zip[100:], "compressed page")
	stampPage(zip)
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3", PageSize: 16384, CheckpointLSN: 1000 + seed, StartedAt: time.Unix(1700000000, 0).UTC()}},
		{Tablespace: &shared.Tablespace{FileIndex: 1, Path: "ibdata1", PageSize: 16384, SizePages: uint64(n)}},
		{Tablespace: &shared.Tablespace{FileIndex: 2, Path: "db/z.ibd", SpaceID: 5, PageSize: 2048, ZipSize: 2048, SizePages: 2}},
		{Pages: &shared.PageBatch{FileIndex: 2, FirstPage: 0, Data: append(append([]byte(nil), zip...), make([]byte, 2048)...)}},
	}
	for first := 0; first < n; first += 64 {
		end := min(first+64, n)
		recs = append(recs, &shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: uint64(first), Data: data[first*16384 : end*16384]}})
	}
	recs = append(recs,
		&shared.Record{Redo: &shared.RedoSegment{StartLSN: 512, Data: bytes.Repeat([]byte{1, 2, 3, 4}, 256)}},
		&shared.Record{Binlog: &shared.BinlogChunk{Name: "binlog.000001", Offset: 4, Data: []byte("binlog")}},
		&shared.Record{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Data: []byte{}}},
	)
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{EndLSN: 2000 + seed, CheckpointLSN: 1000 + seed, Records: d.Records(), Digest: d.Sum(), Kind: shared.KindFull}})
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
	snap, err := tryStore(r, recs, when)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func tryStore(r *Local, recs []*shared.Record, when time.Time) (*Snapshot, error) {
	w, err := r.NewStream(context.Background())
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	for _, rec := range recs {
		if err := w.Append(rec); err != nil {
			return nil, err
		}
	}
	snap := &Snapshot{ID: w.ID(), Time: when, Source: "primary", SourceType: "mysql", Kind: KindFull}
	if t, h := recs[len(recs)-1].Trailer, recs[0].Header; t != nil && h != nil {
		snap.SetStreamFields(h, t)
	}
	if err := w.Commit(snap); err != nil {
		return nil, err
	}
	return snap, nil
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

func sameRecords(t *testing.T, got, want []*shared.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(shared.AppendRecord(nil, got[i]), shared.AppendRecord(nil, want[i])) {
			t.Errorf("record %d differs", i)
		}
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
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
	for _, sub := range []string{"config.json", "data/00", "data/ff", "index", "snapshots", "locks", "tmp"} {
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
	recs := testStream(100, 1)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := store(t, r, recs, t0)
	if a.StoredBytes <= 0 || a.AddedBytes <= 0 || a.AddedBytes > a.StoredBytes || a.LogicalBytes < 100*16384 || len(a.Tree) == 0 {
		t.Errorf("sizes: stored %d added %d logical %d tree %v", a.StoredBytes, a.AddedBytes, a.LogicalBytes, a.Tree)
	}
	snaps, err := r.Snapshots(context.Background())
	if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || !snaps[0].Time.Equal(t0) || snaps[0].AddedBytes != a.AddedBytes {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}
	got, err := readAll(t, r, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, recs)
	if es := dirEntries(t, filepath.Join(r.Location(), "tmp")); len(es) != 0 {
		t.Errorf("tmp/ holds %v", es)
	}
	if es := dirEntries(t, filepath.Join(r.Location(), "locks")); len(es) != 0 {
		t.Errorf("locks/ holds %v", es)
	}
	// A fresh Local reads the same.
	r2, err := Open(r.Location())
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAll(t, r2, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, recs)
	pm, err := r2.PageMap(context.Background(), a.ID)
	if err != nil || len(pm.Files) != 2 || pm.Pages.Len() != 102 {
		t.Errorf("page map: %+v, %v", pm, err)
	}
}

func TestPacksAndIndexFormat(t *testing.T) {
	r := newRepo(t)
	store(t, r, testStream(2000, 1), time.Now()) // > 16 MiB of incompressible pages: several packs
	packs, err := listPacks(r.Location())
	if err != nil || len(packs) < 2 {
		t.Fatalf("%d packs, %v", len(packs), err)
	}
	idx, problems, err := loadIndex(r.Location())
	if err != nil || len(problems) != 0 || len(idx.Files) != 1 || idx.Packs() != len(packs) {
		t.Fatalf("index: %v %v, %d files, %d packs", err, problems, len(idx.Files), idx.Packs())
	}
	byPack := idx.packEntries()
	for pos, p := range idx.packs {
		b, err := os.ReadFile(packPath(r.Location(), p.id))
		if err != nil {
			t.Fatal(err)
		}
		if Hash(b) != p.id || int64(len(b)) != p.size {
			t.Errorf("pack %s: name or size does not match its content", p.id.Short())
		}
		header, err := parsePack(b)
		if err != nil || !sameEntries(header, idx.entries, byPack[pos]) {
			t.Errorf("pack %s: header %v does not match the index", p.id.Short(), err)
		}
	}
	// Index round trip and damage.
	var ips []indexPack
	for pos, p := range idx.packs {
		ip := indexPack{ID: p.id, Size: p.size}
		for _, e := range byPack[pos] {
			be := idx.entries[e]
			ip.Entries = append(ip.Entries, packEntry{be.typ, be.id, be.offset, be.length, be.raw})
		}
		ips = append(ips, ip)
	}
	enc := encodeIndex(ips)
	dec, err := decodeIndex(enc)
	if err != nil || len(dec) != len(ips) || !bytes.Equal(encodeIndex(dec), enc) {
		t.Errorf("index round trip: %v", err)
	}
	enc[len(enc)/2] ^= 1
	if _, err := decodeIndex(enc); err == nil {
		t.Error("a damaged index file decoded")
	}
}

func TestItemRoundTrip(t *testing.T) {
	big := make([]byte, maxDataBlob*2+10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: 1, ServerVersion: "v", StartedAt: time.Unix(5, 0).UTC()}},
		{Tablespace: &shared.Tablespace{FileIndex: 3, Path: "a/b.ibd", PageSize: 1024, SizePages: 9, Incremental: true}},
		{Pages: &shared.PageBatch{FileIndex: 3, FirstPage: 7, Data: make([]byte, 2048)}},
		{Redo: &shared.RedoSegment{StartLSN: 512, Data: big}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000002", Offset: 9, Data: []byte("x")}},
		{File: &shared.FileChunk{Path: "f", Offset: 0, Data: nil}},
		{Trailer: &shared.Trailer{EndLSN: 1, Digest: []byte{1}, SourceState: []byte("s")}},
	}
	var b []byte
	for _, rec := range recs {
		data := payloadOf(rec)
		piece := uint32(min(len(data), maxDataBlob))
		if rec.Pages != nil {
			piece = 1024
		}
		var ids []ID
		for off := 0; off < len(data); off += int(piece) {
			ids = append(ids, Hash(data[off:min(off+int(piece), len(data))]))
		}
		b = appendItem(b, rec, uint64(len(data)), piece, ids)
	}
	tr := treeReader{b: b}
	for i, rec := range recs {
		it, err := tr.next()
		if err != nil || it == nil {
			t.Fatalf("item %d: %v", i, err)
		}
		data := payloadOf(rec)
		if it.size != uint64(len(data)) || len(it.blobs) != int(pieces(it.size, it.piece)) {
			t.Errorf("item %d: size %d, %d blobs", i, it.size, len(it.blobs))
		}
		var joined []byte
		for k, id := range it.blobs {
			part := data[k*int(it.piece) : k*int(it.piece)+int(it.pieceLen(k))]
			if Hash(part) != id {
				t.Errorf("item %d blob %d: wrong id", i, k)
			}
			joined = append(joined, part...)
		}
		setPayload(it.rec, joined)
		if !bytes.Equal(shared.AppendRecord(nil, it.rec), shared.AppendRecord(nil, rec)) {
			t.Errorf("item %d does not round-trip", i)
		}
	}
	if it, err := tr.next(); it != nil || err != nil {
		t.Errorf("after the last item: %v %v", it, err)
	}
	// Truncations never panic and always fail.
	for n := 1; n < len(b); n += 97 {
		tr := treeReader{b: b[:n]}
		for {
			it, err := tr.next()
			if err != nil || it == nil {
				break
			}
		}
	}
}

func TestDedupAcrossSnapshots(t *testing.T) {
	r := newRepo(t)
	recs := testStream(500, 1)
	a := store(t, r, recs, time.Now())
	// The same data again (a second full of an unchanged server): header and trailer differ.
	again := testStream(500, 1)
	again[0].Header.StartedAt = time.Unix(1800000000, 0).UTC()
	b := store(t, r, again, time.Now())
	if b.AddedBytes*100 >= a.AddedBytes {
		t.Errorf("the second identical backup added %d bytes, the first %d: not < 1 %%", b.AddedBytes, a.AddedBytes)
	}
	t.Logf("first added %d bytes, second %d (%.3f %%)", a.AddedBytes, b.AddedBytes, 100*float64(b.AddedBytes)/float64(a.AddedBytes))
	got, err := readAll(t, r, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, again)
}

func TestAbortLeavesNothing(t *testing.T) {
	r := newRepo(t)
	w, err := r.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range testStream(1200, 3)[:25] { // past the first full pack
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.(*localWriter).pipe.drain()
	if es := dirEntries(t, filepath.Join(r.Location(), "data")); len(es) == 0 {
		t.Fatal("no pack was finished before the abort; the test needs one")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "data", "index", "snapshots", "locks"} {
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
	w.Append(testStream(1, 1)[0])
	if err := w.Commit(&Snapshot{ID: "0000000000000000"}); err == nil {
		t.Fatal("Commit with a foreign id succeeded")
	}
	for _, sub := range []string{"tmp", "data", "index", "snapshots", "locks"} {
		if es := dirEntries(t, filepath.Join(r.Location(), sub)); len(es) != 0 {
			t.Errorf("%s/ holds %v", sub, es)
		}
	}
}

// flipBlob flips a byte in the middle of the stored blob holding data.
func flipBlob(t *testing.T, r *Local, data []byte) {
	t.Helper()
	path, off, n, err := r.Locate(Hash(data))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off+n/2)
	b[0] ^= 0x10
	f.WriteAt(b, off+n/2)
}

func TestDamagedBlobNamesSnapshotAndPage(t *testing.T) {
	r := newRepo(t)
	recs := testStream(10, 1)
	snap := store(t, r, recs, time.Now())
	flipBlob(t, r, testPage(16384, 1+7))
	r, _ = Open(r.Location())
	_, err := readAll(t, r, snap.ID)
	var de *DamageError
	if !errors.As(err, &de) || !errors.Is(err, ErrCorrupt) || de.Snapshot != snap.ID || de.What != "ibdata1 page 7" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "does not match its SHA-256") && !strings.Contains(err.Error(), "does not decompress") {
		t.Errorf("err = %v", err)
	}
}

func TestMissingPack(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testStream(3, 1), time.Now())
	path, _, _, _ := r.Locate(Hash(testPage(16384, 2)))
	os.Remove(path)
	_, err := readAll(t, r, snap.ID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("err = %v", err)
	}
}

func TestDamagedMetadata(t *testing.T) {
	r := newRepo(t)
	snap := store(t, r, testStream(1, 1), time.Now())
	other := store(t, r, testStream(1, 1), time.Now())
	os.WriteFile(filepath.Join(r.Location(), "snapshots", snap.ID+".json"), []byte("{"), 0o600)
	good, bad, err := r.ScanSnapshots(context.Background())
	if err != nil || len(good) != 1 || good[0].ID != other.ID || len(bad) != 1 || bad[0].ID != snap.ID || !strings.Contains(bad[0].Reason, "does not parse") {
		t.Errorf("scan: good %v, bad %+v, err %v", good, bad, err)
	}
	// The bad file hides no other snapshot.
	if list, err := r.Snapshots(context.Background()); err != nil || len(list) != 1 || list[0].ID != other.ID {
		t.Errorf("snapshots: %v, %v", list, err)
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
		snaps = append(snaps, store(t, r, testStream(1, 1), t0.Add(time.Duration(i)*time.Minute)))
	}
	if s, err := Find(ctx, r, "latest"); err != nil || s.ID != snaps[2].ID {
		t.Errorf("latest = %v, %v", s, err)
	}
	if s, err := Find(ctx, r, snaps[1].ID); err != nil || s.ID != snaps[1].ID {
		t.Errorf("full id = %v, %v", s, err)
	}
	if _, err := Find(ctx, r, "zzzz"); err == nil || !strings.Contains(err.Error(), `no snapshot "zzzz"`) {
		t.Errorf("unknown: %v", err)
	}
}

// The stream's rules are the kernel's (cli's TestStoreRefusesForgedStreams); the writer
// refuses only what it cannot map, so that a record it is handed by mistake is an error and
// not a panic.
func TestAppendRefusesUnmappableStreams(t *testing.T) {
	tests := []struct {
		name string
		recs []*shared.Record
		want string
	}{
		{"pages of an unannounced file", []*shared.Record{{Pages: &shared.PageBatch{FileIndex: 4, Data: make([]byte, 1024)}}}, "no tablespace record announced"},
		{"tablespace without page size", []*shared.Record{{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1"}}}, "page size 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			w, _ := r.NewStream(context.Background())
			defer w.Abort()
			var err error
			for _, rec := range tt.recs {
				if err = w.Append(rec); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Two record lists that differ only in their first and last items share the tree blobs in
// between: the cuts depend on the items, not on where the list starts.
func TestTreeChunksResync(t *testing.T) {
	items := func(first byte) [][]byte {
		var out [][]byte
		out = append(out, appendItem(nil, &shared.Record{Header: &shared.Header{ServerVersion: string(first)}}, 0, 0, nil))
		for i := 0; i < 3000; i++ {
			ids := make([]ID, 64)
			for k := range ids {
				ids[k] = Hash([]byte{byte(i), byte(i >> 8), byte(k)})
			}
			out = append(out, appendItem(nil, &shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: uint64(i * 64)}}, 64*16384, 16384, ids))
		}
		return out
	}
	cut := func(list [][]byte) []ID {
		var c treeChunker
		var ids []ID
		for _, it := range list {
			if b := c.add(it); b != nil {
				ids = append(ids, Hash(b))
			}
		}
		if b := c.flush(); b != nil {
			ids = append(ids, Hash(b))
		}
		return ids
	}
	a, b := cut(items('a')), cut(items('b'))
	shared := 0
	seen := map[ID]bool{}
	for _, id := range a {
		seen[id] = true
	}
	for _, id := range b {
		if seen[id] {
			shared++
		}
	}
	if len(a) < 10 || shared != len(b)-1 {
		t.Errorf("%d and %d tree blobs, %d shared; want all but the first", len(a), len(b), shared)
	}
}
