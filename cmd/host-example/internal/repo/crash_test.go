package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// crashAt makes the n-th time step is reached "kill" the process there (see crashHook).
func crashAt(t *testing.T, step string, n int) {
	t.Helper()
	seen := 0
	crashHook = func(s string) bool {
		if s != step {
			return false
		}
		seen++
		return seen == n
	}
	t.Cleanup(func() { crashHook = nil })
}

// checkIntact runs Check with --read-data and fails on any damage.
func checkIntact(t *testing.T, r *Local) *CheckReport {
	t.Helper()
	rep, err := r.Check(context.Background(), true, &testPages{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("check found damage: errors %v, damaged %+v", rep.Errors, rep.Damaged)
	}
	return rep
}

// A backup that dies at any step of storing its stream leaves either the repository as it
// was or the complete new snapshot: check passes, only complete snapshots are listed and
// restore, and the next backup (and a prune) succeed.
func TestCrashAtEveryCommitStep(t *testing.T) {
	steps := []struct {
		step string
		n    int
		// recorded: the snapshot is complete and listed after the crash.
		recorded bool
	}{
		{"pack-stored", 1, false},         // the first full pack is in data/
		{"pack-stored", 2, false},         // the second
		{"packs-stored", 1, false},        // every pack is in place, no index yet
		{"atomic-file-synced", 1, false},  // the index file is written in tmp/
		{"atomic-file-renamed", 1, false}, // the index file is in index/, its directory not synced
		{"index-stored", 1, false},        // the index is durable, no snapshot metadata yet
		{"atomic-file-synced", 2, false},  // the metadata is written in tmp/
		{"atomic-file-renamed", 2, true},  // the metadata is in snapshots/
	}
	base := testStream(200, 1)
	next := testStream(1200, 1000) // > 16 MiB: two packs at least
	for _, st := range steps {
		t.Run(fmt.Sprintf("%s#%d", st.step, st.n), func(t *testing.T) {
			r := newRepo(t)
			old := store(t, r, base, time.Now())
			crashAt(t, st.step, st.n)
			_, err := tryStore(r, next, time.Now())
			if !errors.Is(err, errCrashed) {
				t.Fatalf("the backup did not crash at %s: %v", st.step, err)
			}
			crashHook = nil

			r, err = Open(r.Location())
			if err != nil {
				t.Fatal(err)
			}
			snaps, err := r.Snapshots(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + map[bool]int{false: 0, true: 1}[st.recorded]; len(snaps) != want {
				t.Fatalf("%d snapshots listed, want %d", len(snaps), want)
			}
			rep := checkIntact(t, r)
			if !st.recorded && len(rep.Info) == 0 {
				t.Errorf("check reports nothing of what the crashed backup left")
			}
			got, err := readAll(t, r, old.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, base)
			if st.recorded {
				got, err := readAll(t, r, snaps[1].ID)
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, got, next)
			}

			// The next backup succeeds and restores; prune removes what the crash left.
			again := store(t, r, next, time.Now())
			got, err = readAll(t, r, again.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, next)
			lk, err := r.Lock(context.Background(), true, "prune")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Prune(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			lk.Unlock()
			if rep := checkIntact(t, r); len(rep.Info) != 0 {
				t.Errorf("after prune: %v", rep.Info)
			}
			got, err = readAll(t, r, again.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, next)
		})
	}
}

// A prune that dies at any step leaves every kept snapshot restorable and check passing; the
// next prune finishes the job.
func TestPruneCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		step string
		n    int
	}{
		{"pack-stored", 1}, // never reached: prune's packs are not a backup's
		{"prune-packs-written", 1},
		{"atomic-file-synced", 1},
		{"atomic-file-renamed", 1},
		{"prune-index-written", 1},
		{"prune-old-index-removed", 1},
	}
	a := testStream(300, 1)
	b := testStream(300, 151) // shares 150 pages with a
	for _, st := range steps {
		t.Run(st.step, func(t *testing.T) {
			r := newRepo(t)
			sa := store(t, r, a, time.Now())
			sb := store(t, r, b, time.Now())
			if err := r.RemoveSnapshots(context.Background(), []string{sa.ID}); err != nil {
				t.Fatal(err)
			}
			lk, err := r.Lock(context.Background(), true, "prune")
			if err != nil {
				t.Fatal(err)
			}
			crashAt(t, st.step, st.n)
			_, err = r.Prune(context.Background(), false)
			crashHook = nil
			lk.Unlock()
			if st.step == "pack-stored" {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, errCrashed) {
				t.Fatalf("prune did not crash at %s: %v", st.step, err)
			}
			r, _ = Open(r.Location())
			checkIntact(t, r)
			got, err := readAll(t, r, sb.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, b)

			lk, _ = r.Lock(context.Background(), true, "prune")
			rep, err := r.Prune(context.Background(), false)
			lk.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if after := checkIntact(t, r); len(after.Info) != 0 {
				t.Errorf("after the second prune: %v (%+v)", after.Info, rep)
			}
			got, err = readAll(t, r, sb.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, b)
		})
	}
}

// prune rewrites partly used packs, deletes unused ones and keeps every used blob.
func TestPruneRewritesPartlyUsedPacks(t *testing.T) {
	r := newRepo(t)
	a := testStream(300, 1)
	b := testStream(300, 151)
	c := testStream(50, 5000)
	sa := store(t, r, a, time.Now())
	sb := store(t, r, b, time.Now())
	sc := store(t, r, c, time.Now())
	if err := r.RemoveSnapshots(context.Background(), []string{sc.ID, sa.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(context.Background(), false); err == nil {
		t.Fatal("prune ran without an exclusive lock")
	}
	dry, err := r.Prune(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	lk, _ := r.Lock(context.Background(), true, "prune")
	rep, err := r.Prune(context.Background(), false)
	lk.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRewritten != 1 || rep.PacksDeleted != 1 || rep.PacksKept != 1 || rep.BlobsRemoved < 150+50 || rep.IndexFilesReplaced != 3 {
		t.Errorf("prune: %+v", rep)
	}
	if !dry.DryRun || dry.BlobsRemoved != rep.BlobsRemoved || dry.PacksRewritten != rep.PacksRewritten || dry.PacksDeleted != rep.PacksDeleted || dry.PackBytesAfter <= 0 {
		t.Errorf("dry run %+v, real %+v", dry, rep)
	}
	checkIntact(t, r)
	got, err := readAll(t, r, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, b)
	idx, _, _ := loadIndex(r.Location())
	if len(idx.Files) != 1 {
		t.Errorf("%d index files after prune", len(idx.Files))
	}
}

// A damaged (or emptied) index file is an error of its own, and every snapshot whose blobs
// only it listed is named; check and restore agree on which snapshots restore: the others read
// back whole, the named ones fail naming the missing blob.
func TestDamagedIndexFile(t *testing.T) {
	for _, emptied := range []bool{false, true} {
		t.Run(fmt.Sprintf("emptied=%v", emptied), func(t *testing.T) { testDamagedIndexFile(t, emptied) })
	}
}

func testDamagedIndexFile(t *testing.T, emptied bool) {
	r := newRepo(t)
	a := store(t, r, testStream(20, 1), time.Now())
	b := store(t, r, testStream(20, 500), time.Now())
	idx, _, _ := loadIndex(r.Location())
	// The second index file is b's (a's was written first; find it by its packs).
	var bIndex string
	for _, f := range idx.Files {
		data, _ := os.ReadFile(filepath.Join(r.Location(), indexDir, f.String()))
		packs, _ := decodeIndex(data)
		for _, e := range packs[0].Entries {
			if e.ID == b.Tree[0] {
				bIndex = filepath.Join(r.Location(), indexDir, f.String())
			}
		}
	}
	data, _ := os.ReadFile(bIndex)
	data[len(data)/2] ^= 1
	if emptied {
		data = nil
	}
	os.WriteFile(bIndex, data, 0o600)

	r, _ = Open(r.Location())
	rep, err := r.Check(context.Background(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], "index file") || len(rep.Damaged) != 1 || rep.Damaged[0].ID != b.ID || !reflect.DeepEqual(rep.Unaffected, []string{a.ID}) {
		t.Errorf("check: %+v", rep)
	}
	if _, err := readAll(t, r, a.ID); err != nil {
		t.Errorf("check says %s is unaffected, but reading it fails: %v", a.ID, err)
	}
	if _, err := readAll(t, r, b.ID); err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), b.ID) || !strings.Contains(err.Error(), "missing from the index") {
		t.Errorf("check says %s is damaged, reading it: %v", b.ID, err)
	}
	// Prune deletes nothing while an index file is damaged.
	lk, err := r.Lock(context.Background(), true, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	if _, err := r.Prune(context.Background(), false); err == nil || !strings.Contains(err.Error(), "nothing was pruned") {
		t.Errorf("prune with a damaged index file: %v", err)
	}
}
