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
	m.add("ibdata1", 0, 1024, 12, 1)
	m.add("undo_001", 4294967279, 1024, 6, 1)
	m.add("shop/orders.ibd", 7, 1024, 20, 1)
	m.write("shop/orders.ibd", 0, 15, 16, 17, 18, 19) // allocated, never written
	m.add("shop/items.ibd", 8, 512, 10, 1).zip = true
	m.add("shop/log.ibd", 9, 1024, 8, 1).growLate = true
	m.add("shop/old.ibd", 10, 1024, 5, 1)
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
		m.add("shop/new.ibd", 11, 1024, 7, 3)
		m.write("shop/orders.ibd", 3, 2)
		m.resize("shop/orders.ibd", 25)
		m.write("shop/orders.ibd", 3, 20, 21, 22)
	},
	func(m *datadirModel) {
		// TRUNCATE TABLE: the file is re-created with a new space id.
		m.drop("shop/items.ibd")
		m.add("shop/items.ibd", 12, 512, 4, 4).zip = true
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
				n := checkRestored(t, restored, chain)
				if i == 0 {
					if h.merge != nil {
						t.Error("restoring a full snapshot merged")
					}
					return
				}
				checkMergeStats(t, h.merge, snaps[:i+1], states[:i+1], n)
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
func checkRestored(t *testing.T, recs []*shared.Record, chain []*modelState) uint64 {
	t.Helper()
	want := chain[0]
	if len(chain) == 1 {
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
	merged := len(chain) > 1
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
			page, ok := got[f.path][uint32(p)]
			switch {
			case ok && !bytes.Equal(page, pageContent(f.path, f.space, uint32(p), v, f.pageSize)):
				t.Errorf("%s page %d is not version %d: %.40q", f.path, p, v, page)
			case !ok && v != 0:
				t.Errorf("%s page %d (version %d) was not sent", f.path, p, v)
			}
			if ok != presentInChain(chain, &f, uint32(p)) {
				t.Errorf("%s page %d: sent %v, but the chain's copies say %v", f.path, p, ok, !ok)
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
	return pages
}

// checkMergeStats checks what a merge read: each stream at most once, no record of a base
// decoded unless it held a wanted page, and as many pages sent as the restored stream holds.
func checkMergeStats(t *testing.T, st *cli.MergeStats, snaps []map[string]any, states []*modelState, pages uint64) {
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
	if st.PagesEmitted != pages || st.PagesPlanned != pages {
		t.Errorf("merge sent %d pages, planned %d; the plugin got %d", st.PagesEmitted, st.PagesPlanned, pages)
	}
	var size uint64
	for _, f := range states[len(states)-1].files {
		size += uint64(len(f.versions))
	}
	if st.PagesPlanned+st.PagesLeftZero != size {
		t.Errorf("planned %d pages and left %d to zeros; the target's files have %d", st.PagesPlanned, st.PagesLeftZero, size)
	}
	seen := map[string]bool{}
	var fromStreams uint64
	for k, s := range st.Streams {
		if seen[s.Snapshot] {
			t.Errorf("stream of %s read twice", s.Snapshot)
		}
		seen[s.Snapshot] = true
		fromStreams += s.PagesEmitted
		if s.PagesEmitted != s.PagesPlanned {
			t.Errorf("stream %s: sent %d pages of %d planned", s.Snapshot, s.PagesEmitted, s.PagesPlanned)
		}
		if k == 0 {
			if s.Snapshot != st.Chain[0] || !s.Whole {
				t.Errorf("the target's stream was not read first and whole: %+v", s)
			}
			continue
		}
		if s.PageRecordsUnneeded != 0 {
			t.Errorf("stream %s: %d page records decoded without a wanted page", s.Snapshot, s.PageRecordsUnneeded)
		}
		// A base's decoded records are its header, tablespace records and the page records
		// with a wanted page; the others were skipped after their head.
		var ts uint64
		for k, snap := range snaps {
			if snap["id"] == s.Snapshot {
				for _, r := range states[k].stream {
					if r.Tablespace != nil {
						ts++
					}
				}
			}
		}
		if s.Read.Decoded < 1+s.PageRecords || s.Read.Decoded > 1+ts+s.PageRecords || s.Read.Decoded+s.Read.Skipped != s.Read.Records {
			t.Errorf("stream %s: %+v decoded records beyond its header, %d tablespaces and %d wanted page records", s.Snapshot, s.Read, ts, s.PageRecords)
		}
		if s.Whole {
			t.Errorf("stream %s was read to its end, past its last wanted page", s.Snapshot)
		}
		if s.PagesPlanned == 0 {
			t.Errorf("stream %s was read for no page", s.Snapshot)
		}
	}
	if fromStreams != pages {
		t.Errorf("streams sent %d pages, the plugin got %d", fromStreams, pages)
	}
	if len(snaps) == 6 {
		full := st.Streams[len(st.Streams)-1]
		if full.Snapshot != st.Chain[5] || full.Read.Skipped == 0 {
			t.Errorf("the full's stream skipped no record although most of it is superseded: %+v", full)
		}
		t.Logf("6-deep chain: %d pages sent; streams read: %+v", pages, st.Streams)
	}
}

func TestIncrementalBrokenChain(t *testing.T) {
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
	// The stream of the first incremental is gone: restoring anything built on it fails
	// before the plugin is asked, naming it.
	os.Remove(filepath.Join(h.repo(), "streams", ids[1]+".pgs"))
	for _, target := range ids[2:] {
		code, stdout, stderr := h.run("restore", "-r", h.repo(), target, "--target", filepath.Join(t.TempDir(), "d"))
		if code != 1 || stdout != "" || !strings.Contains(stderr, "chain of snapshot "+target+" is broken") || !strings.Contains(stderr, ids[1]) || !strings.Contains(stderr, "missing") {
			t.Errorf("restore %s: exit %d\n%s", target, code, stderr)
		}
		if _, req, _ := h.fake.state(); req != nil {
			t.Errorf("the plugin was asked to restore a broken chain")
		}
	}
	// What does not build on it still restores.
	h.restoreOK(t, ids[0])

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
	m.add("shop/late.ibd", 20, 1024, 3, 1)
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
		{"kind", func(m *datadirModel) { m.sendKind = shared.KindFull }, `sent a "full" backup`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, false)
			m := newChainModel()
			h.fake.model = m
			full, _ := h.backupJSON()
			before := map[string][]string{}
			for _, sub := range []string{"snapshots", "streams", "tmp"} {
				before[sub] = dirNames(t, filepath.Join(h.repo(), sub))
			}
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
	if code != 1 || !strings.Contains(stderr, "only the changed pages of ibdata1") {
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
// snapshot; a damaged page it does not need is never decoded; the target's stream is checked
// against its digest.
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
	fullStream := filepath.Join(h.repo(), "streams", ids[0]+".pgs")
	pristine, err := os.ReadFile(fullStream)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(marker string) {
		os.WriteFile(fullStream, pristine, 0o600)
		recompress(t, fullStream, func(b []byte) {
			i := bytes.Index(b, []byte(marker))
			if i < 0 {
				t.Fatalf("no %q in the full's stream", marker)
			}
			b[i+3] ^= 0x20
		})
	}
	restore := func(id string) (int, string) {
		h.fake.restored = nil
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
	flip("shop/items.ibd#8 p0 v1|")
	if code, stderr := restore(ids[3]); code != 0 {
		t.Errorf("a damaged page no restore needs failed the restore: %s", stderr)
	}
	if code, stderr := restore(ids[0]); code != 1 || !strings.Contains(stderr, "fails its checksum") {
		t.Errorf("restoring the full itself: exit %d\n%s", code, stderr)
	}

	// orders.ibd page 0 was never rewritten: the full's copy is needed.
	flip("shop/orders.ibd#7 p0 v1|")
	code, stderr := restore(ids[3])
	if code != 1 || !strings.Contains(stderr, "snapshot "+ids[0]+" is damaged") || !strings.Contains(stderr, "fails its checksum") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	noTrailer()
	os.WriteFile(fullStream, pristine, 0o600)

	// The target's own stream is checked against the digest its metadata records.
	meta := filepath.Join(h.repo(), "snapshots", ids[3]+".json")
	b, _ := os.ReadFile(meta)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["stream_digest"] = strings.Repeat("0", 64)
	b, _ = json.Marshal(m)
	os.WriteFile(meta, b, 0o600)
	code, stderr = restore(ids[3])
	if code != 1 || !strings.Contains(stderr, "snapshot "+ids[3]+" is damaged") || !strings.Contains(stderr, "not the 0000") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	noTrailer()
}
