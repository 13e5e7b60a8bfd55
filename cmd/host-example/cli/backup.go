package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const backupUsage = `Usage:
  host-example backup -c CONFIG [--full] [-r REPO] [--source NAME] [--plugin PATH] [--json]

Takes one backup of a source and records it as a snapshot in the repository. The plugin for
the source's type is started, the source block is decoded with the attributes the plugin
declares, and the stream it sends is stored and checked. A snapshot is recorded only when the
whole stream arrived and its digest matches; on any failure, or when interrupted (Ctrl-C,
SIGTERM), nothing is recorded. Data is stored deduplicated: a page, redo or binlog chunk the
repository holds already (from any snapshot of any source) is not stored again.

Without --full the backup is an incremental: it builds on the newest snapshot of the same
source in the repository and holds only the pages that changed since (the plugin says how it
found them: "page-tracking", or "lsn-scan" with the reason it could not use page tracking).
When the repository holds no snapshot of the source yet, a full backup is taken instead.
Restoring an incremental needs every snapshot of its chain, back to its full.

Flags:
  -c, --config CONFIG  HCL configuration file (required)
  -r, --repo REPO      repository; default: repository = "…" in the configuration
      --full           take a full backup, even when an incremental is possible
      --source NAME    source block to back up; default: the only one
      --plugin PATH    plugin executable; default: the plugin "TYPE" block of the
                       configuration, else pagetrack-TYPE next to host-example
      --json           print the snapshot's metadata as JSON instead of a summary
  -v, --verbose        debug logs on stderr

Configuration:
  repository = "/backups/repo"                     # optional
  plugin "mysql" { path = "bin/pagetrack-mysql" }  # optional
  source "mysql" "primary" {
    dsn     = env("PAGETRACK_DSN")                 # env("NAME"): an environment variable
    datadir = "/var/lib/mysql"
  }
Relative paths are relative to the configuration file's directory.

Example:
  export PAGETRACK_DSN='backup:secret@tcp(127.0.0.1:3306)/'
  host-example backup -c /etc/pagetrack/backup.hcl --full --source primary
  host-example backup -c /etc/pagetrack/backup.hcl --source primary

` + backupStdoutHelp + exitStatusHelp

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("backup")
	var repoFlag, cfgPath, sourceName, pluginPath string
	var full, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &sourceName, "source")
	stringFlag(fs, &pluginPath, "plugin")
	boolFlag(fs, &full, "full")
	boolFlag(fs, &asJSON, "json")
	so := addStdoutFlags(fs) // --stdout: stdio.go
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
	if so.requested() { // --stdout: stdio.go
		return e.backupToStdout(ctx, so, cfgPath, sourceName, pluginPath, repoFlag, full, asJSON)
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
	unlock, err := e.lockRepo(ctx, r, false, "backup")
	if err != nil {
		return err
	}
	defer unlock()
	ref, src, schema, cfg, stop, err := e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return err
	}
	var base *repo.Snapshot
	if !full {
		if base, err = e.pickBase(ctx, r, block.Name, block.Type); err != nil {
			return err
		}
	}

	started := time.Now()
	if base != nil {
		e.log().Info("incremental backup starting", "source", block.Name, "type", block.Type, "repository", r.Location(), "base", base.ID, "base_kind", base.Kind)
	} else {
		e.log().Info("full backup starting", "source", block.Name, "type", block.Type, "repository", r.Location())
	}
	snap, err := e.backup(ctx, r, ref, src, cfg, base, func(s *repo.Snapshot) {
		s.Time = started.UTC()
		s.Source = block.Name
		s.SourceType = block.Type
		s.Config = publicConfig(schema, cfg)
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: the backup of %q was abandoned and nothing was recorded", block.Name)
		}
		return fmt.Errorf("backup of %q failed, nothing was recorded: %w", block.Name, err)
	}
	e.log().Info("snapshot recorded", "id", snap.ID, "duration", time.Since(started).Round(time.Millisecond))
	if asJSON {
		out, err := json.MarshalIndent(snap, "", "  ")
		if err != nil {
			return err
		}
		e.printf("%s\n", out)
		return nil
	}
	printBackupSummary(e, r, snap, time.Since(started))
	return nil
}

// pickBase chooses what a backup without --full builds on: the newest snapshot of the same
// source. It returns nil, saying so, when there is none to build on.
func (e *env) pickBase(ctx context.Context, r repo.Repository, source, typ string) (*repo.Snapshot, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		if s.Source != source {
			continue
		}
		switch {
		case s.SourceType != typ:
			e.log().Info(fmt.Sprintf("taking a full backup: the newest snapshot of source %q, %s, is of type %q, not %q", source, s.ID, s.SourceType, typ))
			return nil, nil
		case len(s.SourceState) == 0:
			e.log().Info(fmt.Sprintf("taking a full backup: the newest snapshot of source %q, %s, holds no source state to build an incremental on (its plugin did not provide one)", source, s.ID))
			return nil, nil
		}
		return s, nil
	}
	e.log().Info(fmt.Sprintf("taking a full backup: repository %s holds no snapshot of source %q to build an incremental on", r.Location(), source))
	return nil, nil
}

// backup runs one backup into r and records it; fill sets the metadata the stream does not
// carry. With base it asks for an incremental on base.
func (e *env) backup(ctx context.Context, r repo.Repository, ref PluginRef, src shared.Source, cfg shared.Config, base *repo.Snapshot, fill func(*repo.Snapshot)) (*repo.Snapshot, error) {
	// Cancelling bctx ends the plugin's call when we stop reading early.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()

	w, err := r.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Abort() // a no-op once committed

	req := &shared.BackupRequest{Config: cfg}
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base.SourceState}
	}
	stream, err := src.Backup(bctx, req)
	if err != nil {
		return nil, pluginError(ref, err)
	}
	prog := newProgressLine(e.stderr, e.terminal())
	header, trailer, err := storeStream(bctx, stream, w, prog.update)
	prog.done()
	if err != nil {
		if errors.Is(err, shared.ErrNoTrailer) {
			return nil, fmt.Errorf("the plugin's %w (see the plugin's log lines above)", err)
		}
		return nil, pluginError(ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKind(trailer, base); err != nil {
		return nil, err
	}

	snap := &repo.Snapshot{ID: w.ID(), Kind: repo.KindFull}
	if base != nil {
		snap.Kind, snap.Parent = repo.KindIncremental, base.ID
	}
	snap.SetStreamFields(header, trailer)
	fill(snap)
	snap.Finished = time.Now().UTC()
	if err := w.Commit(snap); err != nil {
		return nil, err
	}
	return snap, nil
}

// checkKind checks that the plugin took the kind of backup it was asked for: a full when base
// is nil, else an incremental on base. The stream kernel verified t, so its Kind is full or
// incremental, and a full one marks no file Incremental.
func checkKind(t *shared.Trailer, base *repo.Snapshot) error {
	if base == nil {
		if t.Kind != shared.KindFull {
			return fmt.Errorf("the plugin was asked for a full backup and sent a %q one", t.Kind)
		}
		return nil
	}
	if t.Kind != shared.KindIncremental {
		return fmt.Errorf("the plugin was asked for an incremental on snapshot %s and sent a %q backup", base.ID, t.Kind)
	}
	if t.BaseCheckpointLSN != base.CheckpointLSN {
		return fmt.Errorf("the plugin's incremental does not build on snapshot %s: its trailer names base checkpoint LSN %d, the snapshot's checkpoint LSN is %d", base.ID, t.BaseCheckpointLSN, base.CheckpointLSN)
	}
	return nil
}

func printBackupSummary(e *env, r repo.Repository, s *repo.Snapshot, took time.Duration) {
	e.printf("snapshot %s saved in %s\n", s.ID, r.Location())
	server := s.ServerVersion
	if s.ServerUUID != "" {
		server += ", server_uuid " + s.ServerUUID
	}
	e.printf("  source     %s (%s), %s\n", s.Source, s.SourceType, server)
	e.printf("  kind       %s\n", describeKind(s))
	if s.FallbackReason != "" {
		e.printf("  fallback   %s\n", s.FallbackReason)
	}
	e.printf("  pages      %d in %d tablespaces, %s\n", s.Pages, s.Tablespaces, formatBytes(s.PageBytes))
	if s.Incremental() {
		e.printf("  cost       %d pages in the changed set; %d pages (%s) read, %s sent\n", s.PagesInSet, s.PagesRead, formatBytes(s.BytesRead), formatBytes(s.BytesSent))
	}
	e.printf("  redo       %s\n", formatBytes(s.RedoBytes))
	if s.BinlogFile != "" {
		e.printf("  binlog     %s:%d (%s copied)\n", s.BinlogFile, s.BinlogPos, formatBytes(s.BinlogBytes))
	}
	e.printf("  files      %d other files\n", s.Files)
	if s.Incremental() {
		e.printf("  LSN range  checkpoint %d .. end %d (base checkpoint %d)\n", s.CheckpointLSN, s.EndLSN, s.BaseCheckpointLSN)
	} else {
		e.printf("  LSN range  checkpoint %d .. end %d\n", s.CheckpointLSN, s.EndLSN)
	}
	if s.GTIDExecuted != "" {
		e.printf("  GTID set   %s\n", oneLine(s.GTIDExecuted))
	}
	e.printf("  stored     %s new in the repository (%s compressed, %s logical; the rest was there already)\n",
		formatBytes(uint64(s.AddedBytes)), formatBytes(uint64(s.StoredBytes)), formatBytes(uint64(s.LogicalBytes)))
	e.printf("  duration   %s\n", formatDuration(took))
}

// describeKind says what kind of snapshot s is: "full", or "incremental on ID (METHOD)".
func describeKind(s *repo.Snapshot) string {
	method := s.Method
	if method == "" {
		method = "-"
	}
	if s.Incremental() {
		return fmt.Sprintf("incremental on %s (%s)", s.Parent, method)
	}
	kind := s.Kind
	if kind == "" {
		kind = repo.KindFull
	}
	if method != shared.MethodFull && method != "-" {
		return fmt.Sprintf("%s (%s)", kind, method)
	}
	return kind
}
