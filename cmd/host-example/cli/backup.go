package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const backupUsage = `Usage:
  host-example backup -c CONFIG --full [-r REPO] [--source NAME] [--plugin PATH] [--json]

Takes one backup of a source and records it as a snapshot in the repository. The plugin for
the source's type is started, the source block is decoded with the attributes the plugin
declares, and the stream it sends is stored and checked. A snapshot is recorded only when the
whole stream arrived and its digest matches; on any failure, or when interrupted (Ctrl-C,
SIGTERM), nothing is recorded and nothing is left behind.

Flags:
  -c, --config CONFIG  HCL configuration file (required)
  -r, --repo REPO      repository; default: repository = "…" in the configuration
      --full           take a full backup (required: the only kind so far)
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

` + exitStatusHelp

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
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q", pos[0])
	case cfgPath == "":
		return usageErrorf("no configuration: pass -c CONFIG")
	case !full:
		return usageErrorf("pass --full: full backups are the only kind so far")
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
	r, err := repo.Open(dir)
	if err != nil {
		return err
	}
	ref, err := e.pluginRef(block.Type, pluginPath, cf)
	if err != nil {
		return err
	}
	src, stop, err := e.startSource(ctx, ref)
	defer stop()
	if err != nil {
		return err
	}
	schema, cfg, err := e.configure(ctx, ref, src, block)
	if err != nil {
		return err
	}

	started := time.Now()
	e.log().Info("backup starting", "source", block.Name, "type", block.Type, "repository", r.Location())
	snap, err := e.backup(ctx, r, ref, src, cfg, func(s *repo.Snapshot) {
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

// backup runs one backup into r and records it; fill sets the metadata the stream does not carry.
func (e *env) backup(ctx context.Context, r repo.Repository, ref PluginRef, src shared.Source, cfg shared.Config, fill func(*repo.Snapshot)) (*repo.Snapshot, error) {
	// Cancelling bctx ends the plugin's call when we stop reading early.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()

	w, err := r.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Abort() // a no-op once committed

	stream, err := src.Backup(bctx, &shared.BackupRequest{Config: cfg})
	if err != nil {
		return nil, pluginError(ref, err)
	}
	prog := newProgressLine(e.stderr, e.terminal())
	header, trailer, err := storeStream(bctx, stream, w, prog.update)
	prog.done()
	if err != nil {
		if errors.Is(err, shared.ErrNoTrailer) {
			return nil, fmt.Errorf("the plugin's stream ended before its trailer: the backup did not complete (see the plugin's log lines above)")
		}
		return nil, pluginError(ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	snap := &repo.Snapshot{
		ID:            w.ID(),
		Kind:          repo.KindFull,
		ServerVersion: header.ServerVersion,
		ServerUUID:    header.ServerUUID,
		PageSize:      header.PageSize,
		StreamFormat:  header.StreamFormat,
		CheckpointLSN: trailer.CheckpointLSN,
		EndLSN:        trailer.EndLSN,
		MaxPageLSN:    trailer.MaxPageLSN,
		BinlogFile:    trailer.BinlogFile,
		BinlogPos:     trailer.BinlogPos,
		GTIDExecuted:  trailer.GTIDExecuted,
		Tablespaces:   trailer.Tablespaces,
		Pages:         trailer.Pages,
		PageBytes:     trailer.PageBytes,
		RedoBytes:     trailer.RedoBytes,
		BinlogBytes:   trailer.BinlogBytes,
		Files:         trailer.Files,
		Records:       trailer.Records,
		StreamDigest:  hex.EncodeToString(trailer.Digest),
	}
	if snap.CheckpointLSN == 0 {
		snap.CheckpointLSN = header.CheckpointLSN
	}
	fill(snap)
	snap.Finished = time.Now().UTC()
	if err := w.Commit(snap); err != nil {
		return nil, err
	}
	return snap, nil
}

func printBackupSummary(e *env, r repo.Repository, s *repo.Snapshot, took time.Duration) {
	e.printf("snapshot %s saved in %s\n", s.ID, r.Location())
	server := s.ServerVersion
	if s.ServerUUID != "" {
		server += ", server_uuid " + s.ServerUUID
	}
	e.printf("  source     %s (%s), %s\n", s.Source, s.SourceType, server)
	e.printf("  pages      %d in %d tablespaces, %s\n", s.Pages, s.Tablespaces, formatBytes(s.PageBytes))
	e.printf("  redo       %s\n", formatBytes(s.RedoBytes))
	if s.BinlogFile != "" {
		e.printf("  binlog     %s:%d (%s copied)\n", s.BinlogFile, s.BinlogPos, formatBytes(s.BinlogBytes))
	}
	e.printf("  files      %d other files\n", s.Files)
	e.printf("  LSN range  checkpoint %d .. end %d\n", s.CheckpointLSN, s.EndLSN)
	if s.GTIDExecuted != "" {
		e.printf("  GTID set   %s\n", oneLine(s.GTIDExecuted))
	}
	e.printf("  stored     %s (zstd)\n", formatBytes(uint64(s.StoredBytes)))
	e.printf("  duration   %s\n", formatDuration(took))
}
