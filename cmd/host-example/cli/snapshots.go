package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const snapshotsUsage = `Usage:
  host-example snapshots -r REPO [--json]

Lists the snapshots of a repository, oldest first: id, start time, source, kind, checkpoint
and end LSN, stored size and GTID set.

With --json it prints a JSON array of snapshot objects instead, one per snapshot, with these
stable fields (fields may be added, none renamed):
  id, time, finished, source, source_type, kind, config (non-sensitive attributes),
  server_version, server_uuid, page_size, stream_format, checkpoint_lsn, end_lsn,
  max_page_lsn, binlog_file, binlog_pos, gtid_executed, tablespaces, pages, page_bytes,
  redo_bytes, binlog_bytes, files, records, stored_bytes, stream_digest
Times are RFC 3339 in UTC; sizes are bytes.

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
      --json           print JSON
  -v, --verbose        debug logs on stderr

Example:
  host-example snapshots -r /backups/repo
  host-example snapshots -r /backups/repo --json | jq -r '.[-1].id'

` + exitStatusHelp

func runSnapshots(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("snapshots")
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
	var cf *config.File
	if cfgPath != "" {
		if cf, err = e.loadConfig(cfgPath); err != nil {
			return err
		}
	}
	dir, err := repoPath(repoFlag, cf)
	if err != nil {
		return err
	}
	r, err := repo.Open(dir)
	if err != nil {
		return err
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return err
	}
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
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tKIND\tCHECKPOINT LSN\tEND LSN\tSIZE\tGTID SET")
	for _, s := range snaps {
		gtid := oneLine(s.GTIDExecuted)
		if gtid == "" {
			gtid = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n",
			s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Source, s.Kind,
			s.CheckpointLSN, s.EndLSN, formatBytes(uint64(s.StoredBytes)), gtid)
	}
	return tw.Flush()
}
