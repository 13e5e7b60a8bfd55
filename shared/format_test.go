package shared_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenStream is the known answer for the current StreamFormat. A change of the codec or of
// the digest bumps StreamFormat and adds a new golden file; the old ones stay and must keep
// decoding and checking (readableFormats), so streams stored earlier stay restorable.
func goldenStream(format uint32) string {
	return filepath.Join("testdata", fmt.Sprintf("stream-v%d.golden", format))
}

// frame writes records as u32 length + record codec bytes (the test's own framing).
func frame(recs []*shared.Record) []byte {
	var b []byte
	for _, r := range recs {
		enc := shared.AppendRecord(nil, r)
		b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
		b = append(b, enc...)
	}
	return b
}

// unframe reads what frame wrote; it never allocates more than the input holds.
func unframe(b []byte) ([]*shared.Record, error) {
	var recs []*shared.Record
	for len(b) > 0 {
		if len(b) < 4 {
			return recs, errors.New("truncated frame")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(n) {
			return recs, errors.New("truncated record")
		}
		r, err := shared.DecodeRecord(b[:n])
		if err != nil {
			return recs, err
		}
		recs, b = append(recs, r), b[n:]
	}
	return recs, nil
}

// TestStreamFormatKnownAnswer pins the record codec and the digest of every StreamFormat: the
// encoding of streamtest.SmallFormat and the digest its Trailer carries.
func TestStreamFormatKnownAnswer(t *testing.T) {
	for format, digest := range map[uint32]string{
		1: "4974f128d46502eff7b9c98fd0067ebb01b0193606e710390c5a4cfcaf7ecc1b",
		2: "331caf65ecab5f5dbfcac05182ac1ab949514b4293a5666820932ae332fc5620",
	} {
		t.Run(fmt.Sprintf("v%d", format), func(t *testing.T) { knownAnswer(t, format, digest) })
	}
}

// TestEncryptedHeaderKnownAnswer pins the Header's optional encryption tail (no format of its
// own: a Header without it encodes as in stream-v2.golden): the encoding of
// streamtest.SmallEncrypted(2) and its digest. -update writes this golden file and its fuzz
// seed only; they are new files, not a rewrite of a format's.
func TestEncryptedHeaderKnownAnswer(t *testing.T) {
	recs := streamtest.SmallEncrypted(2)
	path := filepath.Join("testdata", "stream-v2-encrypted.golden")
	if *update {
		if err := os.WriteFile(path, frame(recs), 0o644); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame(recs))
		if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzStreamChecker", "small-encrypted"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkKnownAnswer(t, recs, path, "0d1d052a7ea198a5425e02cef1924a3c59fa9fa155e40f0c31aa337fef601069")
	h := recs[1].Header
	plain := *h
	plain.MasterKeys, plain.RedoEncryption, plain.BinlogHeaderBytes = nil, nil, 0
	withTail, without := shared.AppendRecord(nil, &shared.Record{Header: h}), shared.AppendRecord(nil, &shared.Record{Header: &plain})
	if !bytes.HasPrefix(withTail, without) || len(withTail) == len(without) {
		t.Fatal("the encryption tail is not a tail of the Header's plain encoding")
	}
	if _, err := shared.DecodeRecord(append(without, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)); err == nil || !strings.Contains(err.Error(), "encryption tail that holds nothing") {
		t.Fatalf("an empty tail decoded: %v", err)
	}
}

func knownAnswer(t *testing.T, format uint32, wantDigest string) {
	recs := streamtest.SmallFormat(format)
	path := goldenStream(format)
	if *update && format == shared.StreamFormat {
		if err := os.WriteFile(path, frame(recs), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, recs)
	}
	checkKnownAnswer(t, recs, path, wantDigest)
}

// checkKnownAnswer compares recs' encoding with the golden file at path and their digest with
// wantDigest.
func checkKnownAnswer(t *testing.T, recs []*shared.Record, path, wantDigest string) {
	t.Helper()
	got := frame(recs)
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./shared -run KnownAnswer -update once to create it)", err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("the codec's output differs from %s: a change of the encoding needs a new StreamFormat (see the package doc)", path)
	}
	if d := hex.EncodeToString(recs[len(recs)-1].Trailer.Digest); d != wantDigest {
		t.Fatalf("digest = %s, want %s: a change of the digest needs a new StreamFormat", d, wantDigest)
	}
	// The digest's definition, spelled out independently of Digester: SHA-256 over the
	// encodings of every record but Progress and the Trailer.
	h := sha256.New()
	for _, r := range recs {
		if k := r.Kind(); k != shared.RecordProgress && k != shared.RecordTrailer {
			h.Write(shared.AppendRecord(nil, r))
		}
	}
	if d := hex.EncodeToString(h.Sum(nil)); d != wantDigest {
		t.Fatalf("SHA-256 over the records = %s, the Digester's %s", d, wantDigest)
	}
}

// TestStreamFormatsStayReadable decodes and checks every golden file ever committed.
func TestStreamFormatsStayReadable(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "stream-v*.golden"))
	if len(files) == 0 {
		t.Fatal("no golden streams in testdata")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := unframe(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(frame(recs), b) {
			t.Errorf("%s does not re-encode to itself", f)
		}
		if _, err := shared.CheckStream(streamtest.Stream(recs)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzStreamChecker feeds arbitrary framed records to the checker: it never panics, never
// allocates beyond the input, and whatever it accepts obeys the rules it claims.
func FuzzStreamChecker(f *testing.F) {
	recs := streamtest.Small()
	f.Add(frame(recs))
	f.Add(frame(streamtest.SmallEncrypted(shared.StreamFormat)))
	for _, c := range streamtest.Cases() {
		forged, _, _ := c.Forge(recs)
		f.Add(frame(forged))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := unframe(data)
		c := shared.NewStreamChecker()
		for _, r := range recs {
			if c.Check(r) != nil {
				return
			}
		}
		if c.End() != nil {
			return
		}
		tr, a := c.Trailer(), c.Arrived()
		// Binlog positions do not count an encrypted binlog's header (Header.BinlogHeaderBytes).
		var head uint64
		for _, r := range recs {
			if r.Header != nil {
				head = uint64(r.Header.BinlogHeaderBytes)
				break
			}
		}
		from, end := tr.BinlogFrom, tr.BinlogPos
		if from != 0 {
			from += head
		}
		if tr.BinlogFile != "" {
			end += head
		}
		if tr.Pages != a.Pages || tr.PageBytes != a.PageBytes || tr.RedoBytes != a.RedoBytes || tr.BinlogBytes != a.BinlogBytes || end-from != a.BinlogBytes || tr.Files != a.Files {
			t.Fatalf("accepted a trailer %+v whose counts differ from what arrived %+v", tr, a)
		}
		if a.PageBytes+a.RedoBytes+a.BinlogBytes > uint64(len(data)) {
			t.Fatalf("accepted %d payload bytes from %d input bytes", a.PageBytes+a.RedoBytes+a.BinlogBytes, len(data))
		}
	})
}

// writeFuzzSeeds commits the fuzz target's seeds (the small stream and every forgery) as a
// corpus under testdata/fuzz, refreshed with -update.
func writeFuzzSeeds(t *testing.T, recs []*shared.Record) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStreamChecker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("small", frame(recs))
	// A few forgeries; the fuzz target adds every case as a seed in code.
	for i, c := range streamtest.Cases() {
		if i%5 == 0 {
			forged, _, _ := c.Forge(recs)
			write(fmt.Sprintf("forged-%02d", i), frame(forged))
		}
	}
}
