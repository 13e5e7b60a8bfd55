package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/workload"
)

// repoSnapshot adds the repository accounting to the snapshot fields the tests read.
type repoSnapshot struct {
	snapshot
	AddedBytes   int64 `json:"added_bytes"`
	LogicalBytes int64 `json:"logical_bytes"`
}

func (h *host) backupJSON(t *testing.T, args ...string) repoSnapshot {
	t.Helper()
	out := h.mustRun(append([]string{"backup", "-c", h.config, "--json"}, args...)...)
	var s repoSnapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("backup --json: %v\n%s", err, out)
	}
	return s
}

// checkReport is the part of `check --json` the tests read.
type checkReport struct {
	OK      bool `json:"ok"`
	Damaged []struct {
		ID       string `json:"id"`
		Problems []struct {
			What  string   `json:"what"`
			Pages []uint64 `json:"pages"`
		} `json:"problems"`
	} `json:"damaged"`
	Unaffected   []string `json:"unaffected"`
	PagesChecked uint64   `json:"pages_checked"`
	NotChecked   string   `json:"pages_not_checked"`
}

func (h *host) check(t *testing.T, readData bool) (checkReport, int) {
	t.Helper()
	args := []string{"check", "-r", h.repo, "--json"}
	if readData {
		args = append(args, "--read-data")
	}
	out, errs, code := h.run(args...)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --json (exit %d): %v\n%s\n%s", code, err, out, errs)
	}
	// The real plugin checks every stored page (shared.PageChecker).
	if readData && (rep.PagesChecked == 0 || rep.NotChecked != "") {
		t.Errorf("check --read-data: %d pages checked by the plugin; not checked: %q", rep.PagesChecked, rep.NotChecked)
	}
	return rep, code
}

// TestRepositoryAcceptance: the host's repository under real backups of a live server —
// deduplication, backups killed with SIGKILL, chain-aware forget with the tracking purge
// floor, prune, and a damaged pack pinpointed by check --read-data.
func TestRepositoryAcceptance(t *testing.T) {
	ctx := context.Background()
	srv, wcfg := startWorkloadServer(t)
	if err := workload.Grow(ctx, srv.Root, wcfg, 64<<20); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, srv)

	// Two full backups of an unchanged server: the second adds under 1 % new bytes.
	sourcetest.Checkpoint(t, srv) // nothing left to flush between the two
	first := h.backupJSON(t, "--full")
	second := h.backupJSON(t, "--full")
	if second.AddedBytes*100 >= first.AddedBytes {
		t.Fatalf("the second full backup of an unchanged server added %d bytes, the first %d: not under 1 %%", second.AddedBytes, first.AddedBytes)
	}
	t.Logf("unchanged server: first full added %d bytes, second %d (%.3f %%)", first.AddedBytes, second.AddedBytes, 100*float64(second.AddedBytes)/float64(first.AddedBytes))

	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()

	// Kill the host with SIGKILL at spread-out points of a backup, several times: the
	// repository stays consistent and lists only complete snapshots.
	start := time.Now()
	h.backupJSON(t, "--full")
	took := time.Since(start)
	complete := len(h.snapshots())
	for _, frac := range []float64{0.05, 0.2, 0.4, 0.6, 0.8, 0.95} {
		cmd := exec.Command(hostBinary, "backup", "-c", h.config, "--full")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := time.AfterFunc(time.Duration(frac*float64(took)), func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		kill.Stop()
		if err == nil {
			complete++ // it finished before the kill
		}
		waitNoPlugin(t) // the killed host's plugin must not outlive it
		if rep, code := h.check(t, false); code != 0 || !rep.OK {
			t.Fatalf("after a SIGKILL at %.0f %% of a backup, check fails (exit %d): %+v", frac*100, code, rep)
		}
		if got := len(h.snapshots()); got != complete {
			t.Fatalf("after a SIGKILL at %.0f %%: %d snapshots listed, %d backups completed", frac*100, got, complete)
		}
	}
	if rep, code := h.check(t, true); code != 0 || !rep.OK {
		t.Fatalf("check --read-data after the kills (exit %d): %+v", code, rep)
	}

	// A chain: full, then two incrementals under load.
	type taken struct {
		snap          repoSnapshot
		before, after []int
	}
	var chain []taken
	for i, args := range [][]string{{"--full"}, nil, nil} {
		run.WaitSteps(ctx, 15)
		before := run.Steps()
		s := h.backupJSON(t, args...)
		after := run.Steps()
		if want := []string{"full", "incremental", "incremental"}[i]; s.Kind != want {
			t.Fatalf("chain member %d is %s, want %s", i, s.Kind, want)
		}
		chain = append(chain, taken{s, before, after})
	}
	if _, err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	tip := chain[2].snap

	// forget --keep-last 1 keeps the newest snapshot and the chain it needs, removes the rest,
	// and asks the plugin to purge tracking below the kept chain's tip.
	out := h.mustRun("forget", "-c", h.config, "--keep-last", "1", "--prune", "--json")
	var forgot struct {
		Sources []struct {
			Keep     []struct{ ID string } `json:"keep"`
			Remove   []struct{ ID string } `json:"remove"`
			FloorLSN uint64                `json:"floor_lsn"`
			Purge    *struct {
				Requested bool   `json:"requested"`
				FloorLSN  uint64 `json:"floor_lsn"`
				Message   string `json:"message"`
				Error     string `json:"error"`
			} `json:"purge"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out), &forgot); err != nil || len(forgot.Sources) != 1 {
		t.Fatalf("forget --json: %v\n%s", err, out)
	}
	fs := forgot.Sources[0]
	var kept []string
	for _, k := range fs.Keep {
		kept = append(kept, k.ID)
	}
	slices.Sort(kept)
	want := []string{chain[0].snap.ID, chain[1].snap.ID, chain[2].snap.ID}
	slices.Sort(want)
	if !slices.Equal(kept, want) {
		t.Fatalf("forget kept %v, want the newest snapshot's chain %v", kept, want)
	}
	if fs.Purge == nil || !fs.Purge.Requested || fs.Purge.FloorLSN != tip.CheckpointLSN || fs.Purge.Error != "" || fs.Purge.Message == "" {
		t.Fatalf("tracking purge: %+v, want one requested at the tip's checkpoint %d", fs.Purge, tip.CheckpointLSN)
	}
	if got := len(h.snapshots()); got != 3 {
		t.Fatalf("after forget, %d snapshots remain, want 3", got)
	}
	if rep, code := h.check(t, true); code != 0 || !rep.OK {
		t.Fatalf("check --read-data after forget --prune (exit %d): %+v", code, rep)
	}
	for _, c := range chain {
		t.Run("kept_"+c.snap.ID, func(t *testing.T) { h.restoreAndCheck(t, c.snap.snapshot, wcfg, c.before, c.after) })
	}

	// One more incremental after the prune, so that the newest pack holds only its data.
	if run, err = workload.Start(ctx, srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	run.WaitSteps(ctx, 15)
	lastStarted := time.Now()
	last := h.backupJSON(t)
	if _, err := run.Stop(); err != nil {
		t.Fatal(err)
	}

	// Flip a byte inside that pack: check --read-data names the snapshot and the page, and a
	// snapshot that does not need the data still restores. The pack also holds binlog and
	// record-list blobs; a flip that lands in one of those is undone and the next spot tried.
	var rep checkReport
	var pages int
	for _, pack := range packsSince(t, h.repo, lastStarted) { // pages first, binlog last
		data, err := os.ReadFile(pack)
		if err != nil {
			t.Fatal(err)
		}
		for try := 1; try <= 4 && pages == 0; try++ {
			at := len(data) * try / 5
			data[at] ^= 0x40
			if err := os.WriteFile(pack, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var code int
			rep, code = h.check(t, true)
			if code == 0 || rep.OK || len(rep.Damaged) == 0 {
				t.Fatalf("check --read-data did not notice a flipped byte at %d of %s (exit %d): %+v", at, pack, code, rep)
			}
			for _, d := range rep.Damaged {
				if d.ID != last.ID {
					t.Errorf("check reports snapshot %s damaged; only %s wrote that pack", d.ID, last.ID)
				}
				for _, p := range d.Problems {
					pages += len(p.Pages)
					t.Logf("byte %d of %s flipped: snapshot %s: %s pages %v", at, filepath.Base(pack), d.ID, p.What, p.Pages)
				}
			}
			if pages == 0 {
				data[at] ^= 0x40 // not page data: undo and try elsewhere
				if err := os.WriteFile(pack, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		if pages > 0 {
			break
		}
	}
	if pages == 0 {
		t.Fatalf("no flipped byte landed in page data; the last report: %+v", rep.Damaged)
	}
	for _, c := range chain {
		if !slices.Contains(rep.Unaffected, c.snap.ID) {
			t.Errorf("check does not list %s as unaffected: %v", c.snap.ID, rep.Unaffected)
		}
	}
	t.Run("unaffected_after_damage", func(t *testing.T) {
		h.restoreAndCheck(t, tip.snapshot, wcfg, chain[2].before, chain[2].after)
	})
}

// packsSince lists the pack files written after t, oldest first.
func packsSince(tb *testing.T, repo string, t time.Time) []string {
	tb.Helper()
	type pack struct {
		path string
		at   time.Time
	}
	var packs []pack
	filepath.WalkDir(filepath.Join(repo, "data"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(t) {
			packs = append(packs, pack{path, info.ModTime()})
		}
		return nil
	})
	slices.SortFunc(packs, func(a, b pack) int { return a.at.Compare(b.at) })
	var out []string
	for _, p := range packs {
		out = append(out, p.path)
	}
	if len(out) == 0 {
		tb.Fatal("no pack was written")
	}
	return out
}

// waitNoPlugin waits until no process runs the plugin binary: a plugin whose host was killed
// must exit by itself (it watches its parent). The package's tests run one at a time, so any
// such process belongs to the host just killed.
func waitNoPlugin(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := processesRunning(pluginBinary)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes %v outlived their killed host", pids)
		}
		time.Sleep(100 * time.Millisecond) // polling the process table
	}
}

// processesRunning lists the pids whose command line starts with path.
func processesRunning(path string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.HasPrefix(cmdline, append([]byte(path), 0)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
