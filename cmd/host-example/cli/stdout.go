package cli

// backup --stdout: one backup written to stdout as a self-describing stream (package
// pgstream), for a pipe, a file or another backup tool such as restic; its incrementals build
// on the last stream the state file (statefile.go) remembers. runBackup dispatches here.

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// backupStdoutHelp is the part of backup's help about --stdout.
const backupStdoutHelp = `With --stdout:
  host-example backup --stdout -c CONFIG [--full] [--source NAME] [--plugin PATH] [--progress]

Writes the backup to stdout as one self-describing stream instead of storing it in a
repository (docs/stream-format.md): the snapshot's metadata, every record with a CRC-32C, and
an end frame with a SHA-256 of the whole stream. Nothing else goes to stdout; logs go to
stderr. The exit status is 0 only when the whole stream was written and checked, so a tool
that runs host-example and keeps its output (restic backup --stdin-from-command) records
nothing otherwise. Stdout must not be a terminal.

Without --full the stream is an incremental on the last stream of the same source that
backup --stdout wrote, which the state file remembers (state_file = "…" in CONFIG, required
for incrementals; it is updated only once a stream was written completely). Restore with
restore --from, giving the full stream and then each incremental, in order.

      --stdout         write the stream to stdout
      --progress       show the progress bar on a terminal even with --stdout (off by
                       default there: restic draws its own)

Example (restic 0.17 or newer; state_file = "/var/lib/pagetrack/state.json" in backup.hcl):
  restic backup --stdin-filename mysql-full.pgt --stdin-from-command -- \
      host-example backup --stdout -c /etc/pagetrack/backup.hcl --full
  restic backup --stdin-filename mysql-inc.pgt --stdin-from-command -- \
      host-example backup --stdout -c /etc/pagetrack/backup.hcl
  host-example backup --stdout -c /etc/pagetrack/backup.hcl --full > mysql-full.pgt

`

// stdoutFlags are the flags backup --stdout adds to backup.
type stdoutFlags struct {
	stdout   bool
	progress bool
}

// addStdoutFlags registers --stdout and --progress on backup's flag set.
func addStdoutFlags(fs *flag.FlagSet) *stdoutFlags {
	f := &stdoutFlags{}
	boolFlag(fs, &f.stdout, "stdout")
	boolFlag(fs, &f.progress, "progress")
	return f
}

// requested reports whether backup must go to backupToStdout.
func (f *stdoutFlags) requested() bool { return f.stdout || f.progress }

// backupToStdout is `backup --stdout`: one backup of a source, written to stdout as a
// pgstream stream, then recorded in the state file.
func (e *env) backupToStdout(ctx context.Context, so *stdoutFlags, cfgPath, sourceName, pluginPath, repoFlag string, full, asJSON bool) error {
	switch {
	case !so.stdout:
		return usageErrorf("--progress goes with --stdout (a backup into a repository shows its progress on a terminal anyway)")
	case repoFlag != "":
		return usageErrorf("--stdout writes the backup to stdout, not into a repository: drop -r")
	case asJSON:
		return usageErrorf("--stdout and --json exclude each other: stdout carries the stream (its summary is logged on stderr)")
	case isTerminal(e.stdout):
		return usageErrorf("refusing to write a binary backup stream to a terminal: redirect stdout to a file, or let restic run the command")
	}
	cf, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	block, err := cf.Source(sourceName)
	if err != nil {
		return err
	}
	var state *streamState
	switch {
	case cf.StateFile != "":
		unlock, err := lockStateFile(cf.StateFile)
		if err != nil {
			return err
		}
		defer unlock()
		if state, err = readStateFile(cf.StateFile); err != nil {
			return err
		}
	case !full:
		return fmt.Errorf("an incremental backup --stdout builds on the last stream the state file remembers, and %s names none: add state_file = \"/var/lib/pagetrack/state.json\" (any path) to it, or pass --full", cf.Path)
	default:
		e.log().Info(fmt.Sprintf("%s names no state_file: no later backup --stdout can be an incremental on this one", cf.Path))
	}
	var base *stateEntry
	if !full {
		base = e.pickStreamBase(state, cf.StateFile, block)
	}
	ref, src, schema, cfg, stop, err := e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return err
	}

	started := time.Now()
	meta := &pgstream.Meta{
		ID: repo.NewID(), Time: started.UTC(), Host: "host-example",
		Source: block.Name, SourceType: block.Type, Kind: repo.KindFull,
		Config: publicConfig(schema, cfg),
	}
	if base != nil {
		meta.Kind, meta.Parent, meta.ParentSHA256 = repo.KindIncremental, base.ID, base.StreamSHA256
		e.log().Info("incremental backup to stdout starting", "source", block.Name, "type", block.Type, "id", meta.ID, "base", base.ID)
	} else {
		e.log().Info("full backup to stdout starting", "source", block.Name, "type", block.Type, "id", meta.ID)
	}
	end, header, trailer, err := e.writeStream(ctx, ref, src, cfg, base, meta, so.progress)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: the stream of %q on stdout is incomplete; nothing was recorded", block.Name)
		}
		return fmt.Errorf("backup of %q to stdout failed; the stream on stdout is incomplete and nothing was recorded: %w", block.Name, err)
	}
	if state != nil {
		checkpoint := trailer.CheckpointLSN
		if checkpoint == 0 {
			checkpoint = header.CheckpointLSN
		}
		state.Sources[block.Name] = &stateEntry{
			SourceType: block.Type, ID: meta.ID, Kind: meta.Kind, Parent: meta.Parent, Time: meta.Time,
			StreamSHA256: end.Hex(), StreamDigest: hex.EncodeToString(trailer.Digest),
			CheckpointLSN: checkpoint, EndLSN: trailer.EndLSN, GTIDExecuted: trailer.GTIDExecuted,
			SourceState: trailer.SourceState,
		}
		if err := writeStateFile(cf.StateFile, state); err != nil {
			return fmt.Errorf("stream %s was written, but the state file could not be updated, so it must not be kept (the next incremental would not build on it): %w", meta.ID, err)
		}
	}
	e.log().Info("stream written", "id", meta.ID, "kind", meta.Kind, "records", end.Records, "bytes", end.Bytes,
		"sha256", end.Hex(), "end_lsn", trailer.EndLSN, "gtid_executed", oneLine(trailer.GTIDExecuted),
		"duration", time.Since(started).Round(time.Millisecond))
	return nil
}

// writeStream runs the backup and writes its stream to stdout, checking it exactly as a
// backup into a repository is checked (storeStream, checkKind). Stdout is closed at the end.
func (e *env) writeStream(ctx context.Context, ref PluginRef, src shared.Source, cfg shared.Config, base *stateEntry, meta *pgstream.Meta, progress bool) (*pgstream.End, *shared.Header, *shared.Trailer, error) {
	// Cancelling bctx ends the plugin's call when we stop reading early.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if e.stdout == io.Writer(os.Stdout) {
		// A reader that goes away (restic failed) must fail the write with EPIPE, so that the
		// plugin is stopped and the error reported, not end the process with SIGPIPE.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGPIPE)
		defer signal.Stop(sig)
	}
	pw, err := pgstream.NewWriter(e.stdout, meta)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the stream to stdout: %w", err)
	}
	req := &shared.BackupRequest{Config: cfg}
	var baseSnap *repo.Snapshot
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base.SourceState}
		baseSnap = &repo.Snapshot{ID: base.ID, CheckpointLSN: base.CheckpointLSN}
	}
	stream, err := src.Backup(bctx, req)
	if err != nil {
		return nil, nil, nil, pluginError(ref, err)
	}
	sink := &streamSink{w: pw, id: meta.ID}
	prog := newProgressLine(e.stderr, progress && e.terminal())
	header, trailer, err := storeStream(bctx, stream, sink, prog.update)
	prog.done()
	if err != nil {
		if errors.Is(err, shared.ErrNoTrailer) {
			return nil, nil, nil, fmt.Errorf("the plugin's %w (see the plugin's log lines above)", err)
		}
		return nil, nil, nil, pluginError(ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if err := checkKind(trailer, baseSnap); err != nil {
		return nil, nil, nil, err
	}
	end, err := pw.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the stream to stdout: %w", err)
	}
	if err := closeOutput(e.stdout); err != nil {
		return nil, nil, nil, err
	}
	return end, header, trailer, nil
}

// streamSink is the repo.StreamWriter storeStream writes into for backup --stdout: each
// record goes to the pgstream writer (storeStream has checked it with the stream kernel).
type streamSink struct {
	w  *pgstream.Writer
	id string
}

var _ repo.StreamWriter = (*streamSink)(nil)

func (s *streamSink) ID() string { return s.id }

func (s *streamSink) Append(rec *shared.Record) error {
	if rec.Progress != nil {
		return nil
	}
	if err := s.w.WriteRecord(rec); err != nil {
		return fmt.Errorf("writing the stream to stdout: %w", err)
	}
	return nil
}

func (s *streamSink) Commit(*repo.Snapshot) error {
	return errors.New("a stream written to stdout is not committed to a repository")
}

func (s *streamSink) Abort() error { return nil }

// closeOutput syncs w when it is a file (stdout redirected to one) and closes it, so that its
// reader sees the end of the stream before the state file moves on.
func closeOutput(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	// Pipes, terminals and /dev/null cannot be synced; that is no error.
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing stdout: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing stdout: %w", err)
	}
	return nil
}

// pickStreamBase chooses what backup --stdout without --full builds on: the state file's
// last stream of the source. It returns nil, saying so, when there is none to build on.
func (e *env) pickStreamBase(st *streamState, path string, block *config.Source) *stateEntry {
	b := st.Sources[block.Name]
	switch {
	case b == nil:
		e.log().Info(fmt.Sprintf("taking a full backup: state file %s holds no stream of source %q to build an incremental on", path, block.Name))
		return nil
	case b.SourceType != block.Type:
		e.log().Info(fmt.Sprintf("taking a full backup: the last stream of source %q in %s, %s, is of type %q, not %q", block.Name, path, b.ID, b.SourceType, block.Type))
		return nil
	case len(b.SourceState) == 0:
		e.log().Info(fmt.Sprintf("taking a full backup: the last stream of source %q in %s, %s, holds no source state to build an incremental on", block.Name, path, b.ID))
		return nil
	}
	return b
}
