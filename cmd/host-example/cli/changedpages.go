package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/pagetrack/pagetrack/shared"
)

const changedPagesUsage = `Usage:
  host-example changed-pages -c CONFIG --since LSN [--until LSN] [--source NAME]
                             [--plugin PATH] [--json]

Lists the pages the source's change tracker (host-example track) recorded as changed by the
changes in the LSN range [--since, --until), as XtraDB's INFORMATION_SCHEMA.INNODB_CHANGED_PAGES
does: one row per page and tracker run, with the run's LSN range (a page changed in several
runs has a row for each). --until defaults to where the tracker has tracked up to.

It refuses a range the tracker did not record whole — before it started, beyond where it has
tracked, or over a gap — naming why, and bitmap files that fail their checks: a listing is
never partial. See docs/changed-pages.md.

Output: a header and one line per row, "space_id page_id start_lsn end_lsn"; with --json a
JSON array of {"space_id", "page_id", "start_lsn", "end_lsn"}.

Flags:
  -c, --config CONFIG  HCL configuration file (required)
      --since LSN      start of the range (required)
      --until LSN      end of the range, excluded (default: tracked up to)
      --source NAME    source block; default: the only one
      --plugin PATH    plugin executable
      --json           print JSON
  -v, --verbose        debug logs on stderr

Example:
  host-example changed-pages -c /etc/pagetrack/backup.hcl --since 31457280 --json

` + exitStatusHelp

// changedPageRow is one row as changed-pages --json prints it.
type changedPageRow struct {
	SpaceID  uint32 `json:"space_id"`
	PageID   uint32 `json:"page_id"`
	StartLSN uint64 `json:"start_lsn"`
	EndLSN   uint64 `json:"end_lsn"`
}

func runChangedPages(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("changed-pages")
	var cfgPath, sourceName, pluginPath, sinceFlag, untilFlag string
	var asJSON bool
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &sourceName, "source")
	stringFlag(fs, &pluginPath, "plugin")
	stringFlag(fs, &sinceFlag, "since")
	stringFlag(fs, &untilFlag, "until")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q", pos[0])
	case cfgPath == "":
		return usageErrorf("no configuration: pass -c CONFIG")
	case sinceFlag == "":
		return usageErrorf("no range: pass --since LSN (and optionally --until LSN)")
	}
	since, err := strconv.ParseUint(sinceFlag, 10, 64)
	if err != nil {
		return usageErrorf("--since %q is not an LSN (a decimal number)", sinceFlag)
	}
	var until uint64
	if untilFlag != "" {
		if until, err = strconv.ParseUint(untilFlag, 10, 64); err != nil || until == 0 {
			return usageErrorf("--until %q is not an LSN (a decimal number above 0)", untilFlag)
		}
		if until < since {
			return usageErrorf("--until %d lies before --since %d", until, since)
		}
	}
	cf, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	block, err := cf.Source(sourceName)
	if err != nil {
		return err
	}
	ref, src, _, cfg, stop, err := e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return err
	}
	tr, ok := src.(shared.Tracker)
	if !ok {
		return fmt.Errorf("%w: the %s plugin (%s) has no change tracker", shared.ErrUnsupported, ref.Type, ref.Path)
	}
	rows, err := tr.ChangedPages(ctx, &shared.ChangedPagesRequest{Config: cfg, Since: since, Until: until})
	if err != nil {
		return pluginError(ref, err)
	}
	// Printed only once the whole listing arrived: a stream that fails midway prints no
	// partial list on stdout.
	return printChangedPages(e, rows, asJSON, func(err error) error { return pluginError(ref, err) })
}

func printChangedPages(e *env, rows shared.ChangedPagesStream, asJSON bool, wrap func(error) error) error {
	var all []shared.ChangedPage
	for {
		batch, err := rows.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return wrap(err)
		}
		all = append(all, batch...)
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	if asJSON {
		out := make([]changedPageRow, len(all))
		for i, r := range all {
			out[i] = changedPageRow{SpaceID: r.SpaceID, PageID: r.PageID, StartLSN: r.StartLSN, EndLSN: r.EndLSN}
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return nil
	}
	fmt.Fprintf(w, "%-10s %-10s %-20s %s\n", "space_id", "page_id", "start_lsn", "end_lsn")
	for _, r := range all {
		fmt.Fprintf(w, "%-10d %-10d %-20d %d\n", r.SpaceID, r.PageID, r.StartLSN, r.EndLSN)
	}
	return nil
}
