package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompressionSettingsRoundTrip: a repository of each setting keeps it in config.json,
// stores through the pipeline, and reads back exactly what it stored; a stream of another
// setting's repository is read alike (every stored form is a zstd frame).
func TestCompressionSettingsRoundTrip(t *testing.T) {
	recs := testStream(300, 7)
	sizes := map[Compression]int64{}
	for _, c := range Compressions {
		dir := filepath.Join(t.TempDir(), "repo")
		if _, err := InitWith(dir, InitOptions{Compression: c}); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if r.Compression() != c {
			t.Fatalf("%s: reopened repository says %s", c, r.Compression())
		}
		snap := store(t, r, recs, time.Now())
		got, err := readAll(t, r, snap.ID)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		sameRecords(t, got, recs)
		sizes[c] = snap.AddedBytes
		if snap.StoredBytes < snap.AddedBytes || snap.LogicalBytes <= 0 {
			t.Errorf("%s: stored %d, added %d, logical %d", c, snap.StoredBytes, snap.AddedBytes, snap.LogicalBytes)
		}
	}
	if !(sizes[CompressionOff] > sizes[CompressionFast] && sizes[CompressionFast] >= sizes[CompressionBetter]) {
		t.Errorf("added bytes by setting: %v; want off > fast >= better", sizes)
	}
	if _, err := InitWith(filepath.Join(t.TempDir(), "x"), InitOptions{Compression: "lz4"}); err == nil || !strings.Contains(err.Error(), "choose one of off, fast, default, better") {
		t.Errorf("InitWith(lz4): %v", err)
	}
}

// TestOldConfigWithoutCompression: a config.json written before the setting opens with the
// default, and a config naming an unknown one is refused with the setting named.
func TestOldConfigWithoutCompression(t *testing.T) {
	r := newRepo(t)
	cfgPath := filepath.Join(r.Location(), configFile)
	b, _ := os.ReadFile(cfgPath)
	old := strings.Replace(string(b), `"compression": "fast"`, `"x": 0`, 1)
	if old == string(b) {
		t.Fatalf("config.json lacks the compression setting:\n%s", b)
	}
	os.WriteFile(cfgPath, []byte(old), 0o600)
	if r2, err := Open(r.Location()); err != nil || r2.Compression() != DefaultCompression {
		t.Fatalf("old config: %v, %v", r2, err)
	}
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), `"compression": "fast"`, `"compression": "zip"`, 1)), 0o600)
	if _, err := Open(r.Location()); err == nil || !strings.Contains(err.Error(), `compression "zip" is not known`) {
		t.Errorf("unknown setting: %v", err)
	}
}

// TestPipelineErrorRecordsNothing: a pack that cannot be written stops the pipeline; Append or
// Commit returns the error, and the repository holds no snapshot, pack or index file.
func TestPipelineErrorRecordsNothing(t *testing.T) {
	r := newRepo(t)
	w, err := r.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(r.Location(), tmpDir)
	os.Chmod(tmp, 0o500) // new pack files cannot be created
	defer os.Chmod(tmp, 0o700)
	if os.Geteuid() == 0 {
		os.RemoveAll(tmp) // root ignores permissions; a missing tmp/ fails alike
		defer os.Mkdir(tmp, 0o700)
	}
	recs := testStream(200, 9)
	var appendErr error
	for _, rec := range recs {
		if appendErr = w.Append(rec); appendErr != nil {
			break
		}
	}
	snap := &Snapshot{ID: w.ID(), Kind: KindFull}
	snap.SetStreamFields(recs[0].Header, recs[len(recs)-1].Trailer)
	commitErr := w.Commit(snap)
	if commitErr == nil {
		t.Fatal("Commit succeeded although no pack could be written")
	}
	if !errors.Is(commitErr, os.ErrNotExist) && !errors.Is(commitErr, os.ErrPermission) && !strings.Contains(commitErr.Error(), "creating a pack file") {
		t.Errorf("Commit: %v; want the pack error", commitErr)
	}
	for _, sub := range []string{"data", "index", "snapshots"} {
		if es := dirEntries(t, filepath.Join(r.Location(), sub)); len(es) != 0 {
			t.Errorf("%s/ holds %v", sub, es)
		}
	}
	t.Logf("append: %v; commit: %v", appendErr, commitErr)
}

// TestCheckReadDataRawBlobs: check --read-data verifies blobs stored as raw blocks (compression
// off) as it verifies compressed ones: a clean repository checks out, and a flipped byte in a
// stored page is reported as damage to the snapshot that needs it.
func TestCheckReadDataRawBlobs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	r, err := InitWith(dir, InitOptions{Compression: CompressionOff})
	if err != nil {
		t.Fatal(err)
	}
	snap := store(t, r, testStream(40, 3), time.Now())
	rep, err := r.Check(context.Background(), true, &testPages{})
	if err != nil || !rep.OK() {
		t.Fatalf("check --read-data of a clean repository: %+v, %v", rep, err)
	}
	idx, err := r.Index()
	if err != nil {
		t.Fatal(err)
	}
	var victim blobEntry
	for _, e := range idx.entries {
		if e.typ == BlobPage && e.raw == 16384 {
			victim = e
			break
		}
	}
	if victim.length != 16384+uint32(rawFrameOverhead(16384)) {
		t.Fatalf("page blob of %d bytes stored in %d: not a frame of raw blocks", victim.raw, victim.length)
	}
	path := packPath(dir, idx.packs[victim.pack].id)
	b, _ := os.ReadFile(path)
	b[victim.offset+100] ^= 0x40
	os.WriteFile(path, b, 0o600)
	rep, err = r.Check(context.Background(), true, &testPages{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0].ID != snap.ID || rep.Damaged[0].Problems[0].What != "ibdata1" || !strings.Contains(rep.Damaged[0].Problems[0].Reason, "CRC check failed") {
		t.Errorf("check --read-data after a flipped byte: %+v", rep)
	}
}
