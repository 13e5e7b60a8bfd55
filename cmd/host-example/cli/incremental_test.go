package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// backupJSON runs backup --json with extra flags and returns the snapshot it printed.
func (h *harness) backupJSON(extra ...string) (map[string]any, string) {
	h.t.Helper()
	code, stdout, stderr := h.run(append([]string{"backup", "-c", h.config(), "--json"}, extra...)...)
	if code != 0 {
		h.t.Fatalf("backup %v: exit %d\n%s", extra, code, stderr)
	}
	var snap map[string]any
	if err := json.Unmarshal([]byte(stdout), &snap); err != nil {
		h.t.Fatalf("backup --json: %v\n%s", err, stdout)
	}
	return snap, stderr
}

// stateOf returns the model state a snapshot's source_state names.
func stateOf(t *testing.T, m *datadirModel, snap map[string]any) *modelState {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(snap["source_state"].(string))
	if err != nil {
		t.Fatalf("source_state %v: %v", snap["source_state"], err)
	}
	st := m.taken[string(raw)]
	if st == nil {
		t.Fatalf("source_state %q names no backup of the model", raw)
	}
	return st
}

// newChainModel is the datadir the chain tests start from.
func newChainModel() *datadirModel {
	m := newModel()
	m.add("ibdata1", 0, 4096, 12, 1)
	m.add("undo_001", 4294967279, 4096, 6, 1)
	m.add("shop/orders.ibd", 7, 4096, 20, 1)
	m.write("shop/orders.ibd", 0, 15, 16, 17, 18, 19) // allocated, never written
	m.add("shop/items.ibd", 8, 1024, 10, 1).zip = true
	m.add("shop/log.ibd", 9, 4096, 8, 1).growLate = true
	m.add("shop/old.ibd", 10, 4096, 5, 1)
	return m
}

// changes are applied to the model before incremental i+1.
var changes = []func(m *datadirModel){
	func(m *datadirModel) {
		m.write("shop/orders.ibd", 2, 1, 2, 3, 10)
		m.write("ibdata1", 2, 5)
		m.resize("shop/log.ibd", 10)
		m.write("shop/log.ibd", 2, 8, 9)
		m.write("shop/items.ibd", 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	},
	func(m *datadirModel) {
		m.drop("shop/old.ibd")
		m.add("shop/new.ibd", 11, 4096, 7, 3)
		m.write("shop/orders.ibd", 3, 2)
		m.resize("shop/orders.ibd", 25)
		m.write("shop/orders.ibd", 3, 20, 21, 22)
	},
	func(m *datadirModel) {
		// TRUNCATE TABLE: the file is re-created with a new space id.
		m.drop("shop/items.ibd")
		m.add("shop/items.ibd", 12, 1024, 4, 4).zip = true
		m.resize("shop/orders.ibd", 8)
		m.write("ibdata1", 4, 0)
	},
	func(m *datadirModel) {
		// Pages 12 and 13 come back as zeros: their copies from before the shrink are stale.
		m.resize("shop/orders.ibd", 14)
		m.write("shop/orders.ibd", 5, 8, 9, 10, 11)
		m.method, m.reason = shared.MethodLSNScan, "page tracking was off on the server"
	},
	func(m *datadirModel) {
		m.method, m.reason = "", ""
		m.write("ibdata1", 6, 11, 0, 1)
		m.resize("shop/log.ibd", 13)
		m.write("shop/log.ibd", 6, 10, 11, 12, 3)
		m.write("shop/new.ibd", 6, 3)
		m.write("undo_001", 6, 1)
	},
}

// TestIncrementalChain takes a full and five incrementals with changes in between (pages
// written, files grown, shrunk, created, dropped and re-created with a new space id) and
// restores every snapshot: the plugin must get one stream holding exactly the datadir at that
// snapshot.
func TestIncrementalChain(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		m := newChainModel()
		h.fake.model = m

		// No snapshot yet: a backup without --full takes a full, and says so.
		snap, stderr := h.backupJSON()
		if snap["kind"] != "full" || snap["parent"] != "" || snap["method"] != "full" || !strings.Contains(stderr, "taking a full backup") {
			t.Fatalf("first backup: kind %v parent %v method %v\n%s", snap["kind"], snap["parent"], snap["method"], stderr)
		}
		snaps := []map[string]any{snap}
		states := []*modelState{stateOf(t, m, snap)}
		for i, change := range changes {
			change(m)
			snap, _ := h.backupJSON()
			parent := snaps[len(snaps)-1]
			if snap["kind"] != "incremental" || snap["parent"] != parent["id"] || snap["base_checkpoint_lsn"] != parent["checkpoint_lsn"] {
				t.Fatalf("incremental %d: kind %v, parent %v (want %v), base checkpoint %v (want %v)",
					i+1, snap["kind"], snap["parent"], parent["id"], snap["base_checkpoint_lsn"], parent["checkpoint_lsn"])
			}
			snaps = append(snaps, snap)
			states = append(states, stateOf(t, m, snap))
		}

		// snapshots --json shows kind, parent, method and the fallback reason.
		listed := h.snapshotsJSON()
		if len(listed) != 6 {
			t.Fatalf("%d snapshots listed", len(listed))
		}
		for i, s := range listed {
			wantMethod, wantReason := "page-tracking", ""
			switch i {
			case 0:
				wantMethod = "full"
			case 4:
				wantMethod, wantReason = "lsn-scan", "page tracking was off on the server"
			}
			if s["id"] != snaps[i]["id"] || s["method"] != wantMethod || s["fallback_reason"] != wantReason {
				t.Errorf("snapshot %d: id %v method %v reason %q; want %v %v %q", i, s["id"], s["method"], s["fallback_reason"], snaps[i]["id"], wantMethod, wantReason)
			}
		}
		code, stdout, _ := h.run("snapshots", "-r", h.repo())
		if code != 0 || !strings.Contains(stdout, "METHOD") || !strings.Contains(stdout, "lsn-scan*") || !strings.Contains(stdout, "page-tracking") || !strings.Contains(stdout, snaps[3]["id"].(string)) {
			t.Errorf("snapshots:\n%s", stdout)
		}
		code, stdout, _ = h.run("snapshots", "-r", h.repo(), "-l")
		if code != 0 || !strings.Contains(stdout, "fallback     page tracking was off on the server") || !strings.Contains(stdout, "incremental on "+snaps[3]["id"].(string)+" (lsn-scan)") {
			t.Errorf("snapshots -l:\n%s", stdout)
		}

		for i := range snaps {
			chain := make([]*modelState, 0, i+1)
			for j := i; j >= 0; j-- {
				chain = append(chain, states[j])
			}
			t.Run(fmt.Sprintf("restore%d", i), func(t *testing.T) {
				h.merge = nil
				restored := h.restoreOK(t, snaps[i]["id"].(string))
				n, planned := checkRestored(t, restored, chain)
				if i == 0 {
					if h.merge != nil {
						t.Error("restoring a full snapshot merged")
					}
					return
				}
				checkMergeStats(t, h.merge, snaps[:i+1], states[:i+1], n, planned)
			})
		}
	})
}

// restoreOK restores id into a fresh directory and returns the records the plugin received.
func (h *harness) restoreOK(t *testing.T, id string) []*shared.Record {
	t.Helper()
	code, stdout, stderr := h.run("restore", "-r", h.repo(), id, "--target", filepath.Join(t.TempDir(), "datadir"))
	if code != 0 {
		t.Fatalf("restore %s: exit %d\n%s", id, code, stderr)
	}
	if !strings.Contains(stdout, "restored snapshot "+id) {
		t.Errorf("restore printed:\n%s", stdout)
	}
	_, _, raw := h.fake.state()
	var recs []*shared.Record
	for i, b := range raw {
		rec, err := shared.DecodeRecord(b)
		if err != nil {
			t.Fatalf("restored record %d does not decode: %v", i, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// presentInChain says whether the merge must send page p of f: some snapshot of the chain
// (target first) sent it, walking back only while the file stayed incremental and the page
// stayed within the file.
func presentInChain(chain []*modelState, f *modelFileState, p uint32) bool {
	for _, s := range chain {
		g := s.lookup(f.path)
		if g == nil || g.space != f.space {
			return false
		}
		if g.sent[p] {
			return true
		}
		if int(p) >= len(g.versions) || !g.incremental {
			return false
		}
	}
	return false
}

// checkRestored checks the records a plugin received for the restore of chain[0] and returns
// the number of pages sent.
// checkRestored checks what the plugin received for chain[0] and returns the pages sent and
// those of them some snapshot of the chain holds.
func checkRestored(t *testing.T, recs []*shared.Record, chain []*modelState) (sent, planned uint64) {
	t.Helper()
	return checkRestoredAs(t, recs, chain, len(chain) > 1)
}

// checkRestoredMerged is checkRestored for a restore that merges even a full snapshot's
// stream (restore --from, shared/chain.Spool).
func checkRestoredMerged(t *testing.T, recs []*shared.Record, chain []*modelState) {
	t.Helper()
	checkRestoredAs(t, recs, chain, true)
}

func checkRestoredAs(t *testing.T, recs []*shared.Record, chain []*modelState, merged bool) (sent, planned uint64) {
	t.Helper()
	want := chain[0]
	if !merged {
		// A full snapshot is restored from its own stream, unchanged.
		if got, exp := len(recs), len(stored(want.stream)); got != exp {
			t.Fatalf("restored %d records, the stream has %d", got, exp)
		}
		for i, b := range stored(want.stream) {
			if !bytes.Equal(shared.AppendRecord(nil, recs[i]), b) {
				t.Errorf("restored record %d differs from the stored one", i)
			}
		}
	}
	if len(recs) < 2 || recs[0].Header == nil || recs[len(recs)-1].Trailer == nil {
		t.Fatalf("restored stream is not Header … Trailer (%d records)", len(recs))
	}
	if recs[0].Header.CheckpointLSN != want.checkpoint {
		t.Errorf("header checkpoint %d, want %d", recs[0].Header.CheckpointLSN, want.checkpoint)
	}
	d := shared.NewDigester()
	for _, r := range recs[:len(recs)-1] {
		d.Add(r)
	}
	tr := recs[len(recs)-1].Trailer
	if err := d.Check(tr); err != nil {
		t.Errorf("the trailer's digest does not cover what was sent: %v", err)
	}
	if tr.CheckpointLSN != want.checkpoint || string(tr.SourceState) != want.token {
		t.Errorf("trailer is not the target's: checkpoint %d, state %q", tr.CheckpointLSN, tr.SourceState)
	}

	// The target's files, none incremental, with their sizes at the snapshot: each once before
	// any page in a merged stream; a full's own stream may update a size after pages.
	files := map[uint32]*modelFileState{}
	sizes := map[string]uint64{}
	got := map[string]map[uint32][]byte{}
	var pages uint64
	i := 1
	for ; i < len(recs) && (recs[i].Tablespace != nil || recs[i].Pages != nil); i++ {
		if ts := recs[i].Tablespace; ts != nil {
			if ts.Incremental {
				t.Errorf("tablespace %s sent with Incremental=true", ts.Path)
			}
			f := want.lookup(ts.Path)
			switch {
			case f == nil:
				t.Errorf("tablespace %s was dropped before the snapshot, yet sent", ts.Path)
				continue
			case merged && pages > 0:
				t.Errorf("tablespace %s sent after pages", ts.Path)
			case merged && got[ts.Path] != nil:
				t.Errorf("tablespace %s sent twice", ts.Path)
			case ts.SpaceID != f.space || ts.PageSize != f.pageSize:
				t.Errorf("tablespace %s: space %d, page size %d; want %d, %d", ts.Path, ts.SpaceID, ts.PageSize, f.space, f.pageSize)
			}
			files[ts.FileIndex] = f
			sizes[ts.Path] = ts.SizePages
			if got[ts.Path] == nil {
				got[ts.Path] = map[uint32][]byte{}
			}
			continue
		}
		b := recs[i].Pages
		f := files[b.FileIndex]
		if f == nil {
			t.Fatalf("pages of unknown file index %d", b.FileIndex)
		}
		if len(b.Data)%int(f.pageSize) != 0 || len(b.Data) == 0 || len(b.Data) > shared.MaxPayloadBytes {
			t.Fatalf("page batch of %s: %d bytes", f.path, len(b.Data))
		}
		for k := 0; k < len(b.Data)/int(f.pageSize); k++ {
			p := uint32(b.FirstPage) + uint32(k)
			if got[f.path][p] != nil {
				t.Errorf("%s page %d sent twice", f.path, p)
			}
			got[f.path][p] = b.Data[k*int(f.pageSize) : (k+1)*int(f.pageSize)]
			pages++
		}
	}
	if len(got) != len(want.files) {
		t.Errorf("%d tablespaces sent, the snapshot has %d files", len(got), len(want.files))
	}
	for path, n := range sizes {
		if f := want.lookup(path); f != nil && n != uint64(len(f.versions)) {
			t.Errorf("tablespace %s: %d pages, want %d", path, n, len(f.versions))
		}
	}
	for _, f := range want.files {
		for p, v := range f.versions {
			// A merge sends every page: the chain's newest copy, or zeros where no snapshot
			// holds one (shared/chain).
			page, ok := got[f.path][uint32(p)]
			inChain := presentInChain(chain, &f, uint32(p))
			switch {
			case !ok && (merged || v != 0):
				t.Errorf("%s page %d (version %d) was not sent", f.path, p, v)
			case ok && inChain && !bytes.Equal(page, pageContent(f.path, f.space, uint32(p), v, f.pageSize, f.zip)):
				t.Errorf("%s page %d is not version %d: %.40q", f.path, p, v, page)
			case ok && !inChain && (v != 0 || !bytes.Equal(page, make([]byte, len(page)))):
				t.Errorf("%s page %d (version %d) is in no snapshot of the chain, yet was sent as %.40q, not zeros", f.path, p, v, page)
			}
			if inChain {
				planned++
			}
		}
		for p := range got[f.path] {
			if int(p) >= len(f.versions) {
				t.Errorf("%s page %d sent, beyond its %d pages", f.path, p, len(f.versions))
			}
		}
	}
	// Then the target's own redo, binlog and files, in order, and the trailer.
	var tail []*shared.Record
	for _, r := range want.stream {
		if r.Redo != nil || r.Binlog != nil || r.File != nil {
			tail = append(tail, r)
		}
	}
	rest := recs[i : len(recs)-1]
	if len(rest) != len(tail) {
		t.Fatalf("%d records after the pages, want the target's %d", len(rest), len(tail))
	}
	for k := range tail {
		if !bytes.Equal(shared.AppendRecord(nil, rest[k]), shared.AppendRecord(nil, tail[k])) {
			t.Errorf("record %d after the pages is not the target's (%s)", k, shared.AppendRecord(nil, rest[k])[:1])
		}
	}
	return pages, planned
}

// checkMergeStats checks what a merge read: only the pages it sent (a page of zeros held
// twice by one batch is read once), the record lists of the snapshots it needed, and the
// target's own redo, binlog and file chunks.
func checkMergeStats(t *testing.T, st *cli.MergeStats, snaps []map[string]any, states []*modelState, sent, pages uint64) {
	t.Helper()
	if st == nil {
		t.Fatal("no merge stats reported")
	}
	if len(st.Chain) != len(snaps) {
		t.Fatalf("chain %v, want %d snapshots", st.Chain, len(snaps))
	}
	for k := range snaps {
		if st.Chain[k] != snaps[len(snaps)-1-k]["id"] {
			t.Errorf("chain %v is not target first, full last", st.Chain)
		}
	}
	if st.PagesEmitted != sent || st.PagesPlanned != pages {
		t.Errorf("merge sent %d pages, planned %d; the plugin got %d, %d of them from the chain", st.PagesEmitted, st.PagesPlanned, sent, pages)
	}
	var size uint64
	for _, f := range states[len(states)-1].files {
		size += uint64(len(f.versions))
	}
	if st.PagesPlanned+st.PagesLeftZero != size || sent != size {
		t.Errorf("planned %d pages and left %d to zeros; the target's files have %d", st.PagesPlanned, st.PagesLeftZero, size)
	}
	var from uint64
	for _, n := range st.PagesFrom {
		from += n
	}
	if from != pages || len(st.PagesFrom) != len(snaps) {
		t.Errorf("pages from each snapshot %v do not add up to %d", st.PagesFrom, pages)
	}
	if st.Read.PageBlobs > pages || (pages > 0 && st.Read.PageBlobs == 0) {
		t.Errorf("%d page blobs read for %d pages sent", st.Read.PageBlobs, pages)
	}
	// Record lists: those of the snapshots planning needed, each once.
	if st.SnapshotsRead < 1 || st.SnapshotsRead > len(snaps) {
		t.Errorf("%d record lists read of a chain of %d", st.SnapshotsRead, len(snaps))
	}
	var trees uint64
	for k := 0; k < st.SnapshotsRead; k++ {
		trees += uint64(len(snaps[len(snaps)-1-k]["tree"].([]any)))
	}
	if st.Read.TreeBlobs != trees {
		t.Errorf("%d record-list blobs read, the %d snapshots planning read have %d", st.Read.TreeBlobs, st.SnapshotsRead, trees)
	}
	// The target's two redo segments, binlog chunk and file chunk.
	if st.Read.DataBlobs != 4 {
		t.Errorf("%d data blobs read, want the target's 4", st.Read.DataBlobs)
	}
	if len(snaps) == 6 {
		t.Logf("6-deep chain: %d pages sent, from %v; read %+v", pages, st.PagesFrom, st.Read)
	}
}

// Restore reads no more for a long chain than the pages it sends: a chain of 30 incrementals
// that each change one page reads one page blob per page restored.
func TestLongChainReadsOnlyNeededPages(t *testing.T) {
	h := newHarness(t, false)
	m := newModel()
	m.add("ibdata1", 0, 4096, 40, 1)
	h.fake.model = m
	var last map[string]any
	last, _ = h.backupJSON()
	for i := 0; i < 30; i++ {
		m.write("ibdata1", uint32(i+2), i)
		last, _ = h.backupJSON()
	}
	h.merge = nil
	h.restoreOK(t, last["id"].(string))
	st := h.merge
	if st == nil || st.PagesPlanned != 40 || st.Read.PageBlobs != 40 || st.SnapshotsRead != 31 {
		t.Fatalf("merge stats %+v", st)
	}
	if st.PagesFrom[30] != 10 || st.PagesFrom[0] != 1 {
		t.Errorf("pages from the full %d, from the target %d; want 10 and 1", st.PagesFrom[30], st.PagesFrom[0])
	}
}

// locatePage returns where the blob of a model page is stored.
func (h *harness) locatePage(f string, space, page, version, size uint32, zip bool) (path string, off int64) {
	h.t.Helper()
	r, err := repo.Open(h.repo())
	if err != nil {
		h.t.Fatal(err)
	}
	path, off, n, err := r.Locate(repo.Hash(pageContent(f, space, page, version, size, zip)))
	if err != nil {
		h.t.Fatal(err)
	}
	return path, off + n/2
}

// flipPage flips a bit in the stored blob of a model page; the returned function undoes it.
func (h *harness) flipPage(f string, space, page, version, size uint32, zip bool) func() {
	h.t.Helper()
	path, off := h.locatePage(f, space, page, version, size, zip)
	return flipAt(h.t, path, off)
}

// flipAt flips one bit of the byte at off in path and returns a function that flips it back.
func flipAt(t *testing.T, path string, off int64) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x08
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return func() { flipAt(t, path, off) }
}

func TestIncrementalBrokenChain(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	var snaps []map[string]any
	for i := 0; i < 4; i++ {
		if i > 0 {
			changes[i-1](h.fake.model)
		}
		snap, _ := h.backupJSON()
		snaps = append(snaps, snap)
	}
	ids := []string{}
	for _, s := range snaps {
		ids = append(ids, s["id"].(string))
	}
	// The record list of the first incremental is damaged: restoring anything built on it
	// fails before the plugin is asked, naming it.
	r, _ := repo.Open(h.repo())
	treeID, _ := repo.ParseID(snaps[1]["tree"].([]any)[0].(string))
	path, off, n, err := r.Locate(treeID)
	if err != nil {
		t.Fatal(err)
	}
	undo := flipAt(t, path, off+n/2)
	for _, target := range ids[2:] {
		code, stdout, stderr := h.run("restore", "-r", h.repo(), target, "--target", filepath.Join(t.TempDir(), "d"))
		if code != 1 || stdout != "" || !strings.Contains(stderr, "chain of snapshot "+target+" is broken") || !strings.Contains(stderr, "snapshot "+ids[1]+" is damaged") || !strings.Contains(stderr, "record list") {
			t.Errorf("restore %s: exit %d\n%s", target, code, stderr)
		}
		if _, req, _ := h.fake.state(); req != nil {
			t.Errorf("the plugin was asked to restore a broken chain")
		}
	}
	// What does not build on it still restores.
	h.restoreOK(t, ids[0])
	undo()
	h.restoreOK(t, ids[3])

	// The metadata of the second incremental is gone: the third names it as missing.
	os.Remove(filepath.Join(h.repo(), "snapshots", ids[2]+".json"))
	code, _, stderr := h.run("restore", "-r", h.repo(), ids[3], "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "builds on snapshot "+ids[2]+", which is not in") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

func TestIncrementalInconsistentChain(t *testing.T) {
	h := newHarness(t, false)
	m := newChainModel()
	h.fake.model = m
	full, _ := h.backupJSON()
	m.add("shop/late.ibd", 20, 4096, 3, 1)
	m.lie = "shop/late.ibd" // sent as changed pages although the base lacks the file
	inc, _ := h.backupJSON()
	code, _, stderr := h.run("restore", "-r", h.repo(), inc["id"].(string), "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "inconsistent") || !strings.Contains(stderr, "shop/late.ibd") || !strings.Contains(stderr, full["id"].(string)+" lacks it") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

func TestIncrementalTrailerMismatchRecordsNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(m *datadirModel)
		want  string
	}{
		{"base checkpoint", func(m *datadirModel) { m.baseLSNOff = 1 }, "names base checkpoint LSN"},
		{"kind", func(m *datadirModel) { m.sendKind = shared.KindFull }, "a full backup holds only the changed pages of a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, false)
			m := newChainModel()
			h.fake.model = m
			full, _ := h.backupJSON()
			before := map[string][]string{}
			for _, sub := range []string{"snapshots", "index", "tmp", "locks"} {
				before[sub] = dirNames(t, filepath.Join(h.repo(), sub))
			}
			packs := len(h.packFiles())
			changes[0](m)
			tt.setup(m)
			code, stdout, stderr := h.run("backup", "-c", h.config())
			if code != 1 || stdout != "" || !strings.Contains(stderr, "nothing was recorded") || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, full["id"].(string)) {
				t.Errorf("exit %d\n%s", code, stderr)
			}
			for sub, names := range before {
				if got := dirNames(t, filepath.Join(h.repo(), sub)); strings.Join(got, ",") != strings.Join(names, ",") {
					t.Errorf("%s/ holds %v, before the backup %v", sub, got, names)
				}
			}
			if s := h.snapshotsJSON(); len(s) != 1 {
				t.Errorf("%d snapshots", len(s))
			}
			if n := len(h.packFiles()); n != packs {
				t.Errorf("%d packs after the failed backup, %d before", n, packs)
			}
		})
	}
}

// A full backup whose stream marks a file incremental is refused as well.
func TestFullWithIncrementalTablespaceRecordsNothing(t *testing.T) {
	h := newHarness(t, false)
	recs := validStream()
	ts := *recs[2].Tablespace
	ts.Incremental = true
	recs[2] = &shared.Record{Tablespace: &ts}
	d := shared.NewDigester()
	for _, r := range recs[:len(recs)-1] {
		d.Add(r)
	}
	tr := *recs[len(recs)-1].Trailer
	tr.Records, tr.Digest = d.Records(), d.Sum()
	recs[len(recs)-1] = &shared.Record{Trailer: &tr}
	h.fake.records = recs
	code, _, stderr := h.run("backup", "-c", h.config(), "--full")
	if code != 1 || !strings.Contains(stderr, "bad stream: record 11 (Trailer): a full backup holds only the changed pages of a file") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	h.assertNothingRecorded()
}

// --full forces a full even when an incremental is possible.
func TestBackupFullFlag(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	h.backupJSON()
	snap, _ := h.backupJSON("--full")
	if snap["kind"] != "full" || snap["parent"] != "" {
		t.Errorf("backup --full: kind %v parent %v", snap["kind"], snap["parent"])
	}
	// Another source's snapshots are no base.
	h.writeConfig(testConfig + strings.Replace(testConfig[len(`repository = "repo"`):], "primary", "replica", 1))
	snap, stderr := h.backupJSON("--source", "replica")
	if snap["kind"] != "full" || !strings.Contains(stderr, `no snapshot of source "replica"`) {
		t.Errorf("first backup of replica: kind %v\n%s", snap["kind"], stderr)
	}
	snap, _ = h.backupJSON("--source", "primary")
	if snap["kind"] != "incremental" {
		t.Errorf("primary: kind %v", snap["kind"])
	}
}

func TestPurgeFake(t *testing.T) {
	f := &fakeSource{}
	res, err := f.Purge(t.Context(), &shared.PurgeRequest{FloorLSN: 42})
	if err != nil || res.PurgedUpTo != 42 || len(f.purges) != 1 {
		t.Errorf("Purge = %+v, %v", res, err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// Stored data is checked on the way: a damaged page a restore needs fails it, naming the
// snapshot that stored it and the page; a damaged page it does not need is never read; a
// missing pack fails the restore before the plugin is asked; the target's stored trailer is
// checked against the digest its metadata records.
func TestIncrementalRestoreDetectsDamage(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	var ids []string
	for i := 0; i < 4; i++ {
		if i > 0 {
			changes[i-1](h.fake.model)
		}
		snap, _ := h.backupJSON()
		ids = append(ids, snap["id"].(string))
	}
	restore := func(id string) (int, string) {
		h.fake.mu.Lock()
		h.fake.restored, h.fake.restoreReq = nil, nil
		h.fake.mu.Unlock()
		code, _, stderr := h.run("restore", "-r", h.repo(), id, "--target", filepath.Join(t.TempDir(), "d"))
		return code, stderr
	}
	noTrailer := func() {
		t.Helper()
		_, _, restored := h.fake.state()
		for _, r := range restored {
			if r[0] == 'Z' {
				t.Error("the plugin received the trailer of a damaged merge")
			}
		}
	}

	// items.ibd was rewritten by the first incremental: the full's copy is never needed.
	undo := h.flipPage("shop/items.ibd", 8, 0, 1, 1024, true)
	if code, stderr := restore(ids[3]); code != 0 {
		t.Errorf("a damaged page no restore needs failed the restore: %s", stderr)
	}
	if code, stderr := restore(ids[0]); code != 1 || !strings.Contains(stderr, "snapshot "+ids[0]+" is damaged: shop/items.ibd page 0: blob") {
		t.Errorf("restoring the full itself: exit %d\n%s", code, stderr)
	}
	noTrailer()
	undo()

	// orders.ibd page 0 was never rewritten: the full's copy is needed.
	undo = h.flipPage("shop/orders.ibd", 7, 0, 1, 4096, false)
	code, stderr := restore(ids[3])
	if code != 1 || !strings.Contains(stderr, "snapshot "+ids[0]+" is damaged: shop/orders.ibd page 0") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	noTrailer()
	undo()

	// A missing pack is found before the plugin starts.
	path, _ := h.locatePage("shop/orders.ibd", 7, 1, 1, 4096, false)
	saved, _ := os.ReadFile(path)
	os.Remove(path)
	code, stderr = restore(ids[3])
	if code != 1 || !strings.Contains(stderr, "is damaged") || !strings.Contains(stderr, "is missing") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if _, req, _ := h.fake.state(); req != nil {
		t.Error("the plugin was asked to restore although a pack is missing")
	}
	os.WriteFile(path, saved, 0o600)

	// The target's own stream is checked against the digest its metadata records.
	meta := filepath.Join(h.repo(), "snapshots", ids[3]+".json")
	forgeSnapshot(t, meta, func(m map[string]any) { m["stream_digest"] = strings.Repeat("0", 64) })
	code, stderr = restore(ids[3])
	if code != 1 || !strings.Contains(stderr, "snapshot "+ids[3]+" is damaged") || !strings.Contains(stderr, "its metadata says stream_digest 0000") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	noTrailer()
}
