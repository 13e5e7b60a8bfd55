package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

type checkJSON struct {
	OK           bool     `json:"ok"`
	Snapshots    int      `json:"snapshots"`
	ReadData     bool     `json:"read_data"`
	BlobsRead    uint64   `json:"blobs_read"`
	PagesChecked uint64   `json:"pages_checked"`
	NotChecked   string   `json:"pages_not_checked"`
	Errors       []string `json:"errors"`
	Damaged      []struct {
		ID       string `json:"id"`
		Problems []struct {
			What     string   `json:"what"`
			Pages    []uint64 `json:"pages"`
			StoredIn string   `json:"stored_in"`
			Reason   string   `json:"reason"`
		} `json:"problems"`
	} `json:"damaged"`
	Unaffected []string `json:"unaffected"`
	Info       []string `json:"info"`
}

func (h *harness) checkJSON(args ...string) (int, checkJSON, string) {
	h.t.Helper()
	code, stdout, stderr := h.run(append([]string{"check", "-r", h.repo(), "--json"}, args...)...)
	var c checkJSON
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		h.t.Fatalf("check --json: %v\n%s\n%s", err, stdout, stderr)
	}
	return code, c, stderr
}

// chainRepo takes F1, I1, I2, I3 (a chain) and F2 (a second full) of the chain model.
func chainRepo(t *testing.T) (*harness, []string) {
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
	snap, _ := h.backupJSON("--full")
	return h, append(ids, snap["id"].(string))
}

func TestCheckClean(t *testing.T) {
	h, ids := chainRepo(t)
	code, stdout, stderr := h.run("check", "-r", h.repo())
	if code != 0 || !strings.Contains(stdout, "5 snapshots") || !strings.Contains(stdout, "no damage found") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	code, c, stderr := h.checkJSON("--read-data")
	if code != 0 || !c.OK || !c.ReadData || c.PagesChecked == 0 || c.BlobsRead == 0 || len(c.Unaffected) != len(ids) || len(c.Damaged) != 0 || len(c.Errors) != 0 || len(c.Info) != 0 || c.NotChecked != "" {
		t.Errorf("check --read-data: exit %d %+v\n%s", code, c, stderr)
	}
	if c.PagesChecked != uint64(h.fake.pagesChecked) {
		t.Errorf("check reports %d pages checked, the plugin checked %d", c.PagesChecked, h.fake.pagesChecked)
	}
}

// check --read-data has the source plugin check every stored page: a page the plugin refuses
// is damage of the snapshot that holds it, named by file and page. A plugin that does not
// check pages leaves them unchecked, and the report says so.
func TestCheckReadDataAsksThePluginAboutPages(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		good := h.backup()
		recs := validStream()
		bad := *recs[5].Pages // shop/orders.ibd pages 0 and 1
		bad.Data = append([]byte(nil), bad.Data...)
		copy(bad.Data[16384:], "bad page")
		recs[5] = &shared.Record{Pages: &bad}
		h.fake.records = streamtest.Reseal(recs)
		damaged := h.backup()

		code, c, stderr := h.checkJSON("--read-data")
		if code != 1 || c.OK || len(c.Damaged) != 1 || c.Damaged[0].ID != damaged || len(c.Unaffected) != 1 || c.Unaffected[0] != good {
			t.Fatalf("check --read-data: exit %d %+v\n%s", code, c, stderr)
		}
		p := c.Damaged[0].Problems
		if len(p) != 1 || p[0].What != "shop/orders.ibd" || !slices.Equal(p[0].Pages, []uint64{1}) || !strings.Contains(p[0].Reason, "fails the source's page check: fake: a bad page") {
			t.Errorf("problems: %+v", p)
		}

		h.fake.noPageCheck = true
		code, stdout, stderr := h.run("check", "-r", h.repo(), "--read-data")
		if code != 0 || !strings.Contains(stdout, "0 pages checked by the source plugin") || !strings.Contains(stdout, "pages NOT checked: ") || !strings.Contains(stdout, "the fake checks no pages") {
			t.Errorf("check --read-data with a plugin that checks no pages: exit %d\n%s%s", code, stdout, stderr)
		}
	})
}

// A flipped byte in a page stored once but needed by several snapshots: check --read-data
// names every snapshot whose restore needs it (the incrementals that build on the snapshot
// that stored it, and a later full that holds the same page), the file and the page, and
// the snapshots that are not affected; those still restore.
func TestCheckNamesEverySnapshotADamagedPageAffects(t *testing.T) {
	h, ids := chainRepo(t)
	f1, i1, i2, i3, f2 := ids[0], ids[1], ids[2], ids[3], ids[4]
	// ibdata1 page 5, version 2, was written before I1: stored by I1, needed by I2 and I3
	// through the chain, and by F2, which holds the same page (stored once).
	h.flipPage("ibdata1", 0, 5, 2, 4096, false)

	// Without --read-data, data is not read: sizes and references are intact.
	if code, stdout, _ := h.run("check", "-r", h.repo()); code != 0 || !strings.Contains(stdout, "data not read") {
		t.Errorf("check without --read-data: exit %d\n%s", code, stdout)
	}

	code, c, _ := h.checkJSON("--read-data")
	if code != 1 || c.OK {
		t.Fatalf("check --read-data: exit %d, ok %v", code, c.OK)
	}
	var damaged []string
	for _, d := range c.Damaged {
		damaged = append(damaged, d.ID)
		if len(d.Problems) != 1 {
			t.Errorf("snapshot %s: %d problems: %+v", d.ID, len(d.Problems), d.Problems)
			continue
		}
		p := d.Problems[0]
		want := ""
		if d.ID == i2 || d.ID == i3 {
			want = i1
		}
		if p.What != "ibdata1" || !reflect.DeepEqual(p.Pages, []uint64{5}) || p.StoredIn != want || p.Reason == "" {
			t.Errorf("snapshot %s: %+v; want ibdata1 page 5 stored in %q", d.ID, p, want)
		}
	}
	if want := []string{i1, i2, i3, f2}; !reflect.DeepEqual(damaged, want) {
		t.Errorf("damaged snapshots %v, want %v", damaged, want)
	}
	if !reflect.DeepEqual(c.Unaffected, []string{f1}) {
		t.Errorf("unaffected %v, want [%s]", c.Unaffected, f1)
	}

	// The text report says the same.
	code, stdout, stderr := h.run("check", "-r", h.repo(), "--read-data")
	for _, want := range []string{
		"snapshot " + i2 + " (primary, incremental,",
		"ibdata1, page 5 (stored in snapshot " + i1 + "): blob ",
		"snapshots not affected (they restore): " + f1,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if code != 1 || !strings.Contains(stderr, "4 snapshot(s) affected") {
		t.Errorf("exit %d\n%s", code, stderr)
	}

	// The unaffected snapshot restores; an affected one does not.
	h.restoreOK(t, f1)
	if code, _, stderr := h.run("restore", "-r", h.repo(), i3, "--target", filepath.Join(t.TempDir(), "d")); code != 1 || !strings.Contains(stderr, "snapshot "+i1+" is damaged: ibdata1 page 5") {
		t.Errorf("restore of %s: exit %d\n%s", i3, code, stderr)
	}
}

// A missing pack is found without reading data, and named per snapshot.
func TestCheckMissingPack(t *testing.T) {
	h, ids := chainRepo(t)
	path, _ := h.locatePage("shop/orders.ibd", 7, 0, 1, 4096, false)
	os.Remove(path)
	code, c, _ := h.checkJSON()
	if code != 1 || len(c.Errors) == 0 || !strings.Contains(c.Errors[0], "is missing") {
		t.Fatalf("exit %d: %+v", code, c)
	}
	// The pack holds everything F1 stored, its record list included: F1 and the
	// incrementals built on it cannot be restored, and F2 shares orders.ibd page 0 with it.
	if len(c.Damaged) != len(ids) {
		t.Fatalf("damaged: %+v", c.Damaged)
	}
	for i, d := range c.Damaged {
		p := d.Problems[0]
		switch {
		case i == 0 && p.What != "its record list":
			t.Errorf("F1: %+v", d.Problems)
		case i > 0 && i < 4 && (p.What != "its chain" || p.StoredIn != ids[0]):
			t.Errorf("I%d: %+v", i, d.Problems)
		case i == 4:
			found := false
			for _, p := range d.Problems {
				found = found || (p.What == "shop/orders.ibd" && slices.Contains(p.Pages, 0) && strings.Contains(p.Reason, "is missing"))
			}
			if !found {
				t.Errorf("F2: %+v", d.Problems)
			}
		}
	}
}

// Data no snapshot refers to is information, not damage.
func TestCheckUnreferencedIsInfo(t *testing.T) {
	h, _ := chainRepo(t)
	// A forgotten snapshot's data stays until prune.
	if code, _, stderr := h.run("forget", "-r", h.repo(), "--keep-last", "1"); code != 0 {
		t.Fatalf("forget: %s", stderr)
	}
	// A pack left by an interrupted backup.
	os.WriteFile(filepath.Join(h.repo(), "data", "ab", strings.Repeat("ab", 32)), []byte("left"), 0o600)
	os.WriteFile(filepath.Join(h.repo(), "tmp", "pack-0123.partial"), []byte("left"), 0o600)
	code, c, stderr := h.checkJSON("--read-data")
	if code != 0 || !c.OK || len(c.Info) != 3 {
		t.Fatalf("exit %d %+v\n%s", code, c, stderr)
	}
	for i, want := range []string{"listed in no index", "tmp/", "referenced by no snapshot"} {
		if !strings.Contains(c.Info[i], want) {
			t.Errorf("info %d: %q lacks %q", i, c.Info[i], want)
		}
	}
	// prune removes all of it.
	if code, _, stderr := h.run("forget", "-r", h.repo(), "--keep-last", "1", "--prune"); code != 0 {
		t.Fatalf("prune: %s", stderr)
	}
	if code, c, _ := h.checkJSON("--read-data"); code != 0 || len(c.Info) != 0 {
		t.Errorf("after prune: exit %d, info %v", code, c.Info)
	}
}
