package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/workload"
)

// repoFiles maps every file of the repository but its locks to the SHA-256 of its content.
func repoFiles(t *testing.T, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, filepath.Join(repo, "locks")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(path, repo+"/")] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnverifiableSnapshotStopsRetention, against a real server: a flipped byte in a snapshot
// file makes forget --prune (and its dry run) refuse, naming the snapshot and the repair
// command, with every file of the repository left as it was; repair snapshots sets the
// snapshot aside, retention then runs, and every remaining snapshot restores exactly.
func TestUnverifiableSnapshotStopsRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, wcfg := startWorkloadServer(t)
	h := newHost(t, srv)
	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	type taken struct {
		snap          repoSnapshot
		before, after []int
	}
	var s []taken
	for _, args := range [][]string{{"--full"}, nil, {"--full"}, nil} { // F1, I1 on F1, F2, I2 on F2
		run.WaitSteps(ctx, 10)
		before := run.Steps()
		snap := h.backupJSON(t, args...)
		s = append(s, taken{snap, before, run.Steps()})
	}
	if _, err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if s[1].snap.Parent != s[0].snap.ID || s[3].snap.Parent != s[2].snap.ID {
		t.Fatalf("chains: %+v", s)
	}

	damaged := s[1].snap.ID
	path := filepath.Join(h.repo, "snapshots", damaged+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	files := repoFiles(t, h.repo)
	for _, dry := range []bool{true, false} {
		args := []string{"forget", "-r", h.repo, "--keep-last", "1", "--prune"}
		if dry {
			args = append(args, "--dry-run")
		}
		out, errs, code := h.run(args...)
		if code != 1 || !strings.Contains(errs, "snapshot "+damaged+" cannot be verified") || !strings.Contains(errs, "host-example repair snapshots -r "+h.repo) {
			t.Fatalf("%v: exit %d, want 1 naming %s and the repair command\n%s%s", args, code, damaged, out, errs)
		}
		if got := repoFiles(t, h.repo); !maps.Equal(got, files) {
			t.Fatalf("%v changed the repository although it refused:\nbefore %v\nafter  %v", args, files, got)
		}
	}

	out := h.mustRun("repair", "snapshots", "-r", h.repo)
	if !strings.Contains(out, "set aside snapshot "+damaged) {
		t.Fatalf("repair snapshots:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(h.repo, "quarantine", damaged+".json")); err != nil {
		t.Fatalf("the damaged snapshot file was not kept in quarantine: %v", err)
	}
	h.mustRun("forget", "-r", h.repo, "--keep-last", "2", "--prune")
	left := h.snapshots()
	if len(left) != 2 || left[0].ID != s[2].snap.ID || left[1].ID != s[3].snap.ID {
		t.Fatalf("after forget --keep-last 2: %+v, want F2 and I2", left)
	}
	if rep, code := h.check(t, true); code != 0 || !rep.OK {
		t.Fatalf("check --read-data after retention (exit %d): %+v", code, rep)
	}
	for _, k := range s[2:] {
		t.Run("restores_"+k.snap.Kind, func(t *testing.T) { h.restoreAndCheck(t, k.snap.snapshot, wcfg, k.before, k.after) })
	}
}
