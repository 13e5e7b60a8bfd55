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
