package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const snapshotsUsage = `Usage:
  host-example snapshots -r REPO [-l | --json]

Lists the snapshots of a repository, oldest first: id, start time, source, kind, method,
parent, checkpoint and end LSN, size (compressed, before deduplication), the bytes the backup
added to the repository, and GTID set. An incremental's method is
"page-tracking", or "lsn-scan" when it fell back to reading every page; such snapshots are
marked with * and -l says why.

With -l it prints each snapshot in full instead, fallback reason and backup cost included.

With --json it prints a JSON array of snapshot objects instead, one per snapshot, with these
stable fields (fields may be added, none renamed):
  id, time, finished, source, source_type, kind, parent, method, fallback_reason,
  base_checkpoint_lsn, pages_in_set, pages_read, bytes_read, bytes_sent, source_state,
  config (non-sensitive attributes), server_version, server_uuid, page_size, stream_format,
  checkpoint_lsn, end_lsn, max_page_lsn, binlog_file, binlog_pos, gtid_executed,
  tablespaces, pages, page_bytes, redo_bytes, binlog_bytes, files, records, stored_bytes,
  added_bytes, logical_bytes, stream_digest, tree, binlog_from, binlog_written
kind is "full" or "incremental"; parent is the id of the snapshot an incremental builds on
("" for a full); source_state is base64. stored_bytes is the compressed size of the data the
snapshot refers to, added_bytes what its backup added to the repository (the rest was there
already), logical_bytes its uncompressed size; binlog_bytes is the binlog the backup sent,
binlog_from where in binlog_file it starts (0: the whole file; an incremental whose parent
ended in the same file carries only what follows the parent's position), binlog_written the
binlog the server wrote since the parent's position (0 for a full); tree lists the blobs of its record list. Times
are RFC 3339 in UTC; sizes are bytes.

A snapshot file that cannot be verified (its checksum fails, or it does not parse) is not
listed: it is named on stderr, the others are listed, and the exit status is 1;
"host-example repair snapshots" sets it aside.

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
  -l, --long           print every field of each snapshot
      --json           print JSON
  -v, --verbose        debug logs on stderr

Example:
  host-example snapshots -r /backups/repo
  host-example snapshots -r /backups/repo --json | jq -r '.[-1].id'

` + exitStatusHelp

func runSnapshots(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("snapshots")
	var repoFlag, cfgPath string
	var asJSON, long bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	boolFlag(fs, &asJSON, "json")
	boolFlag(fs, &long, "l", "long")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if asJSON && long {
		return usageErrorf("-l and --json exclude each other")
	}
	_, r, _, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "")
	if err != nil {
		return err
	}
	snaps, bad, err := r.ScanSnapshots(ctx)
	if err != nil {
		return err
	}
	if err := listSnapshots(e, r, snaps, asJSON, long); err != nil {
		return err
	}
	// The others are listed; each one that cannot be verified is named, and the exit status
	// says not everything is well.
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(e.stderr, "%v\n", b)
		}
		return fmt.Errorf("%d snapshot file(s) cannot be verified and are not listed; `host-example repair snapshots -r %s` sets them aside", len(bad), r.Location())
	}
	return nil
}

func listSnapshots(e *env, r *repo.Local, snaps []*repo.Snapshot, asJSON, long bool) error {
	if asJSON {
		if snaps == nil {
			snaps = []*repo.Snapshot{}
		}
		out, err := json.MarshalIndent(snaps, "", "  ")
		if err != nil {
			return err
		}
		e.printf("%s\n", out)
		return nil
	}
	if len(snaps) == 0 {
		fmt.Fprintf(e.stderr, "repository %s holds no snapshots yet\n", r.Location())
		return nil
	}
	if long {
		for i, s := range snaps {
			if i > 0 {
				e.printf("\n")
			}
			printSnapshotLong(e, s)
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tKIND\tMETHOD\tPARENT\tCHECKPOINT LSN\tEND LSN\tSIZE\tADDED\tGTID SET")
	fallbacks := 0
	for _, s := range snaps {
		gtid := oneLine(s.GTIDExecuted)
		if gtid == "" {
			gtid = "-"
		}
		method := orDash(s.Method)
		if s.FallbackReason != "" {
			method += "*"
			fallbacks++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n",
			s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Source, orDash(s.Kind), method, orDash(s.Parent),
			s.CheckpointLSN, s.EndLSN, formatBytes(uint64(s.StoredBytes)), formatBytes(uint64(s.AddedBytes)), gtid)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if fallbacks > 0 {
		e.printf("* fell back from page tracking; \"snapshots -l\" says why\n")
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printSnapshotLong prints every field of s worth reading.
func printSnapshotLong(e *env, s *repo.Snapshot) {
	e.printf("snapshot %s\n", s.ID)
	e.printf("  time         %s (recorded %s)\n", s.Time.Local().Format("2006-01-02 15:04:05 MST"), s.Finished.Local().Format("15:04:05"))
	server := s.ServerVersion
	if s.ServerUUID != "" {
		server += ", server_uuid " + s.ServerUUID
	}
	e.printf("  source       %s (%s), %s\n", s.Source, s.SourceType, server)
	e.printf("  kind         %s\n", describeKind(s))
	if s.FallbackReason != "" {
		e.printf("  fallback     %s\n", s.FallbackReason)
	}
	if s.Incremental() {
		e.printf("  LSN range    checkpoint %d .. end %d (base checkpoint %d)\n", s.CheckpointLSN, s.EndLSN, s.BaseCheckpointLSN)
		e.printf("  cost         %d pages in the changed set; %d pages (%s) read; %s sent\n", s.PagesInSet, s.PagesRead, formatBytes(s.BytesRead), formatBytes(s.BytesSent))
		if s.PagesBeforeBase != 0 || s.CheckpointWaitMicros != 0 {
			e.printf("  before base  %d pages of the set last changed before the base (%d of them not sent); checkpoint wait %s\n",
				s.PagesBeforeBase, s.PagesBeforeBaseSkipped, time.Duration(s.CheckpointWaitMicros)*time.Microsecond)
		}
	} else {
		e.printf("  LSN range    checkpoint %d .. end %d\n", s.CheckpointLSN, s.EndLSN)
	}
	e.printf("  pages        %d in %d tablespaces, %s\n", s.Pages, s.Tablespaces, formatBytes(s.PageBytes))
	e.printf("  redo         %s\n", formatBytes(s.RedoBytes))
	if s.BinlogFile != "" {
		e.printf("  binlog       %s:%d\n", s.BinlogFile, s.BinlogPos)
		sent := fmt.Sprintf("%s sent (from offset %d)", formatBytes(s.BinlogBytes), s.BinlogFrom)
		if s.Incremental() {
			sent += fmt.Sprintf("; %s written since the parent", formatBytes(s.BinlogWritten))
		}
		e.printf("  binlog sent  %s\n", sent)
	}
	if s.GTIDExecuted != "" {
		e.printf("  GTID set     %s\n", oneLine(s.GTIDExecuted))
	}
	e.printf("  stored       %s compressed, %s of it added by this backup; %s logical\n", formatBytes(uint64(s.StoredBytes)), formatBytes(uint64(s.AddedBytes)), formatBytes(uint64(s.LogicalBytes)))
	e.printf("  digest       %s\n", s.StreamDigest)
}
