package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

// The fakes' streams are ones the stream kernel accepts, so that every other test of the
// host exercises a stream a real plugin could send.
func TestFakeStreamsPassTheKernel(t *testing.T) {
	m := newChainModel()
	full, err := m.backup(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range changes {
		change(m)
	}
	inc, err := m.backup(&shared.BaseSnapshot{State: full[len(full)-1].Trailer.SourceState})
	if err != nil {
		t.Fatal(err)
	}
	for name, recs := range map[string][]*shared.Record{
		"validStream": validStream(), "randomStream": randomStream(70, 3000),
		"model full": full, "model incremental": inc,
	} {
		if _, err := shared.CheckStream(streamtest.Stream(recs)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every stream of the shared forged corpus is refused by the host's store path, backup into
// the repository and backup --stdout, in process and through the plugin's gRPC adapters,
// with the kernel's own error; nothing is recorded (no
// snapshot file, no state-file entry) and the exit code is 1. The memory the refused backup
// allocates follows what arrived: a SizePages of 2^32-1 sized per claimed page would need
// gigabytes.
func TestStoreRefusesForgedStreams(t *testing.T) {
	recs := streamtest.Small()
	if _, no := streamtest.Applicable(recs); len(no) > 0 {
		t.Fatalf("the stream does not exercise %v", no)
	}
	forBoth(t, func(t *testing.T, viaGRPC bool) { storeRefusesForgedStreams(t, viaGRPC, recs) })
}

func storeRefusesForgedStreams(t *testing.T, viaGRPC bool, recs []*shared.Record) {
	h := newStdioHarness(t, viaGRPC)
	for _, c := range streamtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			forged, want, _ := c.Forge(recs)
			h.fake.records = forged
			for _, args := range [][]string{
				{"backup", "-c", h.config(), "--full"},
				{"backup", "--stdout", "-c", h.config(), "--full"},
			} {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				code, _, stderr := h.run(args...)
				runtime.ReadMemStats(&after)
				if code != 1 || !strings.Contains(stderr, want) {
					t.Fatalf("%v: exit %d, want 1 and an error containing %q:\n%s", args, code, want, stderr)
				}
				kernel := "bad stream: record "
				if c.Name == "missing trailer" {
					kernel = "stream ended without a trailer: the backup did not complete"
				}
				if !strings.Contains(stderr, kernel) {
					t.Errorf("%v: the error is not the kernel's (%q):\n%s", args, kernel, stderr)
				}
				d := after.TotalAlloc - before.TotalAlloc
				if d > 64<<20 {
					t.Errorf("%v: the refused backup allocated %d bytes for a stream of %d records", args, d, len(forged))
				}
				t.Logf("%s: allocated %d bytes", args[1], d)
			}
			if snaps, err := os.ReadDir(filepath.Join(h.repo(), "snapshots")); err != nil && !errors.Is(err, os.ErrNotExist) || len(snaps) != 0 {
				t.Fatalf("a refused backup was recorded: %v %v", snaps, err)
			}
			if _, err := os.Stat(h.statePath()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused backup --stdout touched the state file: %v", err)
			}
		})
	}
}
