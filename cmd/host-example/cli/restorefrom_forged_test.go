package cli_test

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// framed is recs as backup --stdout frames them: a pgstream stream of a full backup.
func framed(t *testing.T, recs []*shared.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pgstream.NewWriter(&buf, &pgstream.Meta{
		ID: "0123456789abcdef", Time: time.Unix(1700000000, 0).UTC(), Host: "host-example",
		Source: "primary", SourceType: "fake", Kind: shared.KindFull,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRestoreFromRefusesForgedStreams: restore --from refuses every forged stream of the
// shared corpus, framed as backup --stdout writes it (its frames, CRCs and end frame intact),
// with the stream kernel's error, before the plugin is asked for anything, leaving nothing
// in or beside the target, and with memory bounded by what arrived (a SizePages of 2^32-1
// allocates nothing per claimed page).
func TestRestoreFromRefusesForgedStreams(t *testing.T) {
	h := newHarness(t, false)
	// pgstream cannot carry an empty record: its writer and reader refuse one.
	skip := map[string]bool{"empty record": true}
	for _, c := range streamtest.Cases() {
		forged, want, ok := c.Forge(streamtest.Small())
		if !ok || skip[c.Name] {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			in := framed(t, forged)
			h.fake.restoreReq, h.fake.restored = nil, nil
			parent := t.TempDir()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code, stdout, stderr := h.restoreFrom(in, "--from", "-", "--target", filepath.Join(parent, "d"))
			runtime.ReadMemStats(&after)
			if code != 1 || stdout != "" || !strings.Contains(stderr, want) {
				t.Fatalf("exit %d, stdout %q, want an error containing %q:\n%s", code, stdout, want, stderr)
			}
			if !strings.Contains(stderr, shared.ErrBadStream.Error()) && !strings.Contains(stderr, shared.ErrNoTrailer.Error()) {
				t.Errorf("the error is not the stream kernel's:\n%s", stderr)
			}
			if _, req, _ := h.fake.state(); req != nil {
				t.Errorf("the plugin was asked to restore")
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
			d := after.TotalAlloc - before.TotalAlloc
			if d > 4<<20 {
				t.Errorf("restore --from allocated %d bytes for a %d-byte stream", d, len(in))
			}
			t.Logf("allocated %d bytes for a %d-byte stream", d, len(in))
		})
	}
}
