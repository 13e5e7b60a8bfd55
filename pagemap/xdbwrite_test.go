package pagemap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBitmapWriterLayout checks the writer's bytes against the test encoder, which follows the
// documented layout independently, and reads them back.
func TestBitmapWriterLayout(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenBitmapWriter(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	set := setOf(7, 0, 7, 3, 7, BitmapBlockPages+5, 9, 1)
	set.AddRange(0xFFFFFFFE, 100, 300) // an undo space id near 2^32
	if err := w.WriteRun(1000, 2000, set); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := ListBitmapFiles(dir)
	if err != nil || len(files) != 1 || files[0].Seq != 1 || files[0].StartLSN != 1000 || filepath.Base(files[0].Path) != "ib_modified_log_1_1000.xdb" {
		t.Fatalf("files %+v, %v; want ib_modified_log_1_1000.xdb", files, err)
	}
	got, err := os.ReadFile(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, b := range runBlocks(set, 1000, 2000) {
		want = append(want, b.encode()...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("writer wrote %d bytes that differ from the %d of the documented layout", len(got), len(want))
	}
	back := NewPageSet()
	if err := ReadBitmaps(files, 1000, 2000, back); err != nil || !back.Equal(set) {
		t.Fatalf("read back %v (%v), want %v", back, err, set)
	}
}

// TestBitmapWriterEmptyRunCovers checks that a run without pages still covers its LSNs, while a
// hole between runs does not.
func TestBitmapWriterEmptyRunCovers(t *testing.T) {
	dir := t.TempDir()
	w, _ := OpenBitmapWriter(dir, 0)
	if err := w.WriteRun(100, 200, NewPageSet()); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRun(200, 300, setOf(3, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRun(400, 500, NewPageSet()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	files, _ := ListBitmapFiles(dir)
	s := NewPageSet()
	if err := ReadBitmaps(files, 100, 300, s); err != nil || !s.Equal(setOf(3, 4)) {
		t.Fatalf("[100, 300): %v, %v", s, err)
	}
	err := ReadBitmaps(files, 100, 500, NewPageSet())
	var be *BitmapError
	if !errors.As(err, &be) || !errors.Is(err, ErrRangeNotCovered) || be.StartLSN != 300 || be.EndLSN != 400 {
		t.Fatalf("[100, 500) with a hole at [300, 400): %v", err)
	}
}

// TestBitmapWriterRotatesAndRepairs checks rotation at the size limit (only between runs), and
// that reopening cuts a torn last block and continues in a new file.
func TestBitmapWriterRotatesAndRepairs(t *testing.T) {
	dir := t.TempDir()
	w, _ := OpenBitmapWriter(dir, 2*BitmapBlockSize)
	big := setOf(1, 1, 2, 1, 3, 1) // three blocks: one run never spans files
	for i, lsn := range []uint64{10, 20, 30} {
		if err := w.WriteRun(lsn, lsn+10, big); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	w.Close()
	files, _ := ListBitmapFiles(dir)
	if len(files) != 3 || files[1].StartLSN != 20 || files[2].Seq != 3 {
		t.Fatalf("files %+v, want three, one run each", files)
	}
	// A crash in the middle of a block: the file ends with half a block.
	f, _ := os.OpenFile(files[2].Path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, BitmapBlockSize/2))
	f.Close()
	if err := ReadBitmaps(files, 10, 50, NewPageSet()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn file read: %v, want ErrCorrupt", err)
	}
	w, err := OpenBitmapWriter(dir, 2*BitmapBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRun(40, 50, setOf(5, 5)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	files, _ = ListBitmapFiles(dir)
	if len(files) != 4 || filepath.Base(files[3].Path) != "ib_modified_log_4_40.xdb" {
		t.Fatalf("after reopening: %+v", files)
	}
	s := NewPageSet()
	if err := ReadBitmaps(files, 10, 50, s); err != nil || !s.Equal(setOf(1, 1, 2, 1, 3, 1, 5, 5)) {
		t.Fatalf("read after repair: %v, %v", s, err)
	}
}
