package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const statsUsage = `Usage:
  host-example stats -r REPO [--json]

Prints what the repository stores: the pack files on disk (stored bytes) against the sum of
the snapshots' logical sizes (what storing every stream uncompressed would take), the ratio
of the two (deduplication and compression together), the numbers of snapshots, blobs, packs
and index files, the compression setting, the memory the repository's index takes in every
command that loads it (index_memory: 52 bytes per blob location, one per stored distinct
page; about 3.3 GiB per TiB of distinct 16 KiB pages), and per snapshot its logical size, its
compressed size and the bytes its backup added to the repository when it was taken (the
rest was there already).

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
      --json           print JSON: snapshots, packs, pack_bytes, index_files, index_bytes,
                       blobs, blob_bytes, raw_bytes, logical_bytes, compression,
                       index_memory, index_bytes_per_blob, dedup_ratio,
                       per_snapshot [{id, time, source, kind, parent, logical_bytes,
                       stored_bytes, added_bytes}]
  -v, --verbose        debug logs on stderr

Example:
  host-example stats -r /backups/repo

` + exitStatusHelp

func runStats(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("stats")
	var repoFlag, cfgPath string
	var asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	_, r, unlock, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "stats")
	if err != nil {
		return err
	}
	defer unlock()
	st, err := r.Stats(ctx)
	if err != nil {
		return err
	}
	if st.PerSnapshot == nil {
		st.PerSnapshot = []repo.SnapshotStats{}
	}
	if asJSON {
		out, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		e.printf("%s\n", out)
		return nil
	}
	e.printf("repository %s\n", r.Location())
	e.printf("  snapshots      %d\n", st.Snapshots)
	e.printf("  stored         %s in %d packs (+ %s in %d index files)\n", formatBytes(uint64(st.PackBytes)), st.Packs, formatBytes(uint64(st.IndexBytes)), st.IndexFiles)
	e.printf("  logical        %s (the snapshots' streams, uncompressed)\n", formatBytes(uint64(st.LogicalBytes)))
	e.printf("  dedup ratio    %.2f (logical / stored: deduplication and compression)\n", st.DedupRatio)
	e.printf("  blobs          %d distinct, %s compressed, %s uncompressed\n", st.Blobs, formatBytes(uint64(st.BlobBytes)), formatBytes(uint64(st.RawBytes)))
	e.printf("  compression    %s (for new blobs)\n", st.Compression)
	e.printf("  index memory   %s (%d bytes per blob location)\n", formatBytes(uint64(st.IndexMemory)), st.IndexBytesPerBlob)
	if len(st.PerSnapshot) == 0 {
		return nil
	}
	e.printf("\n")
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tKIND\tLOGICAL\tCOMPRESSED\tADDED")
	for _, s := range st.PerSnapshot {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Source, orDash(s.Kind),
			formatBytes(uint64(s.LogicalBytes)), formatBytes(uint64(s.StoredBytes)), formatBytes(uint64(s.AddedBytes)))
	}
	return tw.Flush()
}
