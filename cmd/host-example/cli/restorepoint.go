package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const restorePointHelp = `Restore to a point in time:
  host-example restore -r REPO (--to-time T | --to-gtid SET | --before-gtid GTID) --target DIR
                       [--source NAME] [--verify] [--plugin PATH]

Restores the newest snapshot at or before the point and replays the source's binlog archive
(host-example archive) from the snapshot's GTID set to exactly the point, with the server's
own applier on a temporary server (another server_id, one applier worker), which leaves a
plain datadir. The point is resolved against the archive before anything is written: a GTID
the archive lacks, a time outside the archive, a point in a gap between archive chains or
before the first snapshot the archive continues is refused, naming what can be restored.
  --to-time T        through the last transaction committed (immediate_commit_timestamp) at
                     or before T: RFC 3339 with Z or an offset, e.g. 2026-12-05T14:03:27Z,
                     "2026-12-05 14:03:27.125+01:00"
  --to-gtid SET      through the last transaction of the GTID set, in binlog order
  --before-gtid GTID every transaction before GTID (one uuid:n), not it
  --source NAME      the archive's source (default: the only one in the repository)

`

var pointFlags = []string{"to-time", "to-gtid", "before-gtid"}

// pointRequested reports whether restore's arguments name a point in time.
func pointRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		for _, f := range pointFlags {
			if strings.HasPrefix(a, "-") && name == f {
				return true
			}
		}
	}
	return false
}

// parsePointTime reads a time with an explicit zone (Z or an offset).
func parsePointTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageErrorf("--to-time %q: give the time in RFC 3339 with its zone, e.g. 2026-12-05T14:03:27Z or 2026-12-05 14:03:27+01:00", s)
}

// pointRestore is one restore to a point: what was chosen for it.
type pointRestore struct {
	e       *env
	r       *repo.Local
	source  string
	target  shared.PointTarget
	chain   *repo.ArchiveChain
	snap    *repo.Snapshot
	reached *shared.PointInTimeResult // the resolution
}

func (e *env) restorePoint(ctx context.Context, args []string) error {
	fs := e.flagSet("restore")
	var repoFlag, cfgPath, target, pluginPath, sourceName, toTime string
	var verify bool
	var pt shared.PointTarget
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &target, "t", "target")
	stringFlag(fs, &pluginPath, "plugin")
	stringFlag(fs, &sourceName, "source")
	stringFlag(fs, &toTime, "to-time")
	stringFlag(fs, &pt.ToGTIDs, "to-gtid")
	stringFlag(fs, &pt.BeforeGTID, "before-gtid")
	boolFlag(fs, &verify, "verify")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q: a restore to a point chooses its snapshot itself", pos[0])
	case target == "":
		return usageErrorf("no target directory: pass --target DIR")
	}
	if toTime != "" {
		if pt.ToTime, err = parsePointTime(toTime); err != nil {
			return err
		}
	}
	if err := pt.Check(); err != nil {
		return usageErrorf("%v", err)
	}
	cf, r, unlock, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "restore")
	if err != nil {
		return err
	}
	defer unlock()
	p := &pointRestore{e: e, r: r, target: pt}
	var plan *mergePlan
	if err := p.choose(ctx, sourceName); err != nil {
		return err
	}
	if target, err = filepath.Abs(target); err != nil {
		return err
	}
	tgt, err := checkRestoreTarget(target)
	if err != nil {
		return err
	}
	ref, err := e.pluginRef(p.sourceType(ctx), pluginPath, cf)
	if err != nil {
		return err
	}
	// The plugin resolves the point (the archive's bytes are its database's log) in a session
	// of its own, before anything is written; then the snapshot is restored and the archive
	// replayed onto it.
	if err := p.resolveWith(ctx, ref); err != nil {
		return err
	}
	if p.snap.Incremental() {
		chain, err := resolveChain(ctx, r, p.snap)
		if err == nil {
			plan, err = planMerge(ctx, r, chain)
		}
		if err != nil {
			return fmt.Errorf("snapshot %s cannot be restored: %w", p.snap.ID, err)
		}
	}
	var res *shared.RestoreResult
	var trailer *shared.Trailer
	var applied *shared.PointInTimeResult
	err = e.intoTarget(ctx, tgt, ref, func(src shared.Source) error {
		e.log().Info("restore to a point starting", "snapshot", p.snap.ID, "point", pt.String(), "reached", p.reached.Reached, "target", target)
		res, trailer, err = e.restore(ctx, r, p.snap, plan, ref, src, &shared.RestoreRequest{TargetDir: target})
		if err != nil {
			return restoreFailed(ctx, err, p.snap.ID, target)
		}
		applied, err = p.apply(ctx, src, target, trailer, verify)
		if err != nil {
			return fmt.Errorf("replaying the archive of %s onto %s failed: %w", p.source, target, err)
		}
		if verify && !applied.Verified {
			return notVerified(ref, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The check, when asked for, ran on the replaying server after the replay.
	res.Verified, res.TablesChecked, res.RecoveredTo = applied.Verified, int(applied.TablesChecked), 0
	printRestoreSummary(e, restored{id: p.snap.ID, source: p.snap.Source, time: p.snap.Time}, trailer, target, verify, res)
	e.printf("  point      %s\n", pt.String())
	if applied.LastGTID != "" {
		e.printf("  reached    %s, committed %s\n", applied.LastGTID, applied.LastCommit.UTC().Format(time.RFC3339Nano))
	} else {
		e.printf("  reached    the snapshot's own point (no archived transaction to apply)\n")
	}
	e.printf("  applied    %d transaction(s) from the archive (server_id %d while replaying)\n", applied.Applied, applied.ReplayServerID)
	e.printf("  gtid set   %s\n", oneLine(applied.Reached))
	return nil
}

// choose picks the source and the archive chain the point lies in, from the records alone.
func (p *pointRestore) choose(ctx context.Context, only string) error {
	sources, err := p.r.ArchiveSources()
	if err != nil {
		return err
	}
	switch {
	case only != "":
		p.source = only
	case len(sources) == 1:
		p.source = sources[0]
	case len(sources) == 0:
		return fmt.Errorf("the repository holds no binlog archive (host-example archive stores one); a restore to a point needs it")
	default:
		return usageErrorf("the repository holds the archives of %s: name one with --source", strings.Join(sources, ", "))
	}
	recs, bad, err := p.r.ArchiveRecords(ctx, p.source)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%v; run `host-example check`", bad[0])
	}
	chains, _ := repo.ArchiveChains(recs)
	if len(chains) == 0 {
		return fmt.Errorf("no binlog archive is stored for source %q", p.source)
	}
	for i := len(chains) - 1; i >= 0 && p.chain == nil; i-- {
		if chainHolds(chains[i], p.target) {
			p.chain = chains[i]
		}
	}
	if p.chain == nil {
		return p.refuse(ctx, chains, "it lies in no stored archive chain (in a gap between chains, before the archive or after its end)")
	}
	return nil
}

// chainHolds says whether c's records hold target's point: its GTIDs, or its time between the
// chain's first and last commit.
func chainHolds(c *repo.ArchiveChain, t shared.PointTarget) bool {
	base, err1 := shared.ParseGTIDSet(c.Base.GTIDs)
	end, err2 := shared.ParseGTIDSet(c.End.GTIDs)
	if err1 != nil || err2 != nil {
		return false
	}
	archived := end.Subtract(base)
	switch {
	case t.BeforeGTID != "":
		one, _ := shared.ParseGTIDSet(t.BeforeGTID)
		return archived.Contains(one)
	case t.ToGTIDs != "":
		want, _ := shared.ParseGTIDSet(t.ToGTIDs)
		return end.Contains(want) && !base.Contains(want)
	default:
		var first, latest time.Time
		for _, r := range c.Records {
			if r.Transactions > 0 && first.IsZero() {
				first = r.FirstCommit
			}
			if r.Transactions > 0 && r.LastCommit.After(latest) {
				latest = r.LastCommit
			}
		}
		return !first.IsZero() && !t.ToTime.Before(first) && !t.ToTime.After(latest)
	}
}

// refuse words a point that cannot be restored, naming the recoverable windows.
func (p *pointRestore) refuse(ctx context.Context, chains []*repo.ArchiveChain, why string) error {
	tls, err := timelines(ctx, p.r, p.source)
	var windows []string
	if err == nil && len(tls) == 1 {
		for _, w := range tls[0].Windows {
			if w.Note != "" {
				continue
			}
			windows = append(windows, fmt.Sprintf("snapshot %s's point (GTIDs %s) through %s (last commit %s)", w.Snapshot, oneLine(w.From.GTIDs), oneLine(w.To.GTIDs), w.To.Commit.UTC().Format(time.RFC3339Nano)))
		}
	}
	msg := fmt.Sprintf("cannot restore %s to %s: %s", p.source, p.target, why)
	if len(windows) == 0 {
		return errors.New(msg + "; nothing is recoverable to a point: no snapshot is continued by the archive")
	}
	return fmt.Errorf("%s; the earliest recoverable point is %s; recoverable: %s", msg, windows[0], strings.Join(windows, "; "))
}

// sourceType is the plugin type of the source's snapshots ("mysql" when it has none).
func (p *pointRestore) sourceType(ctx context.Context) string {
	snaps, _, err := p.r.ScanSnapshots(ctx)
	for i := len(snaps) - 1; err == nil && i >= 0; i-- {
		if snaps[i].Source == p.source {
			return snaps[i].SourceType
		}
	}
	return "mysql"
}

// resolveWith runs resolve in a plugin session of its own.
func (p *pointRestore) resolveWith(ctx context.Context, ref PluginRef) error {
	src, stop, err := p.e.startSource(ctx, ref)
	defer stop()
	if err != nil {
		return err
	}
	return p.resolve(ctx, src)
}

// resolve asks the plugin where the point is in the chain, then picks the newest snapshot the
// chain continues that is at or before it.
func (p *pointRestore) resolve(ctx context.Context, src shared.Source) error {
	pr, ok := src.(shared.PointInTimeRestorer)
	if !ok {
		return fmt.Errorf("%w: the plugin cannot restore to a point in time", shared.ErrUnsupported)
	}
	res, err := pr.PointInTime(ctx, &shared.PointInTimeRequest{Target: p.target, BaseGTIDs: p.chain.Base.GTIDs}, p.segments())
	if err != nil {
		return fmt.Errorf("cannot restore %s to %s: %w", p.source, p.target, err)
	}
	p.reached = res
	reached, err := shared.ParseGTIDSet(res.Reached)
	if err != nil {
		return fmt.Errorf("the plugin resolved the point to a malformed GTID set: %w", err)
	}
	base, _ := shared.ParseGTIDSet(p.chain.Base.GTIDs)
	snaps, _, err := p.r.ScanSnapshots(ctx)
	if err != nil {
		return err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		g, err := shared.ParseGTIDSet(s.GTIDExecuted)
		if s.Source == p.source && err == nil && s.GTIDExecuted != "" && g.Contains(base) && reached.Contains(g) {
			p.snap = s
			return nil
		}
	}
	return p.refuse(ctx, nil, fmt.Sprintf("the point (through %s, committed %s) is before the first snapshot the archive continues", res.LastGTID, res.LastCommit.UTC().Format(time.RFC3339Nano)))
}

// apply replays the chain onto the restored target.
func (p *pointRestore) apply(ctx context.Context, src shared.Source, target string, t *shared.Trailer, verify bool) (*shared.PointInTimeResult, error) {
	if t == nil || t.GTIDExecuted != p.snap.GTIDExecuted {
		return nil, fmt.Errorf("snapshot %s's stored trailer does not carry the GTID set its metadata names", p.snap.ID)
	}
	req := &shared.PointInTimeRequest{Target: p.target, BaseGTIDs: p.chain.Base.GTIDs, Apply: true, TargetDir: target,
		SnapshotGTIDs: t.GTIDExecuted, ExpectGTIDs: p.reached.Reached, Verify: verify}
	res, err := src.(shared.PointInTimeRestorer).PointInTime(ctx, req, p.segments())
	if err != nil {
		return nil, err
	}
	got, err1 := shared.ParseGTIDSet(res.Reached)
	want, err2 := shared.ParseGTIDSet(p.reached.Reached)
	if err1 != nil || err2 != nil || !got.Equal(want) || res.LastGTID != p.reached.LastGTID {
		return nil, fmt.Errorf("the plugin reports reaching %s (last %s), not the resolved %s (last %s)", res.Reached, res.LastGTID, p.reached.Reached, p.reached.LastGTID)
	}
	return res, nil
}

// segments streams the chain's stored segments, each checked as it is read.
func (p *pointRestore) segments() shared.ArchiveStream {
	return &recordSegments{r: p.r, recs: p.chain.Records}
}

type recordSegments struct {
	r    *repo.Local
	recs []*repo.ArchiveRecord
}

func (s *recordSegments) Recv() (*shared.ArchiveSegment, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	rec := s.recs[0]
	s.recs = s.recs[1:]
	return s.r.ReadArchiveSegment(rec)
}
