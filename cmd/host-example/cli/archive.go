package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const archiveUsage = `Usage:
  host-example archive -c CONFIG [-r REPO] [--source NAME] [--plugin PATH] [--until-now]
                       [--restart] [--json]

Follows the source's binary log as a replica does and stores it in the repository, segment
by segment, next to the snapshots, for point-in-time recovery (see docs/archive.md). It runs
until SIGINT or SIGTERM; with --until-now it stops once it has archived the binary log as it
was when it started (for cron).

Each segment is stored deduplicated, like everything else, and recorded in an archive record
(REPO/archive/SOURCE/NNNNNNNNNNNN.json, checksummed) written after its data is durable. The
archive resumes from what the records say is stored: after a kill -9 of host-example, of the
plugin or of the server there is no gap and no duplicate; the plugin checks the last archived
transaction against the server and refuses to continue when the server lost it. Every segment
is checked to continue the stored archive (same file at its end position, or the next file
from its start, only new transactions) before it is stored.

The first run of a source starts after its newest snapshot's GTID set: take a full backup
first. When the server purged binary logs the archive still needed (the archiver was stopped
for longer than the server's binlog expiry), --restart starts a new chain after the newest
snapshot, which must be newer than the archive's end; the timeline names the gap.

Lag (seconds behind, bytes behind, headroom before the server's binlog expiry) is logged on
stderr when a run starts and ends and every minute; --json prints a summary on stdout at the end:
  {"source", "records_stored", "transactions", "bytes", "first_record", "last_record",
   "gtids" (the archive's whole set), "end_file", "end_pos", "lag": {"seconds", "bytes",
   "server_file", "server_pos", "expire_seconds", "expiry_headroom_seconds"}}

Flags:
  -c, --config CONFIG  HCL configuration file (required)
  -r, --repo REPO      repository; default: repository = "…" in the configuration
      --source NAME    source block; default: the only one
      --plugin PATH    plugin executable
      --until-now      stop at the binary log's end as it was at the start
      --restart        start a new archive chain after the newest snapshot
      --json           print the summary as JSON
  -v, --verbose        debug logs on stderr

Source attributes (mysql): archive_dsn (default: dsn; needs REPLICATION SLAVE and
REPLICATION CLIENT), archive_server_id (default: derived, unique per archive),
archive_name, archive_segment_bytes.

Example:
  host-example archive -c /etc/pagetrack/backup.hcl --source primary
  host-example archive -c /etc/pagetrack/backup.hcl --until-now --json

` + exitStatusHelp

// archiveSummary is what archive --json prints.
type archiveSummary struct {
	Source       string      `json:"source"`
	Stored       int         `json:"records_stored"`
	Transactions uint64      `json:"transactions"`
	Bytes        uint64      `json:"bytes"`
	FirstRecord  uint64      `json:"first_record"`
	LastRecord   uint64      `json:"last_record"`
	GTIDs        string      `json:"gtids"`
	EndFile      string      `json:"end_file"`
	EndPos       uint64      `json:"end_pos"`
	Lag          *lagSummary `json:"lag"`
}

type lagSummary struct {
	Seconds        float64 `json:"seconds"`
	Bytes          uint64  `json:"bytes"`
	ServerFile     string  `json:"server_file"`
	ServerPos      uint64  `json:"server_pos"`
	ExpireSeconds  int64   `json:"expire_seconds"`
	ExpiryHeadroom float64 `json:"expiry_headroom_seconds"`
}

// archiver is one archive command's state: where the stored archive ends.
type archiver struct {
	e       *env
	r       *repo.Local
	source  string
	point   shared.ArchivePoint
	seq     uint64 // of the next record
	restart bool   // the next record begins a chain
	sum     archiveSummary
}

func runArchive(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("archive")
	var repoFlag, cfgPath, sourceName, pluginPath string
	var untilNow, restart, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &sourceName, "source")
	stringFlag(fs, &pluginPath, "plugin")
	boolFlag(fs, &untilNow, "until-now")
	boolFlag(fs, &restart, "restart")
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
	}
	cf, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	block, err := cf.Source(sourceName)
	if err != nil {
		return err
	}
	dir, err := repoPath(repoFlag, cf)
	if err != nil {
		return err
	}
	r, err := e.openRepo(dir)
	if err != nil {
		return err
	}
	a := &archiver{e: e, r: r, source: block.Name, sum: archiveSummary{Source: block.Name}}
	if err := a.resumePoint(ctx, restart); err != nil {
		return err
	}
	err = a.run(ctx, block, pluginPath, cf, untilNow)
	a.sum.GTIDs, a.sum.EndFile, a.sum.EndPos = a.point.GTIDs, a.point.File, a.point.Pos
	if asJSON && (err == nil || a.sum.Stored > 0) {
		b, _ := json.MarshalIndent(a.sum, "", "  ")
		e.printf("%s\n", b)
	} else if err == nil {
		e.printf("archive of %s: %d record(s) stored (%d transactions, %d bytes), ends at %s:%d\n", a.source, a.sum.Stored, a.sum.Transactions, a.sum.Bytes, a.point.File, a.point.Pos)
	}
	return err
}

// resumePoint derives where archiving continues from the stored records alone, refusing an
// archive whose records do not verify or do not chain.
func (a *archiver) resumePoint(ctx context.Context, restart bool) error {
	recs, bad, err := a.r.ArchiveRecords(ctx, a.source)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%v; the archive cannot be continued past a record that does not verify: run `host-example check` and move the file aside", bad[0])
	}
	chains, problems := repo.ArchiveChains(recs)
	if len(problems) > 0 {
		return fmt.Errorf("the stored archive of %s does not chain: %v; run `host-example check`", a.source, problems[0])
	}
	if len(recs) > 0 {
		last := chains[len(chains)-1]
		a.point, a.seq = last.End, recs[len(recs)-1].Seq+1
	} else {
		a.seq = 1
	}
	if len(recs) > 0 && !restart {
		a.e.log().Info("archive resumes", "source", a.source, "record", a.seq, "file", a.point.File, "pos", a.point.Pos)
		return nil
	}
	snap, err := a.newestSnapshot(ctx)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		g, _ := shared.ParseGTIDSet(snap.GTIDExecuted)
		end, _ := shared.ParseGTIDSet(a.point.GTIDs)
		if end.Contains(g) {
			return usageErrorf("--restart starts a new archive chain after the newest snapshot, but snapshot %s is not newer than the archive's end (%s:%d); archive without --restart", snap.ID, a.point.File, a.point.Pos)
		}
	}
	a.point, a.restart = shared.ArchivePoint{GTIDs: snap.GTIDExecuted}, true
	a.e.log().Info("archive starts after snapshot", "source", a.source, "snapshot", snap.ID, "gtids", snap.GTIDExecuted)
	return nil
}

func (a *archiver) newestSnapshot(ctx context.Context) (*repo.Snapshot, error) {
	snaps, bad, err := a.r.ScanSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		a.e.log().Warn("snapshot left out", "problem", b.Error())
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if s := snaps[i]; s.Source == a.source {
			if s.GTIDExecuted == "" {
				return nil, fmt.Errorf("snapshot %s of %s records no GTID set: archiving needs gtid_mode=ON", s.ID, a.source)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("the repository holds no snapshot of source %q: the archive starts after a snapshot; take a full backup first (host-example backup --full)", a.source)
}

// run archives until ctx ends (or, untilNow, the end), restarting the plugin or the stream
// after failures that may pass (the server restarting, the plugin dying) with a growing wait.
func (a *archiver) run(ctx context.Context, block *config.Source, pluginPath string, cf *config.File, untilNow bool) error {
	wait := time.Second
	for {
		stored := a.sum.Stored
		err := a.session(ctx, block, pluginPath, cf, untilNow)
		if a.sum.Stored > stored {
			wait = time.Second // it worked for a while: a new failure starts the waits again
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || untilNow || errors.Is(err, shared.ErrInvalidConfig) || errors.Is(err, shared.ErrUnsupported) || errors.Is(err, errNotStored) {
			return err
		}
		a.e.log().Error("archiving stopped; retrying", "error", shared.Redact(err.Error(), a.e.secrets...), "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// errNotStored marks a failure to store: retrying cannot help.
var errNotStored = errors.New("not stored")

// session starts the plugin and archives until the stream ends.
func (a *archiver) session(ctx context.Context, block *config.Source, pluginPath string, cf *config.File, untilNow bool) error {
	ref, src, _, cfg, stop, err := a.e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return err
	}
	ar, ok := src.(shared.Archiver)
	if !ok {
		return fmt.Errorf("%w: the %s plugin (%s) cannot archive", shared.ErrUnsupported, ref.Type, ref.Path)
	}
	req := &shared.ArchiveRequest{Config: cfg, From: a.point, UntilNow: untilNow}
	a.reportLag(ctx, ar, cfg)
	stream, err := ar.Archive(ctx, req)
	if err != nil {
		return pluginError(ref, err)
	}
	lastLag := time.Now()
	for {
		seg, err := stream.Recv()
		if err == io.EOF {
			a.reportLag(ctx, ar, cfg)
			return nil
		}
		if err != nil {
			return pluginError(ref, err)
		}
		if err := a.store(ctx, seg); err != nil {
			return err
		}
		if time.Since(lastLag) > time.Minute {
			a.reportLag(ctx, ar, cfg)
			lastLag = time.Now()
		}
	}
}

// store records one segment, waiting while an exclusive lock (forget, prune) holds the
// repository.
func (a *archiver) store(ctx context.Context, seg *shared.ArchiveSegment) error {
	for {
		_, next, err := a.r.AppendArchive(ctx, a.source, a.seq, a.point, a.restart, seg)
		var locked *repo.LockedError
		if errors.As(err, &locked) && ctx.Err() == nil {
			a.e.log().Info("repository locked; the archive waits", "holder", err.Error())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errNotStored, err)
		}
		if a.sum.FirstRecord == 0 {
			a.sum.FirstRecord = a.seq
		}
		a.sum.LastRecord = a.seq
		a.sum.Stored++
		a.sum.Transactions += seg.Transactions
		a.sum.Bytes += seg.End - seg.Start
		a.point, a.restart = next, false
		a.seq++
		a.e.log().Debug("archive segment stored", "record", a.sum.LastRecord, "file", seg.File, "start", seg.Start, "end", seg.End, "transactions", seg.Transactions)
		return nil
	}
}

func (a *archiver) reportLag(ctx context.Context, ar shared.Archiver, cfg shared.Config) {
	l, err := ar.ArchiveLag(ctx, &shared.ArchiveRequest{Config: cfg, From: a.point})
	if err != nil {
		if ctx.Err() == nil {
			a.e.log().Warn("cannot measure the archive's lag", "error", shared.Redact(err.Error(), a.e.secrets...))
		}
		return
	}
	a.sum.Lag = &lagSummary{Seconds: l.Seconds, Bytes: l.Bytes, ServerFile: l.ServerFile, ServerPos: l.ServerPos, ExpireSeconds: l.ExpireSeconds, ExpiryHeadroom: l.ExpiryHeadroom.Seconds()}
	args := []any{"source", a.source, "seconds_behind", fmt.Sprintf("%.1f", l.Seconds), "bytes_behind", l.Bytes, "server_end", fmt.Sprintf("%s:%d", l.ServerFile, l.ServerPos)}
	if l.ExpireSeconds > 0 {
		args = append(args, "expiry_headroom", l.ExpiryHeadroom.Round(time.Second).String())
	}
	if l.ExpireSeconds > 0 && l.ExpiryHeadroom < time.Duration(l.ExpireSeconds)*time.Second/4 {
		a.e.log().Warn("archive lag: the server may purge binlog not yet archived soon", args...)
		return
	}
	a.e.log().Info("archive lag", args...)
}
