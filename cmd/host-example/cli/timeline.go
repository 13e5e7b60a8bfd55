package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const timelineUsage = `Usage:
  host-example timeline -r REPO | -c CONFIG [--source NAME] [--json]

Shows what the repository can restore for each source: a window per snapshot, from its
consistency point (its trailer's binlog file, position and GTID set) through the gap-free
archive stored after it (see docs/timeline.md), and names every gap: transactions between two
archive chains that no record holds, a snapshot the archive does not cover, archive records
that do not chain.

With --json it prints a JSON array, one object per source:
  {"source", "windows": [{"snapshot", "snapshot_time", "from": {"binlog_file", "binlog_pos",
   "gtids", "commit"}, "to": {…}, "first_record", "last_record", "note"}], "gaps": [text],
   "problems": [text]}
A window whose "note" is not empty ends at its snapshot's point; "to.commit" is the commit
time of the archive's last transaction (UTC).

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
      --source NAME    only this source
      --json           print JSON
  -v, --verbose        debug logs on stderr

` + exitStatusHelp

func runTimeline(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("timeline")
	var repoFlag, cfgPath, sourceName string
	var asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &sourceName, "source")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	_, r, release, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "timeline")
	if err != nil {
		return err
	}
	defer release()
	lines, err := timelines(ctx, r, sourceName)
	if err != nil {
		return err
	}
	if asJSON {
		b, _ := json.MarshalIndent(lines, "", "  ")
		e.printf("%s\n", b)
		return nil
	}
	for _, t := range lines {
		printTimeline(e, t)
	}
	return nil
}

// timelines builds the timeline of every source with snapshots or an archive (or of one).
func timelines(ctx context.Context, r *repo.Local, only string) ([]*repo.Timeline, error) {
	snaps, bad, err := r.ScanSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%v; the timeline is worked out from verified snapshots only: run `host-example repair snapshots`", bad[0])
	}
	names := map[string]bool{}
	for _, s := range snaps {
		names[s.Source] = true
	}
	archived, err := r.ArchiveSources()
	if err != nil {
		return nil, err
	}
	for _, s := range archived {
		names[s] = true
	}
	var sorted []string
	for n := range names {
		if only == "" || n == only {
			sorted = append(sorted, n)
		}
	}
	sort.Strings(sorted)
	out := []*repo.Timeline{}
	for _, src := range sorted {
		recs, badRecs, err := r.ArchiveRecords(ctx, src)
		if err != nil {
			return nil, err
		}
		chains, problems := repo.ArchiveChains(recs)
		for _, b := range badRecs {
			problems = append(problems, b)
		}
		out = append(out, repo.BuildTimeline(src, snaps, chains, problems))
	}
	return out, nil
}

func printTimeline(e *env, t *repo.Timeline) {
	e.printf("source %s\n", t.Source)
	if len(t.Windows) == 0 {
		e.printf("  no snapshot: nothing can be restored\n")
	}
	for _, w := range t.Windows {
		e.printf("  snapshot %s (%s): from %s:%d", w.Snapshot, w.SnapshotTime.UTC().Format(time.RFC3339), w.From.File, w.From.Pos)
		if w.Note != "" {
			e.printf(" only; %s\n", w.Note)
			continue
		}
		e.printf(" through %s:%d", w.To.File, w.To.Pos)
		if !w.To.Commit.IsZero() {
			e.printf(" (last commit %s)", w.To.Commit.UTC().Format(time.RFC3339Nano))
		}
		e.printf(", archive records %d-%d\n    GTIDs up to %s\n", w.FirstRecord, w.LastRecord, w.To.GTIDs)
	}
	for _, g := range t.Gaps {
		e.printf("  gap %s\n", g)
	}
	for _, p := range t.Problems {
		e.printf("  problem: %s\n", p)
	}
}
