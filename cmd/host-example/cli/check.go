package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const checkUsage = `Usage:
  host-example check -r REPO [--read-data] [--json]

Checks the repository with every check a restore makes before it reads a page, for every
snapshot: its snapshot file must match its checksum; its metadata (end LSN, binlog position,
GTID set, checkpoint, digest, counts) must say what the header and trailer of its record list
say; its chain must resolve (every parent there, verified, of the same source, on the
checkpoint the child was taken on); its record list is read and decoded and the restore
planned; every piece of data it needs must be in the index (a damaged index file is left
out, as restore leaves it out) and its pack file must be there with the size the index gives.
With --read-data every pack is read whole: each blob must decompress and match its SHA-256,
each stored page must pass the source plugin's page check (for MySQL, InnoDB's own page
checksum; the plugin of the snapshots' source type is started for it, found as backup finds
it: a plugin block of -c CONFIG, else pagetrack-TYPE next to host-example), and every
snapshot's stored stream is read again and its digest recomputed against its trailer. When
the plugin cannot be started or does not check pages, the report says the pages were not
checked.

Damage is reported per snapshot: which file and page numbers (or redo, binlog, files, record
list) a restore of that snapshot would find damaged. A page stored once is shared by every
snapshot that holds the same page, and an incremental restores pages from its chain, so one
damaged blob can affect several snapshots; all of them are listed, and so are the snapshots
that are not affected (they still restore). Data no snapshot refers to (left by an
interrupted backup, or by forgotten snapshots) is reported as information; "forget --prune"
removes it.

check takes a shared lock: it runs alongside backups and restores.

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository and plugin blocks
      --read-data      read and check every stored blob and page (reads the whole repository)
      --json           print the report as JSON: ok, snapshots, index_files, packs,
                       pack_bytes, blobs, read_data, blobs_read, pages_checked,
                       pages_not_checked, errors,
                       damaged (id, source, kind, time, problems: what, pages, stored_in,
                       reason), unaffected, info
  -v, --verbose        debug logs on stderr

Example:
  host-example check -r /backups/repo
  host-example check -r /backups/repo --read-data

Exit status:
  0  no damage found
  1  damage found (the report says what), or the check could not run
  2  usage error
`

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("check")
	var repoFlag, cfgPath string
	var readData, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	boolFlag(fs, &readData, "read-data")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	cf, r, unlock, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "check")
	if err != nil {
		return err
	}
	defer unlock()
	e.log().Debug("check starting", "repository", r.Location(), "read_data", readData)
	var pages shared.PageChecker
	var unchecked string
	if readData {
		var stop func()
		pages, stop, unchecked = e.pageChecker(ctx, r, cf)
		defer stop()
	}
	rep, err := r.Check(ctx, readData, pages)
	if err != nil {
		return err
	}
	if unchecked != "" {
		rep.PagesNotChecked = unchecked
	}
	if asJSON {
		out, err := json.MarshalIndent(struct {
			OK bool `json:"ok"`
			*repo.CheckReport
		}{rep.OK(), rep}, "", "  ")
		if err != nil {
			return err
		}
		e.printf("%s\n", out)
	} else {
		printCheckReport(e, r, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("repository %s is damaged: %d snapshot(s) affected, %d other error(s); the report above says what", r.Location(), len(rep.Damaged), len(rep.Errors))
	}
	return nil
}

func printCheckReport(e *env, r *repo.Local, rep *repo.CheckReport) {
	e.printf("checked repository %s: %d snapshots, %d archive records, %d index files, %d packs (%s), %d blobs\n",
		r.Location(), rep.Snapshots, rep.ArchiveRecords, rep.IndexFiles, rep.Packs, formatBytes(uint64(rep.PackBytes)), rep.Blobs)
	if rep.ReadData {
		e.printf("read every blob: %d blobs read, %d pages checked by the source plugin\n", rep.BlobsRead, rep.PagesChecked)
		if rep.PagesNotChecked != "" {
			e.printf("pages NOT checked: %s\n", rep.PagesNotChecked)
		}
	} else {
		e.printf("record lists read; data not read (--read-data reads and checks every blob and page)\n")
	}
	for _, msg := range rep.Errors {
		e.printf("error: %s\n", msg)
	}
	for _, d := range rep.Damaged {
		if d.Time.IsZero() { // its file does not verify: nothing of it can be trusted
			e.printf("snapshot %s is DAMAGED:\n", d.ID)
		} else {
			e.printf("snapshot %s (%s, %s, %s) is DAMAGED:\n", d.ID, d.Source, orDash(d.Kind), d.Time.Local().Format("2006-01-02 15:04:05"))
		}
		for _, p := range d.Problems {
			what := p.What
			if len(p.Pages) > 0 {
				what = fmt.Sprintf("%s, page%s %s", p.What, plural(len(p.Pages)), formatPages(p.Pages))
			}
			if p.StoredIn != "" {
				what += " (stored in snapshot " + p.StoredIn + ")"
			}
			e.printf("  %s: %s\n", what, p.Reason)
		}
	}
	if len(rep.Damaged) > 0 {
		if len(rep.Unaffected) > 0 {
			e.printf("snapshots not affected (they restore): %s\n", strings.Join(rep.Unaffected, ", "))
		} else {
			e.printf("no snapshot is unaffected\n")
		}
	}
	for _, msg := range rep.Info {
		e.printf("info: %s\n", msg)
	}
	if rep.OK() {
		e.printf("no damage found\n")
	}
}

// pageChecker starts the plugin of the repository's source type to check stored pages with
// (check --read-data): the page format is the source's, so the host asks its plugin
// (shared.PageChecker). Without one it returns nil and says why; stop is never nil.
func (e *env) pageChecker(ctx context.Context, r *repo.Local, cf *config.File) (_ shared.PageChecker, stop func(), unchecked string) {
	stop = func() {}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, stop, fmt.Sprintf("the snapshots could not be listed to find their source plugin: %v", err)
	}
	types := map[string]bool{}
	for _, s := range snaps {
		types[s.SourceType] = true
	}
	if len(types) != 1 {
		names := slices.Sorted(maps.Keys(types))
		return nil, stop, fmt.Sprintf("the snapshots are of %d source types %v, and check asks one source plugin", len(names), names)
	}
	var typ string
	for t := range types {
		typ = t
	}
	ref, err := e.pluginRef(typ, "", cf)
	if err != nil {
		return nil, stop, err.Error()
	}
	src, stop, err := e.startSource(ctx, ref)
	if err != nil {
		return nil, stop, fmt.Sprintf("the %s plugin (%s, from %s) could not be started: %v", typ, ref.Path, ref.Origin, err)
	}
	pc, ok := src.(shared.PageChecker)
	if !ok {
		return nil, stop, fmt.Sprintf("the %s plugin does not check pages", typ)
	}
	return pc, stop, ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// formatPages writes page numbers as runs: "3, 7-9, 12".
func formatPages(pages []uint64) string {
	var parts []string
	for i := 0; i < len(pages); {
		j := i
		for j+1 < len(pages) && pages[j+1] == pages[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.FormatUint(pages[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", pages[i], pages[j]))
		}
		i = j + 1
	}
	if len(parts) > 50 {
		return strings.Join(parts[:50], ", ") + fmt.Sprintf(" and %d more", len(parts)-50)
	}
	return strings.Join(parts, ", ")
}
