package repo

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestRawFrameDecodes: a frame of raw blocks is read back by zstd's decoder as any frame is,
// across block boundaries, and its content checksum catches a flipped byte.
func TestRawFrameDecodes(t *testing.T) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBlobRaw))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 7, 31, 32, 33, 16384, zstdMaxBlock, zstdMaxBlock + 1, 1<<20 + 5} {
		src := make([]byte, n)
		rng.Read(src)
		frame := appendRawFrame(nil, src)
		got, err := dec.DecodeAll(frame, nil)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%d bytes: decoded %d bytes, err %v", n, len(got), err)
		}
		if n == 0 {
			continue
		}
		frame[len(frame)-5] ^= 1 // the content's last byte
		if _, err := dec.DecodeAll(frame, nil); err == nil || !(strings.Contains(err.Error(), "checksum") || strings.Contains(err.Error(), "CRC")) {
			t.Errorf("%d bytes, a flipped byte: err %v, want a checksum error", n, err)
		}
	}
}

// TestBlobEncoderChoices: every setting writes what decodes to the content; a page of random
// bytes is stored raw by all, a page with free space (a run of zeros) compressed by all but
// off, a page of text without runs by the zstd levels only.
func TestBlobEncoderChoices(t *testing.T) {
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	random := make([]byte, 16384)
	rand.New(rand.NewSource(2)).Read(random)
	text := bytes.Repeat([]byte("row 0001 value 0002; "), 16384/21+1)[:16384]
	free := append(append([]byte(nil), text[:8000]...), make([]byte, 16384-8000)...)
	for _, c := range Compressions {
		enc, err := newBlobEncoder(c)
		if err != nil {
			t.Fatal(err)
		}
		for name, src := range map[string][]byte{"random": random, "text": text, "free": free} {
			out := enc.encode(nil, src)
			got, err := dec.DecodeAll(out, nil)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s, %s page: does not decode back (%v)", c, name, err)
			}
			raw := len(out) == len(appendRawFrame(nil, src))
			want := name == "random" || c == CompressionOff || (name == "text" && c == CompressionFast)
			if raw != want {
				t.Errorf("%s, %s page: stored raw %v (%d bytes), want %v", c, name, raw, len(out), want)
			}
		}
	}
	if _, err := ParseCompression("fastest"); err == nil || !strings.Contains(err.Error(), "off, fast, default, better") {
		t.Errorf("ParseCompression(fastest): %v", err)
	}
}

// innodbPages returns the pages of the .ibd files under $PAGETRACK_IBD_DIR (a test server's
// datadir, or a copy), at most limit bytes; without it, benchPages' synthetic ones.
func innodbPages(b *testing.B, limit int) (string, []byte) {
	dir := os.Getenv("PAGETRACK_IBD_DIR")
	if dir == "" {
		return "synthetic", benchPages()
	}
	var data []byte
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(path, ".ibd") || len(data) >= limit {
			return err
		}
		f, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data = append(data, f[:len(f)/16384*16384]...)
		return nil
	})
	if len(data) == 0 {
		b.Fatalf("no .ibd pages under PAGETRACK_IBD_DIR=%s", dir)
	}
	return "innodb", data[:min(len(data), limit)]
}

// BenchmarkCompressInnoDB measures, per setting, what 16 KiB pages shrink to and what that
// costs one core: ratio = stored / raw, raw-pages = share of pages stored as raw blocks.
func BenchmarkCompressInnoDB(b *testing.B) {
	kind, data := innodbPages(b, 256<<20)
	for _, c := range Compressions {
		b.Run(fmt.Sprintf("%s/%s", kind, c), func(b *testing.B) {
			enc, _ := newBlobEncoder(c)
			b.SetBytes(int64(len(data)))
			var out []byte
			var stored, rawPages, pages int
			start := cpuTime()
			for n := 0; n < b.N; n++ {
				stored, rawPages, pages = 0, 0, 0
				for off := 0; off < len(data); off += 16384 {
					p := data[off : off+16384]
					out = enc.encode(out[:0], p)
					stored += len(out)
					pages++
					if len(out) == len(p)+rawFrameOverhead(len(p)) {
						rawPages++
					}
				}
			}
			b.ReportMetric(float64(stored)/float64(len(data)), "ratio")
			b.ReportMetric(float64(rawPages)/float64(pages), "raw-pages")
			b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N)/(float64(len(data))/(1<<30)), "cpu-s/GiB")
		})
	}
}

// cpuTime is the CPU time this process used (user and system): a figure the other
// processes on a shared machine do not inflate as they inflate wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rawFrameOverhead(n int) int { return len(appendRawFrame(nil, make([]byte, n))) - n }
