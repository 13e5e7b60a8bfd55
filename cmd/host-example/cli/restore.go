package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const restoreUsage = `Usage:
  host-example restore -r REPO SNAPSHOT --target DIR [--verify] [--relocate OLD=NEW…]
                       [--keyring FILE] [--plugin PATH]

Writes the snapshot into a new datadir DIR, which must be absent or empty; a restore that
fails or is interrupted removes what it wrote and leaves DIR as it was. SNAPSHOT is a
snapshot id, a unique prefix of one, or "latest". Every piece of stored data is checked
against its SHA-256 as it is read, and the stream against its digest; a damaged snapshot
fails the restore, naming the snapshot, file and page. With --verify the plugin starts a
temporary server on the restored datadir, lets crash recovery finish, checks every table and
shuts the server down.

An incremental snapshot is restored from its chain: it, its parent, and so on back to a full
snapshot, all of which must be in the repository. The host merges the chain into one stream
(the newest copy of every page, the snapshot's own files, redo and binlog), planned from the
snapshots' record lists; only the pages it sends are read, each once, several at a time.
Older copies of a page are never read, so a long chain costs no more than the pages it
restores.

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository and plugin blocks
  -t, --target DIR     directory to write the datadir into (required)
      --verify         check the restored datadir with a temporary server
      --relocate OLD=NEW
                       write the files the server kept in directory OLD outside its
                       datadir (innodb_data_home_dir, innodb_undo_directory,
                       innodb_directories, the binary log's) into NEW (absent or empty)
                       instead of into DIR/#pagetrack-external/N; repeatable. The options
                       the restored server needs are printed and written to
                       DIR/pagetrack-restore.cnf either way
      --keyring FILE   keyring data file holding the keys of an encrypted server's
                       snapshot (for MySQL: component_keyring_file's); the restore
                       refuses before writing anything if a key it needs is missing
      --plugin PATH    plugin executable; default: the plugin "TYPE" block of the
                       configuration, else pagetrack-TYPE next to host-example
  -v, --verbose        debug logs on stderr

Example:
  host-example restore -r /backups/repo latest --target /var/lib/mysql-restored --verify

` + restoreFromHelp + restorePointHelp + exitStatusHelp

func runRestore(ctx context.Context, e *env, args []string) (err error) {
	if restoreFromRequested(args) { // --from: restorefrom.go
		return e.restoreFrom(ctx, args)
	}
	if pointRequested(args) { // --to-time, --to-gtid, --before-gtid: restorepoint.go
		return e.restorePoint(ctx, args)
	}
	fs := e.flagSet("restore")
	var repoFlag, cfgPath, target, pluginPath, keyringFile string
	var verify bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &target, "t", "target")
	stringFlag(fs, &pluginPath, "plugin")
	stringFlag(fs, &keyringFile, "keyring")
	boolFlag(fs, &verify, "verify")
	relocs := relocateFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if keyringFile, err = absKeyring(keyringFile); err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageErrorf("no snapshot given; name one by id (a unique prefix is enough) or \"latest\"")
	case len(pos) > 1:
		return usageErrorf("unexpected argument %q: restore takes one snapshot", pos[1])
	case target == "":
		return usageErrorf("no target directory: pass --target DIR")
	}
	cf, r, unlock, err := e.openRepoFor(ctx, repoFlag, cfgPath, false, "restore")
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := repo.Find(ctx, r, pos[0])
	if err != nil {
		return err
	}
	// An incremental's chain is planned before the plugin starts: a broken chain, or data
	// the plan needs that is missing, fails here.
	var plan *mergePlan
	if snap.Incremental() {
		chain, err := resolveChain(ctx, r, snap)
		if err != nil {
			return fmt.Errorf("snapshot %s cannot be restored: %w", snap.ID, err)
		}
		if plan, err = planMerge(ctx, r, chain); err != nil {
			return fmt.Errorf("snapshot %s cannot be restored: %w", snap.ID, err)
		}
		e.log().Debug("merge planned", "chain", describeChain(chain), "pages", plan.stats.PagesPlanned, "left_zero", plan.stats.PagesLeftZero, "record_lists_read", plan.stats.SnapshotsRead)
	}
	target, err = filepath.Abs(target)
	if err != nil {
		return err
	}
	tgt, err := checkRestoreTarget(target)
	if err != nil {
		return err
	}
	ref, err := e.pluginRef(snap.SourceType, pluginPath, cf)
	if err != nil {
		return err
	}
	var res *shared.RestoreResult
	var trailer *shared.Trailer
	err = e.intoTarget(ctx, tgt, ref, func(src shared.Source) error {
		if plan != nil {
			e.log().Info("restore starting", "snapshot", snap.ID, "source", snap.Source, "target", target, "verify", verify, "chain", len(plan.chain))
		} else {
			e.log().Info("restore starting", "snapshot", snap.ID, "source", snap.Source, "target", target, "verify", verify)
		}
		res, trailer, err = e.restore(ctx, r, snap, plan, ref, src, &shared.RestoreRequest{TargetDir: target, Verify: verify, Relocations: *relocs, KeyringFile: keyringFile})
		if err != nil {
			return restoreFailed(ctx, err, snap.ID, target)
		}
		if verify && !res.Verified {
			return notVerified(ref, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	who := restored{id: snap.ID, source: snap.Source, time: snap.Time}
	if plan != nil {
		who.chain = describeChain(plan.chain)
		who.links = len(plan.chain)
	}
	printRestoreSummary(e, who, trailer, target, verify, res)
	return nil
}

// intoTarget starts ref's plugin and runs restore with it. When restore fails, what was
// written into tgt is removed once the plugin is stopped (cli/target.go).
func (e *env) intoTarget(ctx context.Context, tgt *restoreTarget, ref PluginRef, restore func(shared.Source) error) (err error) {
	writing := false
	defer func() { // after stop (defers run last first): nothing writes into the target any more
		if err != nil && writing {
			err = tgt.failed(err)
		}
	}()
	src, stop, err := e.startSource(ctx, ref)
	defer stop()
	if err != nil {
		return err
	}
	writing = true
	return restore(src)
}

// restoreFailed words the error of a restore of snapshot id into target.
func restoreFailed(ctx context.Context, err error, id, target string) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: the restore of snapshot %s into %s did not finish", id, target)
	}
	var de *damagedError
	if errors.As(err, &de) {
		return fmt.Errorf("restore into %s failed: %w", target, err)
	}
	return fmt.Errorf("restore of snapshot %s into %s failed: %w", id, target, err)
}

func notVerified(ref PluginRef, target string) error {
	return fmt.Errorf("the %s plugin wrote %s but did not report verifying it, although --verify was given; a restore that was not verified as asked is a failed one", ref.Type, target)
}

// checkedStream is a stream the host feeds a plugin's Restore, checking stored data on the way.
type checkedStream interface {
	shared.RecordStream
	failure() error // the stream's own (sticky) error
	complete() bool // the whole stream was read and found intact
	// verifiedTrailer is the snapshot's stored trailer, checked against its records'
	// digest and its metadata; nil unless complete.
	verifiedTrailer() *shared.Trailer
	received() int // records handed to the plugin
	close()        // stops reading; call it when done
}

// openSnapshotStream returns the stream that restores snap: its stored stream for a full
// snapshot, the merge of its chain (planned in plan, see planMerge) for an incremental.
func (e *env) openSnapshotStream(ctx context.Context, r *repo.Local, snap *repo.Snapshot, plan *mergePlan) (checkedStream, error) {
	if plan == nil {
		sr, err := r.OpenSnapshot(ctx, snap)
		if err != nil {
			return nil, readError(snap.ID, err)
		}
		return newRestoreStream(snap, sr), nil
	}
	return newMergeStream(ctx, r, plan), nil
}

// restore feeds snap to the plugin's Restore (see openSnapshotStream). It returns the
// snapshot's stored trailer, as read and verified.
func (e *env) restore(ctx context.Context, r *repo.Local, snap *repo.Snapshot, plan *mergePlan, ref PluginRef, src shared.Source, req *shared.RestoreRequest) (*shared.RestoreResult, *shared.Trailer, error) {
	stream, err := e.openSnapshotStream(ctx, r, snap, plan)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		stream.close()
		if ms, ok := stream.(*mergeStream); ok {
			st := ms.stats()
			e.log().Debug("merge done", "pages_planned", st.PagesPlanned, "pages_sent", st.PagesEmitted, "pages_left_zero", st.PagesLeftZero,
				"page_blobs_read", st.Read.PageBlobs, "pack_bytes_read", st.Read.PackBytes)
			if e.opts.MergeStats != nil {
				e.opts.MergeStats(st)
			}
		}
	}()
	return e.feed(ctx, ref, src, req, stream)
}

// feed feeds stream to the plugin's Restore and returns the stream's verified trailer.
func (e *env) feed(ctx context.Context, ref PluginRef, src shared.Source, req *shared.RestoreRequest, stream checkedStream) (*shared.RestoreResult, *shared.Trailer, error) {
	res, err := src.Restore(ctx, req, stream)
	if serr := stream.failure(); serr != nil {
		// The stream's own error is the cause; whatever the plugin made of it is not.
		return nil, nil, serr
	}
	if err != nil {
		return nil, nil, pluginError(ref, err)
	}
	if !stream.complete() {
		return nil, nil, fmt.Errorf("the %s plugin finished after %d of the snapshot's records without reading the rest; the restored datadir cannot be trusted", ref.Type, stream.received())
	}
	if res == nil {
		res = &shared.RestoreResult{}
	}
	return res, stream.verifiedTrailer(), nil
}

// restored names what a restore restored, for its summary.
type restored struct {
	id, source string
	time       time.Time
	chain      string // "T ← P ← F (full)" for a chain
	links      int
}

// printRestoreSummary prints what was restored. The consistency coordinates come from t, the
// stored trailer the restore read and verified, never from the snapshot file.
func printRestoreSummary(e *env, s restored, t *shared.Trailer, target string, verify bool, res *shared.RestoreResult) {
	e.printf("restored snapshot %s (%s, %s) into %s\n", s.id, s.source, s.time.Local().Format("2006-01-02 15:04:05 MST"), target)
	if s.links > 1 {
		e.printf("  chain      %d snapshots: %s\n", s.links, s.chain)
	}
	e.printf("  files      %d\n", res.Files)
	e.printf("  pages      %d\n", res.Pages)
	e.printf("  written    %s\n", formatBytes(res.Bytes))
	e.printf("  consistent at LSN %d", t.EndLSN)
	if t.BinlogFile != "" {
		e.printf(", binlog %s:%d", t.BinlogFile, t.BinlogPos)
	}
	e.printf("\n")
	if t.GTIDExecuted != "" {
		e.printf("  GTID set   %s\n", oneLine(t.GTIDExecuted))
	}
	if len(res.ServerOptions) > 0 {
		e.printf("  start it with these server options (written to %s):\n", res.OptionFile)
		for _, o := range res.ServerOptions {
			e.printf("    %s\n", o)
		}
	}
	switch {
	case res.Verified:
		line := fmt.Sprintf("  verified   yes: %d tables checked", res.TablesChecked)
		if res.RecoveredTo != 0 {
			line += fmt.Sprintf(", crash recovery reached LSN %d", res.RecoveredTo)
		}
		e.printf("%s\n", line)
	case verify:
		e.printf("  verified   NO: the plugin did not report a verification\n")
	default:
		e.printf("  verified   no (--verify starts a server on it and checks every table)\n")
	}
}

// relocateFlag registers the repeatable --relocate OLD=NEW flag.
func relocateFlag(fs *flag.FlagSet) *[]shared.Relocation {
	var relocs []shared.Relocation
	fs.Func("relocate", "", func(v string) error {
		from, to, ok := strings.Cut(v, "=")
		if !ok || !filepath.IsAbs(from) || !filepath.IsAbs(to) {
			return fmt.Errorf("--relocate takes OLD=NEW, two absolute directories (got %q)", v)
		}
		relocs = append(relocs, shared.Relocation{From: filepath.Clean(from), To: filepath.Clean(to)})
		return nil
	})
	return &relocs
}

// absKeyring makes a --keyring path absolute: the plugin runs in its own working directory.
func absKeyring(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return filepath.Abs(path)
}
