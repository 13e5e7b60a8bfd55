package cli

import (
	"context"
	"encoding/json"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const repairUsage = `Usage:
  host-example repair snapshots -r REPO [--dry-run] [--json]

Sets aside every snapshot that cannot be verified, so that forget and prune, which refuse
to act while one exists, can run again. A snapshot cannot be verified when its file fails
its checksum or does not parse (damaged, truncated or edited), when its metadata disagrees
with the header and trailer of its record list (what a restore would really give), or when
its chain is broken: its parent is missing or cannot be verified, is of another source, or
the chain loops. An incremental that builds on a snapshot set aside is set aside too: it
cannot be restored without it.

Nothing is deleted: each snapshot file is moved, as it is, to REPO/quarantine/ID.json, with
REPO/quarantine/ID.reason.txt saying why. Moving a file back into REPO/snapshots/ undoes it.
The data such a snapshot refers to stays until the next forget --prune, which removes what
no remaining snapshot needs.

repair takes an exclusive lock (--dry-run a shared one).

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
      --dry-run        print what would be set aside; move nothing
      --json           print JSON: dry_run, set_aside [{id, path, reason, moved_to}]
  -v, --verbose        debug logs on stderr

Example:
  host-example forget -r /backups/repo --keep-last 7 --prune   # refuses, naming snapshot 3f2a…
  host-example repair snapshots -r /backups/repo
  host-example forget -r /backups/repo --keep-last 7 --prune

` + exitStatusHelp

type repairOutput struct {
	DryRun   bool             `json:"dry_run"`
	SetAside []repairSnapshot `json:"set_aside"`
}

type repairSnapshot struct {
	repo.BadSnapshot
	MovedTo string `json:"moved_to,omitempty"`
}

func runRepair(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("repair")
	var repoFlag, cfgPath string
	var dryRun, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	boolFlag(fs, &dryRun, "dry-run")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageErrorf("repair what? the only thing it repairs is \"snapshots\": host-example repair snapshots -r REPO")
	case pos[0] != "snapshots":
		return usageErrorf("unknown repair %q: the only thing repair repairs is \"snapshots\"", pos[0])
	case len(pos) > 1:
		return usageErrorf("unexpected argument %q", pos[1])
	}
	purpose := "repair snapshots"
	if dryRun {
		purpose += " --dry-run"
	}
	_, r, unlock, err := e.openRepoFor(ctx, repoFlag, cfgPath, !dryRun, purpose)
	if err != nil {
		return err
	}
	defer unlock()
	_, bad, err := r.VerifySnapshots(ctx)
	if err != nil {
		return err
	}
	out := &repairOutput{DryRun: dryRun, SetAside: []repairSnapshot{}}
	var moved []string
	if !dryRun && len(bad) > 0 {
		moved, err = r.SetAside(ctx, bad)
		e.log().Info("snapshots set aside", "count", len(moved))
	}
	for i, b := range bad {
		rs := repairSnapshot{BadSnapshot: b}
		if i < len(moved) {
			rs.MovedTo = moved[i]
		}
		out.SetAside = append(out.SetAside, rs)
	}
	if asJSON {
		data, jerr := json.MarshalIndent(out, "", "  ")
		if jerr != nil {
			return jerr
		}
		e.printf("%s\n", data)
	} else {
		printRepair(e, out)
	}
	return err // a move that failed: what moved is printed above
}

func printRepair(e *env, out *repairOutput) {
	if len(out.SetAside) == 0 {
		e.printf("every snapshot verifies: nothing to set aside\n")
		return
	}
	for _, s := range out.SetAside {
		switch {
		case s.MovedTo != "":
			e.printf("set aside snapshot %s: %s\n  moved to %s\n", s.ID, s.Reason, s.MovedTo)
		case out.DryRun:
			e.printf("would set aside snapshot %s: %s\n", s.ID, s.Reason)
		default:
			e.printf("NOT set aside snapshot %s: %s\n", s.ID, s.Reason)
		}
	}
	if !out.DryRun {
		e.printf("nothing was deleted; move a file back into snapshots/ to undo. forget and prune can run again.\n")
	}
}
