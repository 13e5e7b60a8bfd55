package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// integrityRepo takes F1, I1 on F1, I2 on I1, F2, I3 on F2 and records what each restores.
func integrityRepo(t *testing.T) (h *harness, f1, i1, i2, f2, i3 string, restores map[string][][]byte) {
	h = newHarness(t, false)
	m := newChainModel()
	h.fake.model = m
	var ids []string
	take := func(args ...string) {
		s, _ := h.backupJSON(args...)
		ids = append(ids, s["id"].(string))
	}
	take()
	changes[0](m)
	take()
	changes[1](m)
	take()
	take("--full")
	changes[2](m)
	take()
	restores = map[string][][]byte{}
	for _, id := range ids {
		restores[id] = encodeAll(h.restoreOK(t, id))
	}
	return h, ids[0], ids[1], ids[2], ids[3], ids[4], restores
}

func (h *harness) snapshotFile(id string) string {
	return filepath.Join(h.repo(), "snapshots", id+".json")
}

// repoFiles maps every file of the repository but its locks to the SHA-256 of its content.
func (h *harness) repoFiles() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	filepath.WalkDir(h.repo(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "/locks/") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			h.t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(path, h.repo())] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

func flipSnapshotByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	os.WriteFile(path, b, 0o600)
}

// forget --prune refuses, and deletes nothing, while any snapshot it would keep or delete
// cannot be verified or has a broken chain; --dry-run refuses the same way. repair snapshots
// sets the bad ones aside (never deletes them), and then retention runs and every snapshot
// left restores exactly as before.
func TestForgetRefusesUnverifiableSnapshots(t *testing.T) {
	type setup struct {
		name   string
		damage func(t *testing.T, h *harness, ids map[string]string)
		named  string   // the snapshot the refusal names
		aside  []string // the snapshots repair sets aside
		reason string
	}
	var cases []setup
	for _, k := range []string{"F1", "I1", "I2", "F2", "I3"} {
		aside := map[string][]string{"F1": {"F1", "I1", "I2"}, "I1": {"I1", "I2"}, "I2": {"I2"}, "F2": {"F2", "I3"}, "I3": {"I3"}}[k]
		cases = append(cases, setup{"flipped byte in " + k, func(t *testing.T, h *harness, ids map[string]string) {
			flipSnapshotByte(t, h.snapshotFile(ids[k]))
		}, k, aside, "its file"})
	}
	cases = append(cases,
		setup{"one character of a parent changed", func(t *testing.T, h *harness, ids map[string]string) {
			path := h.snapshotFile(ids["I2"])
			b, _ := os.ReadFile(path)
			parent := `"parent": "` + ids["I1"]
			i := strings.Index(string(b), parent)
			if i < 0 {
				t.Fatalf("no %s in\n%s", parent, b)
			}
			b[i+len(parent)-1] ^= 0x01
			os.WriteFile(path, b, 0o600)
		}, "I2", []string{"I2"}, "checksum"},
		setup{"parent missing", func(t *testing.T, h *harness, ids map[string]string) {
			os.Remove(h.snapshotFile(ids["I1"]))
		}, "I2", []string{"I2"}, "which is not in"},
		setup{"parent forged to one not in the repository", func(t *testing.T, h *harness, ids map[string]string) {
			forgeSnapshot(t, h.snapshotFile(ids["I2"]), func(m map[string]any) { m["parent"] = "0123456789abcdef" })
		}, "I2", []string{"I2"}, "which is not in"},
		setup{"parent of another source", func(t *testing.T, h *harness, ids map[string]string) {
			forgeSnapshot(t, h.snapshotFile(ids["I3"]), func(m map[string]any) { m["source"] = "replica" })
		}, "I3", []string{"I3"}, "of source \"replica\""},
		setup{"a cycle", func(t *testing.T, h *harness, ids map[string]string) {
			forgeSnapshot(t, h.snapshotFile(ids["I1"]), func(m map[string]any) { m["parent"] = ids["I2"] })
		}, "I1", []string{"I1", "I2"}, "loops back"},
		setup{"end_lsn forged", func(t *testing.T, h *harness, ids map[string]string) {
			forgeSnapshot(t, h.snapshotFile(ids["F2"]), func(m map[string]any) { m["end_lsn"] = 99 })
		}, "F2", []string{"F2", "I3"}, "its metadata says end_lsn 99"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, f1, i1, i2, f2, i3, restores := integrityRepo(t)
			ids := map[string]string{"F1": f1, "I1": i1, "I2": i2, "F2": f2, "I3": i3}
			tc.damage(t, h, ids)
			files := h.repoFiles()
			named := ids[tc.named]
			for _, dry := range []bool{true, false} {
				args := []string{"forget", "-r", h.repo(), "--keep-last", "1", "--prune"}
				if dry {
					args = append(args, "--dry-run")
				}
				code, stdout, stderr := h.run(args...)
				if code != 1 || !strings.Contains(stderr, "snapshot "+named+" cannot be verified") || !strings.Contains(stderr, tc.reason) ||
					!strings.Contains(stderr, "host-example repair snapshots -r "+h.repo()) || !strings.Contains(stderr, "nothing was forgotten or pruned") {
					t.Fatalf("%v: exit %d, want 1 naming %s (%s) and the repair command\n%s%s", args, code, named, tc.reason, stdout, stderr)
				}
				if got := h.repoFiles(); !maps.Equal(got, files) {
					t.Fatalf("%v refused but changed the repository:\nbefore %v\nafter  %v", args, files, got)
				}
			}

			// The dry run of repair moves nothing.
			code, stdout, stderr := h.run("repair", "snapshots", "-r", h.repo(), "--dry-run")
			if code != 0 || !strings.Contains(stdout, "would set aside snapshot "+named) || !maps.Equal(h.repoFiles(), files) {
				t.Fatalf("repair --dry-run: exit %d\n%s%s", code, stdout, stderr)
			}
			code, stdout, stderr = h.run("repair", "snapshots", "-r", h.repo(), "--json")
			var rep struct {
				SetAside []struct {
					ID      string `json:"id"`
					MovedTo string `json:"moved_to"`
				} `json:"set_aside"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil {
				t.Fatalf("repair: exit %d %v\n%s%s", code, err, stdout, stderr)
			}
			var aside, want []string
			for _, s := range rep.SetAside {
				aside = append(aside, s.ID)
				if s.MovedTo != filepath.Join(h.repo(), "quarantine", s.ID+".json") {
					t.Errorf("snapshot %s moved to %q", s.ID, s.MovedTo)
				}
				if _, err := os.Stat(filepath.Join(h.repo(), "quarantine", s.ID+".reason.txt")); err != nil {
					t.Errorf("no reason kept for %s: %v", s.ID, err)
				}
			}
			for _, k := range tc.aside {
				if _, err := os.Stat(h.snapshotFile(ids[k])); err == nil || tc.name != "parent missing" || k != "I1" {
					want = append(want, ids[k])
				}
			}
			slices.Sort(aside)
			slices.Sort(want)
			if !reflect.DeepEqual(aside, want) {
				t.Fatalf("repair set aside %v, want %v (%v)", aside, want, tc.aside)
			}
			for _, id := range aside {
				if _, err := os.Stat(filepath.Join(h.repo(), "quarantine", id+".json")); err != nil {
					t.Errorf("snapshot %s is not in quarantine: %v", id, err)
				}
			}

			code, stdout, stderr = h.run("forget", "-r", h.repo(), "--keep-last", "1", "--prune")
			if code != 0 {
				t.Fatalf("forget after repair: exit %d\n%s%s", code, stdout, stderr)
			}
			if code, c, _ := h.checkJSON("--read-data"); code != 0 || !c.OK {
				t.Errorf("check --read-data after retention: exit %d %+v", code, c)
			}
			left := h.snapshotsJSON()
			if len(left) == 0 {
				t.Fatal("no snapshot left")
			}
			for _, s := range left {
				id := s["id"].(string)
				if got := encodeAll(h.restoreOK(t, id)); !reflect.DeepEqual(got, restores[id]) {
					t.Errorf("snapshot %s restores differently after repair and retention", id)
				}
			}
		})
	}
}

// A truncated snapshot file breaks nothing else: snapshots lists the others and names it
// (exit 1), check names it and the incrementals that build on it, the other snapshots restore,
// restoring it names it, and forget refuses.
func TestTruncatedSnapshotFile(t *testing.T) {
	h, f1, i1, i2, f2, i3, restores := integrityRepo(t)
	path := h.snapshotFile(i1)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)/3], 0o600)

	code, stdout, stderr := h.run("snapshots", "-r", h.repo())
	if code != 1 || !strings.Contains(stderr, "snapshot "+i1+" cannot be verified") || !strings.Contains(stderr, "does not parse") || strings.Contains(stdout, "\n"+i1) {
		t.Errorf("snapshots: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, id := range []string{f1, i2, f2, i3} {
		if !strings.Contains(stdout, id) {
			t.Errorf("snapshots does not list %s:\n%s", id, stdout)
		}
	}
	code, c, _ := h.checkJSON()
	damaged := map[string]string{}
	for _, d := range c.Damaged {
		damaged[d.ID] = d.Problems[0].What + ": " + d.Problems[0].Reason
	}
	if code != 1 || !strings.Contains(damaged[i1], "its snapshot file") || !strings.Contains(damaged[i2], "builds on snapshot "+i1+", which cannot be verified") || len(damaged) != 2 {
		t.Errorf("check: exit %d, damaged %v", code, damaged)
	}
	if u := slices.Sorted(slices.Values(c.Unaffected)); !reflect.DeepEqual(u, slices.Sorted(slices.Values([]string{f1, f2, i3}))) {
		t.Errorf("unaffected %v", u)
	}
	for _, id := range []string{f1, f2, i3} {
		if got := encodeAll(h.restoreOK(t, id)); !reflect.DeepEqual(got, restores[id]) {
			t.Errorf("snapshot %s restores differently", id)
		}
	}
	code, _, stderr = h.run("restore", "-r", h.repo(), i1, "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "snapshot "+i1+" cannot be verified") {
		t.Errorf("restore of the truncated snapshot: exit %d\n%s", code, stderr)
	}
	code, _, stderr = h.run("forget", "-r", h.repo(), "--keep-last", "2")
	if code != 1 || !strings.Contains(stderr, i1) {
		t.Errorf("forget: exit %d\n%s", code, stderr)
	}
}

// Forged consistency coordinates (or digest) with a checksum that matches: check reports the
// snapshot, restore refuses before the plugin gets a trailer, and nothing prints the forged
// values as the point the datadir is consistent at. Without a recomputed checksum the edit is
// caught by the checksum.
func TestForgedMetadataIsDamage(t *testing.T) {
	h, f1, _, i2, _, _, _ := integrityRepo(t)
	fields := map[string]any{
		"stream_digest": strings.Repeat("0", 64), "end_lsn": 12345, "binlog_pos": 777,
		"gtid_executed": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-999", "binlog_file": "binlog.000999", "checkpoint_lsn": 4242,
	}
	for _, id := range []string{f1, i2} {
		for field, forged := range fields {
			t.Run(fmt.Sprintf("%s/%s", id[:4], field), func(t *testing.T) {
				path := h.snapshotFile(id)
				saved, _ := os.ReadFile(path)
				defer os.WriteFile(path, saved, 0o600)
				forgeSnapshot(t, path, func(m map[string]any) { m[field] = forged })
				want := fmt.Sprintf("its metadata says %s %v", field, forged)

				code, c, _ := h.checkJSON()
				found := false
				for _, d := range c.Damaged {
					for _, p := range d.Problems {
						found = found || (d.ID == id && strings.Contains(p.Reason, want))
					}
				}
				if code != 1 || !found {
					t.Errorf("check: exit %d, want %s damaged saying %q: %+v", code, id, want, c.Damaged)
				}
				code, stdout, stderr := h.run("restore", "-r", h.repo(), id, "--target", filepath.Join(t.TempDir(), "d"))
				if code != 1 || !strings.Contains(stderr, "snapshot "+id) || !strings.Contains(stderr, want) || stdout != "" {
					t.Errorf("restore: exit %d, want it refused saying %q\n%s%s", code, want, stdout, stderr)
				}
				_, _, restored := h.fake.state()
				for _, r := range restored {
					if r[0] == 'Z' {
						t.Error("the plugin received the trailer of a snapshot whose metadata is forged")
					}
				}

				// The same edit without a matching checksum.
				os.WriteFile(path, saved, 0o600)
				b := strings.Replace(string(saved), `"end_lsn": `, `"end_lsn": 1`, 1)
				os.WriteFile(path, []byte(b), 0o600)
				code, stdout, stderr = h.run("restore", "-r", h.repo(), id, "--target", filepath.Join(t.TempDir(), "d"))
				if code != 1 || !strings.Contains(stderr, "does not match its checksum") || stdout != "" {
					t.Errorf("restore of an edited file: exit %d\n%s%s", code, stdout, stderr)
				}
			})
		}
	}
	// Intact, the restore prints the coordinates of the trailer it verified.
	code, stdout, stderr := h.run("restore", "-r", h.repo(), f1, "--target", filepath.Join(t.TempDir(), "d"))
	snap := h.snapshotsJSON()[0]
	want := fmt.Sprintf("consistent at LSN %d", int64(snap["end_lsn"].(float64)))
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("restore: exit %d, want %q\n%s%s", code, want, stdout, stderr)
	}
}

// An emptied index file: check and restore agree. The snapshot whose data only that index
// file listed is damaged for both, naming the missing data; the others check out and restore.
func TestEmptiedIndexFile(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	a, _ := h.backupJSON()
	before := map[string]bool{}
	for _, n := range dirNames(t, filepath.Join(h.repo(), "index")) {
		before[n] = true
	}
	h.fake.model.write("shop/orders.ibd", 9, 1, 2)
	b, _ := h.backupJSON("--full")
	var bIndex string
	for _, n := range dirNames(t, filepath.Join(h.repo(), "index")) {
		if !before[n] {
			bIndex = filepath.Join(h.repo(), "index", n)
		}
	}
	if err := os.WriteFile(bIndex, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	aID, bID := a["id"].(string), b["id"].(string)

	code, c, _ := h.checkJSON()
	if code != 1 || len(c.Errors) != 1 || !strings.Contains(c.Errors[0], "index file") || len(c.Damaged) != 1 || c.Damaged[0].ID != bID || !reflect.DeepEqual(c.Unaffected, []string{aID}) {
		t.Fatalf("check: exit %d %+v", code, c)
	}
	h.restoreOK(t, aID) // check says it restores: it does
	code, _, stderr := h.run("restore", "-r", h.repo(), bID, "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "snapshot "+bID) || !strings.Contains(stderr, "missing from the index") {
		t.Errorf("restore of the snapshot check calls damaged: exit %d\n%s", code, stderr)
	}
	// Retention deletes nothing: the snapshot's metadata cannot be checked against its record
	// list, and prune refuses while an index file is damaged.
	files := h.repoFiles()
	code, _, stderr = h.run("forget", "-r", h.repo(), "--keep-last", "2", "--prune")
	if code != 1 || !strings.Contains(stderr, "snapshot "+bID+" cannot be verified") || !maps.Equal(files, h.repoFiles()) {
		t.Errorf("forget --prune with an emptied index file: exit %d\n%s", code, stderr)
	}
}

// A format-2 repository (snapshot files without checksums) is refused with the way out;
// migrate checksums every snapshot whose metadata matches its record list, sets aside one that
// does not, and the repository then works as before.
func TestMigrateFormat2(t *testing.T) {
	h, f1, i1, i2, f2, i3, restores := integrityRepo(t)
	// Make it format 2: plain snapshot JSON, config format 2; I3's end_lsn edited.
	for _, id := range []string{f1, i1, i2, f2, i3} {
		b, _ := os.ReadFile(h.snapshotFile(id))
		var env struct{ Snapshot json.RawMessage }
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		old := env.Snapshot
		if id == i3 {
			var m map[string]any
			json.Unmarshal(old, &m)
			m["end_lsn"] = 1
			old, _ = json.Marshal(m)
		}
		os.WriteFile(h.snapshotFile(id), old, 0o600)
	}
	cfgPath := filepath.Join(h.repo(), "config.json")
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), `"format": 3`, `"format": 2`, 1)), 0o600)

	code, _, stderr := h.run("snapshots", "-r", h.repo())
	if code != 1 || !strings.Contains(stderr, "host-example migrate -r "+h.repo()) {
		t.Fatalf("format 2: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := h.run("migrate", "-r", h.repo())
	if code != 0 || !strings.Contains(stdout, "from format 2 to 3: 4 snapshot file(s) checksummed, 1 set aside") || !strings.Contains(stdout, "set aside snapshot "+i3) {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(h.repo(), "quarantine", i3+".json")); err != nil {
		t.Error(err)
	}
	code, stdout, _ = h.run("migrate", "-r", h.repo())
	if code != 0 || !strings.Contains(stdout, "nothing to do") {
		t.Errorf("second migrate: exit %d\n%s", code, stdout)
	}
	if code, c, _ := h.checkJSON("--read-data"); code != 0 || !c.OK || len(c.Unaffected) != 4 {
		t.Errorf("check after migrate: exit %d %+v", code, c)
	}
	for _, id := range []string{f1, i1, i2, f2} {
		if got := encodeAll(h.restoreOK(t, id)); !reflect.DeepEqual(got, restores[id]) {
			t.Errorf("snapshot %s restores differently after migrate", id)
		}
	}
}
