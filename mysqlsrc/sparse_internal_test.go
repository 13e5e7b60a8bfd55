package mysqlsrc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestSparsePunch: the unused tails of transparently compressed pages (real ones, from
// innodb/testdata) are punched and read back as the zeros they were; plain pages and a tail
// that is not zeros are left allocated.
func TestSparsePunch(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("innodb", "testdata", "pages", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	zlibPage, lz4Page, plain := read("crc32-zlib.page"), read("crc32-lz4.page"), read("crc32-plain.page")
	dirty := bytes.Clone(lz4Page)
	dirty[len(dirty)-1] = 1 // not a tail the server would have left
	data := bytes.Join([][]byte{zlibPage, plain, lz4Page, dirty}, nil)

	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "t.ibd"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	s := newSparseRestore(dir)
	if s.blockSize != 4096 {
		t.Fatalf("block size %d; this test expects 4 KiB blocks", s.blockSize)
	}
	if err := s.punch(f, "t.ibd", 0, data, 16384); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("contents changed by punching (err %v)", err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// Each clean compressed page keeps one 4 KiB block; the plain and the dirty page stay whole.
	if want := int64(4096 + 16384 + 4096 + 16384); st.Blocks*512 != want {
		t.Fatalf("allocated %d bytes, want %d", st.Blocks*512, want)
	}
	if sf := s.files["t.ibd"]; sf == nil || sf.compressed != 3 || sf.punched != 2*12288 {
		t.Fatalf("recorded %+v, want 3 compressed pages and 24576 bytes punched", sf)
	}
	var log strings.Builder
	s.report(hclog.New(&hclog.LoggerOptions{Output: &log}))
	if !strings.Contains(log.String(), "restored sparse") || !strings.Contains(log.String(), "allocated_bytes=40960") {
		t.Fatalf("report: %s", log.String())
	}

	// With 4 KiB pages (or blocks as large as a page) there is nothing to punch, and it says so.
	big := &sparseRestore{blockSize: 16384, files: map[string]*sparseFile{}}
	if err := big.punch(f, "t.ibd", 0, data, 16384); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	big.report(hclog.New(&hclog.LoggerOptions{Output: &log}))
	if !strings.Contains(log.String(), "nothing to punch") {
		t.Fatalf("report: %s", log.String())
	}
}
