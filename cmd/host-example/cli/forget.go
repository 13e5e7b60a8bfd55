package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const forgetUsage = `Usage:
  host-example forget -r REPO [--keep-last N] [--keep-daily N] [--keep-binlog-within SPAN]
                     [--prune] [--dry-run] [--json]
  host-example forget -c CONFIG [--prune] [--dry-run] [--json]

Removes the snapshots a retention policy does not keep, source by source:
  --keep-last N    keeps the newest N snapshots
  --keep-daily N   keeps the newest snapshot of each of the N most recent days that have
                   snapshots (days in local time)
A snapshot kept by either rule is kept. Without --keep-* flags the configuration's retention
block is used:
  retention { keep_last = 7  keep_daily = 14 }
Chains are respected: a snapshot that a kept incremental builds on is always kept, and so is
its whole chain back to its full, whatever the policy says. Every snapshot is printed with
the reasons it is kept or removed.

The binlog archive (host-example archive) is kept whole unless the policy has
keep_binlog_within = "7d" (or --keep-binlog-within 7d; units s, m, h, d, w): then the oldest
archive records whose newest commit is older than that span go, except what a kept
snapshot's window needs (every record holding a transaction after a kept snapshot's point
stays) and the archive's last record; only the oldest records go, so the archive left has no
hole. An archive whose records do not verify or chain is not touched (forget fails).

Forgetting removes snapshot metadata only; --prune then removes the data no remaining
snapshot refers to: packs whose blobs are all unused are deleted, packs that are partly used
are rewritten with their used blobs (each checked on the way), and the index is rewritten.
New packs and the new index are written before anything old is deleted, so an interruption
leaves the repository whole. Data left by interrupted backups goes too.

Then, for each source, the plugin is told the retention floor for change tracking (Purge):
the smallest checkpoint LSN among the tips of the source's kept chains (the newest snapshot
of each chain: the next incremental builds on a tip, so tracking older than every tip is no
longer needed). This needs the source's configuration (-c CONFIG); without it, no purge is
requested and the floor is only printed.

Nothing is forgotten or pruned (exit status 1, --dry-run too) while any snapshot cannot be
verified: its file fails its checksum or does not parse, its metadata disagrees with its
record list, or its chain is broken (a parent missing or unverifiable, of another source, or
a loop). The message names each one; "host-example repair snapshots" sets them aside, then
forget runs again.

forget takes an exclusive lock: it refuses to run while a backup, restore, check or another
forget uses the repository (--dry-run takes a shared one).

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file: repository, retention block, and the source
                       blocks and plugins for the tracking purge
      --keep-last N    keep the newest N snapshots of each source
      --keep-daily N   keep the newest snapshot of each of the last N days of each source
      --keep-binlog-within SPAN  keep the binlog archive of the last SPAN (and what kept
                       snapshots need)
      --prune          remove the data no remaining snapshot or archive record refers to
      --dry-run        print what would be removed; change nothing, purge nothing
      --plugin PATH    plugin executable for the purge; default: the plugin "TYPE" block of
                       the configuration, else pagetrack-TYPE next to host-example
      --json           print JSON: dry_run, policy {keep_last, keep_daily}, sources [{source,
                       keep [{id, time, kind, parent, reasons}], remove [same], tips,
                       floor_lsn, purge {requested, floor_lsn, purged_up_to, message, error,
                       note}}], prune (blobs_kept, blobs_removed, bytes_removed, packs_kept,
                       packs_rewritten, packs_deleted, packs_written, packs_unindexed,
                       pack_bytes_before, pack_bytes_after, index_files_replaced, tmp_files),
                       archive [{source, remove [record numbers], keep}]
  -v, --verbose        debug logs on stderr

Example:
  host-example forget -c /etc/pagetrack/backup.hcl --prune
  host-example forget -r /backups/repo --keep-last 3 --keep-daily 7 --dry-run

` + exitStatusHelp

type forgetOutput struct {
	DryRun  bool              `json:"dry_run"`
	Policy  forgetPolicy      `json:"policy"`
	Sources []*forgetSource   `json:"sources"`
	Prune   *repo.PruneReport `json:"prune"`
	// Archive is, per source with an archive, the records keep_binlog_within let go.
	Archive []*forgetArchive    `json:"archive"`
	groups  []*repo.ForgetGroup `json:"-"`
}

type forgetArchive struct {
	Source string   `json:"source"`
	Remove []uint64 `json:"remove"`
	Keep   int      `json:"keep"`
}

type forgetPolicy struct {
	KeepLast  int `json:"keep_last"`
	KeepDaily int `json:"keep_daily"`
}

type forgetSource struct {
	Source   string           `json:"source"`
	Keep     []forgetSnapshot `json:"keep"`
	Remove   []forgetSnapshot `json:"remove"`
	Tips     []string         `json:"tips"`
	FloorLSN uint64           `json:"floor_lsn"`
	Purge    *purgeOutput     `json:"purge"`
}

type forgetSnapshot struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Parent  string    `json:"parent"`
	Reasons []string  `json:"reasons"`
}

type purgeOutput struct {
	// Requested: the plugin was asked to purge (and answered, unless Error is set).
	Requested  bool   `json:"requested"`
	FloorLSN   uint64 `json:"floor_lsn"`
	PurgedUpTo uint64 `json:"purged_up_to"`
	Message    string `json:"message"`
	Error      string `json:"error,omitempty"`
	// Note says why no purge was requested.
	Note string `json:"note,omitempty"`
}

func runForget(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("forget")
	var repoFlag, cfgPath, pluginPath string
	var keepLast, keepDaily int
	var prune, dryRun, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &pluginPath, "plugin")
	fs.IntVar(&keepLast, "keep-last", 0, "")
	fs.IntVar(&keepDaily, "keep-daily", 0, "")
	var keepBinlog string
	stringFlag(fs, &keepBinlog, "keep-binlog-within")
	boolFlag(fs, &prune, "prune")
	boolFlag(fs, &dryRun, "dry-run")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (snapshots are chosen by the policy)", pos[0])
	}
	policyFlags := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "keep-last" || f.Name == "keep-daily" {
			policyFlags = true
		}
	})
	if keepLast < 0 || keepDaily < 0 {
		return usageErrorf("--keep-last and --keep-daily take a number of 0 or more")
	}
	var cf *config.File
	if cfgPath != "" {
		if cf, err = e.loadConfig(cfgPath); err != nil {
			return err
		}
	}
	policy := repo.Policy{KeepLast: keepLast, KeepDaily: keepDaily}
	switch {
	case policyFlags:
	case cf != nil && cf.Retention != nil:
		policy = repo.Policy{KeepLast: cf.Retention.KeepLast, KeepDaily: cf.Retention.KeepDaily, KeepBinlogWithin: cf.Retention.KeepBinlogWithin}
		e.log().Debug("retention policy from the configuration", "at", pos0(cf.Retention), "policy", policy.String())
	case cf != nil:
		return usageErrorf("no retention policy: pass --keep-last N and/or --keep-daily N, or add a retention { keep_last = N  keep_daily = N } block to %s", cf.Path)
	default:
		return usageErrorf("no retention policy: pass --keep-last N and/or --keep-daily N (or -c CONFIG with a retention block)")
	}
	if keepBinlog != "" {
		d, err := config.ParseSpan(keepBinlog)
		if err != nil {
			return usageErrorf("--keep-binlog-within %q: a span such as 7d, 36h or 90m", keepBinlog)
		}
		policy.KeepBinlogWithin = d
	}
	if policy.Empty() {
		return usageErrorf("the policy keeps nothing; forget never removes every snapshot: give --keep-last or --keep-daily a number above 0")
	}
	dir, err := repoPath(repoFlag, cf)
	if err != nil {
		return err
	}
	r, err := e.openRepo(dir)
	if err != nil {
		return err
	}

	purpose := "forget"
	if prune {
		purpose = "forget --prune"
	}
	if dryRun {
		purpose += " --dry-run"
	}
	unlock, err := e.lockRepo(ctx, r, !dryRun, purpose)
	if err != nil {
		return err
	}
	out, err := e.forget(ctx, r, policy, prune, dryRun)
	unlock()
	if err != nil {
		return err
	}
	// The purge runs after the lock is released: it does not touch the repository.
	purgeErr := e.purgeSources(ctx, out, cf, pluginPath, dryRun)
	if asJSON {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		e.printf("%s\n", b)
	} else {
		printForget(e, out)
	}
	return purgeErr
}

func pos0(r *config.Retention) string { return pos(r.DeclRange) }

// forget applies the policy and removes what it does not keep (unless dryRun), then prunes.
func (e *env) forget(ctx context.Context, r *repo.Local, policy repo.Policy, prune, dryRun bool) (*forgetOutput, error) {
	// Retention acts on every snapshot's parent, kind, time and checkpoint: it runs only when
	// every snapshot file, its metadata against its record list, and every chain verify.
	snaps, bad, err := r.VerifySnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if err := repo.RefuseUnverified(r.Location(), bad); err != nil {
		return nil, err
	}
	groups := repo.PlanForget(snaps, policy)
	if err := repo.CheckKeepsChains(snaps, groups, r.Location()); err != nil {
		return nil, err
	}
	out := &forgetOutput{DryRun: dryRun, Policy: forgetPolicy{policy.KeepLast, policy.KeepDaily}, Sources: []*forgetSource{}, groups: groups}
	var remove []*repo.Snapshot
	for _, g := range groups {
		src := &forgetSource{Source: g.Source, Keep: []forgetSnapshot{}, Remove: []forgetSnapshot{}, Tips: []string{}, FloorLSN: g.FloorLSN}
		for _, d := range g.Keep {
			src.Keep = append(src.Keep, toForgetSnapshot(d))
		}
		for _, d := range g.Remove {
			src.Remove = append(src.Remove, toForgetSnapshot(d))
			remove = append(remove, d.Snapshot)
		}
		for _, t := range g.Tips {
			src.Tips = append(src.Tips, t.ID)
		}
		out.Sources = append(out.Sources, src)
	}
	// Newest first: an interruption never leaves an incremental whose parent is gone.
	sort.SliceStable(remove, func(i, j int) bool { return remove[i].Time.After(remove[j].Time) })
	ids := make([]string, len(remove))
	for i, s := range remove {
		ids[i] = s.ID
	}
	// The archive first: it refuses (and nothing at all is removed) when it does not verify;
	// what it removes is what the snapshots that stay do not need.
	if policy.KeepBinlogWithin > 0 {
		if out.Archive, err = e.forgetArchive(ctx, r, snaps, ids, policy.KeepBinlogWithin, dryRun); err != nil {
			return nil, err
		}
	}
	if !dryRun && len(remove) > 0 {
		if err := r.RemoveSnapshots(ctx, ids); err != nil {
			return nil, err
		}
		e.log().Info("snapshots forgotten", "count", len(ids))
	}
	if prune {
		rep, err := r.Prune(ctx, dryRun, ids...)
		if err != nil {
			return nil, fmt.Errorf("the snapshots were forgotten, but pruning failed: %w", err)
		}
		out.Prune = rep
	}
	return out, nil
}

// forgetArchive removes, per source, the oldest archive records older than within that no
// kept snapshot's window uses. It refuses a source whose archive does not verify or chain:
// nothing is deleted on data that failed a check.
func (e *env) forgetArchive(ctx context.Context, r *repo.Local, snaps []*repo.Snapshot, removed []string, within time.Duration, dryRun bool) ([]*forgetArchive, error) {
	var kept []*repo.Snapshot
	for _, s := range snaps {
		if !slices.Contains(removed, s.ID) {
			kept = append(kept, s)
		}
	}
	sources, err := r.ArchiveSources()
	if err != nil {
		return nil, err
	}
	out := []*forgetArchive{}
	for _, src := range sources {
		recs, bad, err := r.ArchiveRecords(ctx, src)
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("%v; nothing of the archive was removed: run `host-example check`", bad[0])
		}
		chains, problems := repo.ArchiveChains(recs)
		if len(problems) > 0 {
			return nil, fmt.Errorf("the archive of %s does not chain (%v); nothing of it was removed: run `host-example check`", src, problems[0])
		}
		var own []*repo.Snapshot
		for _, s := range kept {
			if s.Source == src {
				own = append(own, s)
			}
		}
		seqs := repo.PlanArchiveForget(chains, own, within, time.Now())
		out = append(out, &forgetArchive{Source: src, Remove: append([]uint64{}, seqs...), Keep: len(recs) - len(seqs)})
		if !dryRun && len(seqs) > 0 {
			if err := r.RemoveArchiveRecords(src, seqs); err != nil {
				return nil, err
			}
			e.log().Info("archive records forgotten", "source", src, "count", len(seqs))
		}
	}
	return out, nil
}

func toForgetSnapshot(d repo.Decision) forgetSnapshot {
	s := d.Snapshot
	return forgetSnapshot{ID: s.ID, Time: s.Time, Kind: s.Kind, Parent: s.Parent, Reasons: d.Reasons}
}

// purgeSources tells each source's plugin its retention floor. It returns the first error,
// after trying every source.
func (e *env) purgeSources(ctx context.Context, out *forgetOutput, cf *config.File, pluginPath string, dryRun bool) error {
	type started struct {
		ref  PluginRef
		src  shared.Source
		stop func()
	}
	plugins := map[string]*started{}
	defer func() {
		for _, p := range plugins {
			p.stop()
		}
	}()
	var first error
	for i, g := range out.groups {
		o := out.Sources[i]
		po := &purgeOutput{FloorLSN: g.FloorLSN}
		o.Purge = po
		if len(g.Tips) == 0 {
			po.Note = "no snapshot of the source is kept"
			continue
		}
		if dryRun {
			po.Note = "not requested (--dry-run)"
			continue
		}
		if cf == nil {
			po.Note = "no purge requested: the source's configuration is needed for that (pass -c CONFIG)"
			continue
		}
		var block *config.Source
		for _, b := range cf.Sources {
			if b.Name == g.Source {
				block = b
			}
		}
		if block == nil {
			po.Note = fmt.Sprintf("no purge requested: %s has no source block named %q", cf.Path, g.Source)
			continue
		}
		if typ := g.Tips[0].SourceType; typ != "" && typ != block.Type {
			po.Note = fmt.Sprintf("no purge requested: the snapshots of source %q are of type %q, its block in %s of type %q", g.Source, typ, cf.Path, block.Type)
			continue
		}
		p := plugins[block.Type]
		if p == nil {
			ref, err := e.pluginRef(block.Type, pluginPath, cf)
			if err != nil {
				po.Error = err.Error()
				first = firstErr(first, err)
				continue
			}
			src, stop, err := e.startSource(ctx, ref)
			if err != nil {
				stop()
				po.Error = err.Error()
				first = firstErr(first, err)
				continue
			}
			p = &started{ref: ref, src: src, stop: stop}
			plugins[block.Type] = p
		}
		_, cfg, err := e.configure(ctx, p.ref, p.src, block)
		if err != nil {
			po.Error = shared.Redact(err.Error(), e.secrets...)
			first = firstErr(first, err)
			continue
		}
		po.Requested = true
		e.log().Info("requesting tracking purge", "source", g.Source, "floor_lsn", g.FloorLSN)
		res, err := p.src.Purge(ctx, &shared.PurgeRequest{Config: cfg, FloorLSN: g.FloorLSN})
		if err != nil {
			err = fmt.Errorf("tracking purge for source %s (floor LSN %d) failed: %w", g.Source, g.FloorLSN, pluginError(p.ref, err))
			po.Error = shared.Redact(err.Error(), e.secrets...)
			first = firstErr(first, err)
			continue
		}
		if res != nil {
			po.PurgedUpTo, po.Message = res.PurgedUpTo, res.Message
		}
	}
	return first
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func printForget(e *env, out *forgetOutput) {
	policy := repo.Policy{KeepLast: out.Policy.KeepLast, KeepDaily: out.Policy.KeepDaily}
	verb := "removed"
	if out.DryRun {
		verb = "would remove"
		e.printf("dry run: nothing is changed\n")
	}
	if len(out.Sources) == 0 {
		e.printf("the repository holds no snapshots\n")
	}
	for _, s := range out.Sources {
		e.printf("source %s (policy %s): keep %d, %s %d\n", s.Source, policy.String(), len(s.Keep), verb, len(s.Remove))
		row := func(what string, f forgetSnapshot) {
			kind := orDash(f.Kind)
			if f.Parent != "" {
				kind += " on " + f.Parent
			}
			e.printf("  %-7s %s  %s  %-36s %s\n", what, f.ID, f.Time.Local().Format("2006-01-02 15:04:05"), kind, strings.Join(f.Reasons, "; "))
		}
		for _, f := range s.Keep {
			row("keep", f)
		}
		for _, f := range s.Remove {
			row("remove", f)
		}
		if p := s.Purge; p != nil {
			switch {
			case p.Error != "":
				e.printf("tracking purge for source %s: floor LSN %d: FAILED: %s\n", s.Source, p.FloorLSN, p.Error)
			case p.Requested:
				msg := p.Message
				if msg == "" {
					msg = fmt.Sprintf("purged up to LSN %d", p.PurgedUpTo)
				}
				e.printf("tracking purge for source %s: floor LSN %d: %s\n", s.Source, p.FloorLSN, msg)
			default:
				e.printf("tracking purge for source %s: floor LSN %d: %s\n", s.Source, p.FloorLSN, p.Note)
			}
		}
	}
	for _, a := range out.Archive {
		e.printf("archive of %s: %s %d record(s), %d kept\n", a.Source, verb, len(a.Remove), a.Keep)
	}
	if p := out.Prune; p != nil {
		what := "pruned"
		if p.DryRun {
			what = "prune would remove"
		}
		e.printf("%s: %d blobs (%s compressed) no snapshot refers to; %d blobs kept\n", what, p.BlobsRemoved, formatBytes(uint64(p.BytesRemoved)), p.BlobsKept)
		e.printf("  packs: %d kept, %d rewritten, %d deleted, %d written, %d unindexed deleted; %s → %s on disk\n",
			p.PacksKept, p.PacksRewritten, p.PacksDeleted, p.PacksWritten, p.PacksUnindexed, formatBytes(uint64(p.PackBytesBefore)), formatBytes(uint64(p.PackBytesAfter)))
		if p.IndexFilesReplaced > 0 {
			e.printf("  index: %d files replaced by one\n", p.IndexFilesReplaced)
		}
	}
}
